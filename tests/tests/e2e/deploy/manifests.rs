//! Reading the deploy files: YAML documents, kustomized output, images, the keys a pod mounts.

use anyhow::{ensure, Context, Result};
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace version: the tag every NetRaven image is referenced by.
pub(super) const VERSION: &str = env!("CARGO_PKG_VERSION");
pub(super) const ROLES: [&str; 4] = ["dispatcher", "worker", "aggregator", "api"];

pub(super) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(super) fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(repo().join(path)).with_context(|| format!("cannot read {path}"))
}

pub(super) fn docs(text: &str, what: &str) -> Result<Vec<Value>> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).with_context(|| format!("{what} is not YAML")))
        .filter(|d| !matches!(d, Ok(Value::Null)))
        .collect()
}

pub(super) fn seq(v: &Value) -> Vec<Value> {
    v.as_sequence().cloned().unwrap_or_default()
}

pub(super) fn string(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The base as `kubectl apply -k` would send it.
pub(super) fn kustomized() -> Result<Vec<Value>> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(repo().join("deploy/k8s/base"))
        .output()
        .context(
            "cannot run kubectl: install it (https://kubernetes.io/docs/tasks/tools/; \
             `kubectl kustomize` works offline)",
        )?;
    ensure!(
        out.status.success(),
        "kubectl kustomize deploy/k8s/base: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    docs(&String::from_utf8(out.stdout)?, "kubectl kustomize output")
}

/// `name:tag`, tagged, not `latest`; NetRaven's own image at the workspace version.
pub(super) fn check_image(context: &str, image: &str) -> Result<()> {
    let (name, tag) = image
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .with_context(|| format!("{context}: image {image} has no tag"))?;
    ensure!(
        tag != "latest" && !tag.is_empty(),
        "{context}: image {image} is not pinned"
    );
    if name.rsplit('/').next() == Some("netraven") {
        ensure!(
            tag == VERSION,
            "{context}: {image} is not the workspace version {VERSION}"
        );
    }
    Ok(())
}

/// Every container of a pod spec, init containers first.
pub(super) fn containers(pod: &Value) -> Vec<Value> {
    let mut all = seq(&pod["initContainers"]);
    all.extend(seq(&pod["containers"]));
    all
}

/// The Secrets and ConfigMaps a pod spec reads (env and volumes), and what it mounts where.
pub(super) fn references(
    pod: &Value,
) -> (BTreeSet<String>, BTreeSet<String>, BTreeMap<String, String>) {
    let (mut secrets, mut maps, mut mounts) = (BTreeSet::new(), BTreeSet::new(), BTreeMap::new());
    let mut volumes = BTreeMap::new();
    for v in seq(&pod["volumes"]) {
        let name = string(&v["name"]).to_string();
        if let Some(s) = v["secret"]["secretName"].as_str() {
            secrets.insert(s.to_string());
            volumes.insert(name, format!("secret/{s}"));
        } else if let Some(m) = v["configMap"]["name"].as_str() {
            maps.insert(m.to_string());
            volumes.insert(name, format!("configmap/{m}"));
        }
    }
    for c in containers(pod) {
        for e in seq(&c["env"]) {
            if let Some(s) = e["valueFrom"]["secretKeyRef"]["name"].as_str() {
                secrets.insert(s.to_string());
            }
        }
        for e in seq(&c["envFrom"]) {
            if let Some(s) = e["secretRef"]["name"].as_str() {
                secrets.insert(s.to_string());
            }
        }
        for m in seq(&c["volumeMounts"]) {
            let source = volumes.get(string(&m["name"])).cloned().unwrap_or_default();
            mounts.insert(string(&m["mountPath"]).to_string(), source);
        }
    }
    (secrets, maps, mounts)
}
