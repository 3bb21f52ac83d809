//! The deploy files are safe by default: the Kubernetes base as `kubectl kustomize` builds
//! it (locked-down pods, no Secret of its own, a NetworkPolicy, keys only where a role
//! needs them, pinned images, KEDA owning the worker count, migrations before the roles),
//! compose (loopback-only ports, no literal password, no anonymous Grafana), the systemd
//! units (`systemd-analyze verify`), and concurrent `netraven migrate` runs against a real
//! Postgres, as every pod's migration init container does.

use anyhow::{bail, ensure, Context, Result};
use netraven_shared::config::mask_url;
use netraven_shared::db;
use netraven_tests::{netraven_binary, DB_PREFIX, POSTGRES};
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace version: the tag every NetRaven image is referenced by.
const VERSION: &str = env!("CARGO_PKG_VERSION");
const ROLES: [&str; 3] = ["dispatcher", "worker", "aggregator"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(repo().join(path)).with_context(|| format!("cannot read {path}"))
}

fn docs(text: &str, what: &str) -> Result<Vec<Value>> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).with_context(|| format!("{what} is not YAML")))
        .filter(|d| !matches!(d, Ok(Value::Null)))
        .collect()
}

fn seq(v: &Value) -> Vec<Value> {
    v.as_sequence().cloned().unwrap_or_default()
}

fn string(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The base as `kubectl apply -k` would send it.
fn kustomized() -> Result<Vec<Value>> {
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
fn check_image(context: &str, image: &str) -> Result<()> {
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
fn containers(pod: &Value) -> Vec<Value> {
    let mut all = seq(&pod["initContainers"]);
    all.extend(seq(&pod["containers"]));
    all
}

/// The Secrets and ConfigMaps a pod spec reads (env and volumes), and what it mounts where.
fn references(pod: &Value) -> (BTreeSet<String>, BTreeSet<String>, BTreeMap<String, String>) {
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

#[test]
fn the_kubernetes_base_runs_locked_down_pods_on_operator_made_secrets() -> Result<()> {
    let objects = kustomized()?;
    let kustomization = read("deploy/k8s/base/kustomization.yaml")?;
    ensure!(
        !kustomization.contains("secretGenerator"),
        "the base generates a Secret: `kubectl apply -k` would overwrite the operator's"
    );
    let mut deployments = BTreeMap::new();
    let mut policies = Vec::new();
    for o in &objects {
        let kind = string(&o["kind"]);
        let name = string(&o["metadata"]["name"]).to_string();
        match kind {
            "Secret" => bail!("the base ships Secret {name}: the operator creates Secrets"),
            "ConfigMap" => {
                for (k, v) in o["data"].as_mapping().into_iter().flatten() {
                    let (k, v) = (string(k), string(v));
                    ensure!(
                        !["PASSWORD", "URL", "KEY="].iter().any(|w| k.contains(w))
                            && mask_url(v) == v,
                        "ConfigMap {name} carries a connection string or secret: {k}"
                    );
                }
            }
            "NetworkPolicy" => policies.push(o.clone()),
            _ => {}
        }
        let pod = match kind {
            "Deployment" | "StatefulSet" | "DaemonSet" | "Job" => &o["spec"]["template"]["spec"],
            "CronJob" => &o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        let ctx = format!("{kind} {name}");
        ensure!(
            pod["automountServiceAccountToken"].as_bool() == Some(false),
            "{ctx}: automountServiceAccountToken is not false"
        );
        let sc = &pod["securityContext"];
        ensure!(
            sc["runAsNonRoot"].as_bool() == Some(true),
            "{ctx}: not runAsNonRoot"
        );
        ensure!(
            sc["runAsUser"].as_u64().is_some_and(|u| u > 0),
            "{ctx}: no non-root runAsUser"
        );
        ensure!(
            string(&sc["seccompProfile"]["type"]) == "RuntimeDefault",
            "{ctx}: seccompProfile is not RuntimeDefault"
        );
        ensure!(
            pod["hostNetwork"].as_bool() != Some(true) && pod["hostPID"].as_bool() != Some(true),
            "{ctx}: shares the host's namespaces"
        );
        for c in containers(pod) {
            let cctx = format!("{ctx} container {}", string(&c["name"]));
            let csc = &c["securityContext"];
            ensure!(
                csc["allowPrivilegeEscalation"].as_bool() == Some(false),
                "{cctx}: allowPrivilegeEscalation is not false"
            );
            ensure!(
                csc["readOnlyRootFilesystem"].as_bool() == Some(true),
                "{cctx}: root filesystem is writable"
            );
            ensure!(
                csc["privileged"].as_bool() != Some(true),
                "{cctx}: privileged"
            );
            ensure!(
                seq(&csc["capabilities"]["drop"])
                    .iter()
                    .any(|c| string(c) == "ALL"),
                "{cctx}: capabilities not dropped"
            );
            ensure!(
                seq(&csc["capabilities"]["add"]).is_empty(),
                "{cctx}: adds capabilities"
            );
            check_image(&cctx, string(&c["image"]))?;
            // Connection strings only from Secrets, never literal.
            for e in seq(&c["env"]) {
                let n = string(&e["name"]);
                if n.ends_with("__URL") || n.contains("PASSWORD") {
                    ensure!(
                        e["value"].is_null() && !e["valueFrom"]["secretKeyRef"].is_null(),
                        "{cctx}: {n} is not read from a Secret"
                    );
                }
            }
        }
        if kind == "Deployment" {
            let role =
                string(&o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])
                    .to_string();
            deployments.insert(role, o.clone());
        }
    }
    ensure!(
        deployments
            .keys()
            .map(String::as_str)
            .eq(["aggregator", "dispatcher", "worker"]),
        "the base's Deployments: {:?}",
        deployments.keys()
    );

    for role in ROLES {
        let d = &deployments[role];
        let pod = &d["spec"]["template"]["spec"];
        // Migrations before the role, in every pod: `kubectl apply -k` alone rolls out safely.
        let init = seq(&pod["initContainers"]);
        ensure!(
            init.iter()
                .any(|c| seq(&c["args"]).iter().map(string).eq(["migrate"])),
            "{role}: no init container runs `netraven migrate`"
        );
        let (secrets, maps, mounts) = references(pod);
        let sealing = mounts.get("/etc/netraven/key").cloned();
        let signing = mounts.get("/etc/netraven/signing").cloned();
        let trusted = mounts.get("/etc/netraven/trusted").cloned();
        let amqp = format!("netraven-{role}-amqp");
        ensure!(
            secrets.contains("netraven-database") && secrets.contains(&amqp),
            "{role}: URLs not from netraven-database and {amqp}: {secrets:?}"
        );
        for other in ROLES.iter().filter(|r| **r != role) {
            ensure!(
                !secrets.contains(&format!("netraven-{other}-amqp"))
                    && !secrets.contains(&format!("netraven-{other}-signing")),
                "{role} reads the {other}'s credentials: {secrets:?}"
            );
        }
        match role {
            "worker" => {
                ensure!(
                    d["spec"]["replicas"].is_null(),
                    "worker: replicas is set; KEDA owns it"
                );
                ensure!(
                    sealing.as_deref() == Some("secret/netraven-key"),
                    "worker: sealing key {sealing:?}"
                );
                ensure!(
                    signing.as_deref() == Some("secret/netraven-worker-signing"),
                    "worker: signing {signing:?}"
                );
                ensure!(
                    trusted.as_deref() == Some("configmap/netraven-trusted-keys"),
                    "worker: trusted {trusted:?}"
                );
            }
            "dispatcher" => {
                ensure!(
                    signing.as_deref() == Some("secret/netraven-dispatcher-signing"),
                    "dispatcher: signing {signing:?}"
                );
                ensure!(
                    trusted.is_none(),
                    "dispatcher mounts trusted keys it does not use"
                );
            }
            _ => {
                ensure!(signing.is_none(), "aggregator mounts a private signing key");
                ensure!(
                    trusted.as_deref() == Some("configmap/netraven-trusted-keys"),
                    "aggregator: trusted {trusted:?}"
                );
            }
        }
        if role != "worker" {
            ensure!(
                !secrets.contains("netraven-key") && sealing.is_none(),
                "{role} mounts the sealing key ring; only workers open secrets"
            );
        }
        ensure!(
            maps.iter().all(|m| m.starts_with("netraven-")),
            "{role}: {maps:?}"
        );
        // Secret files readable by the non-root user through its group, by nobody else.
        let group = pod["securityContext"]["runAsGroup"].as_u64();
        ensure!(
            group.is_some() && pod["securityContext"]["fsGroup"].as_u64() == group,
            "{role}: fsGroup is not the role's group: mounted keys are unreadable"
        );
        for v in seq(&pod["volumes"]) {
            if !v["secret"].is_null() {
                let mode = v["secret"]["defaultMode"].as_u64();
                ensure!(
                    mode == Some(0o440),
                    "{role}: Secret volume {} has mode {mode:?}, not 0440",
                    string(&v["name"])
                );
            }
        }
        let env: BTreeMap<String, String> = seq(&pod["containers"][0]["env"])
            .iter()
            .filter_map(|e| {
                Some((
                    string(&e["name"]).to_string(),
                    e["value"].as_str()?.to_string(),
                ))
            })
            .collect();
        let want: &[(&str, &str)] = match role {
            "worker" => &[
                (
                    "NETRAVEN__SECRETS__KEY_FILE",
                    "/etc/netraven/key/secret.key",
                ),
                (
                    "NETRAVEN__SIGNING__KEY_FILE",
                    "/etc/netraven/signing/signing.key",
                ),
                (
                    "NETRAVEN__SIGNING__TRUSTED_KEYS_FILE",
                    "/etc/netraven/trusted/trusted.pub",
                ),
            ],
            "dispatcher" => &[(
                "NETRAVEN__SIGNING__KEY_FILE",
                "/etc/netraven/signing/signing.key",
            )],
            _ => &[(
                "NETRAVEN__SIGNING__TRUSTED_KEYS_FILE",
                "/etc/netraven/trusted/trusted.pub",
            )],
        };
        for (k, v) in want {
            ensure!(
                env.get(*k).map(String::as_str) == Some(*v),
                "{role}: {k} is {:?}",
                env.get(*k)
            );
        }
    }

    // KEDA reads the queue with the worker's account, from the worker's Secret.
    let auth = objects
        .iter()
        .find(|o| string(&o["kind"]) == "TriggerAuthentication")
        .context("no TriggerAuthentication")?;
    ensure!(
        seq(&auth["spec"]["secretTargetRef"])
            .iter()
            .all(|r| string(&r["name"]) == "netraven-worker-amqp"),
        "KEDA reads {:?}",
        auth["spec"]["secretTargetRef"]
    );

    check_network_policies(&policies)
}

/// What the NetworkPolicies admit for a pod of `role`: (ingress rules, egress ports).
fn admitted(policies: &[Value], role: &str) -> (Vec<Value>, BTreeSet<String>, bool) {
    let (mut ingress, mut egress, mut isolated) = (Vec::new(), BTreeSet::new(), false);
    for p in policies {
        let sel = &p["spec"]["podSelector"];
        let by_label = string(&sel["matchLabels"]["app.kubernetes.io/component"]) == role;
        let by_expr = seq(&sel["matchExpressions"]).iter().any(|e| {
            string(&e["key"]) == "app.kubernetes.io/component"
                && string(&e["operator"]) == "In"
                && seq(&e["values"]).iter().any(|v| string(v) == role)
        });
        if !(by_label || by_expr) {
            continue;
        }
        let types: Vec<String> = seq(&p["spec"]["policyTypes"])
            .iter()
            .map(|t| string(t).to_string())
            .collect();
        isolated |= types.iter().any(|t| t == "Ingress") && types.iter().any(|t| t == "Egress");
        ingress.extend(seq(&p["spec"]["ingress"]));
        for rule in seq(&p["spec"]["egress"]) {
            for port in seq(&rule["ports"]) {
                let n = match &port["port"] {
                    Value::Number(n) => n.to_string(),
                    other => string(other).to_string(),
                };
                egress.insert(format!("{}/{n}", string(&port["protocol"])));
            }
        }
    }
    (ingress, egress, isolated)
}

fn check_network_policies(policies: &[Value]) -> Result<()> {
    ensure!(!policies.is_empty(), "the base has no NetworkPolicy");
    for p in policies {
        let name = string(&p["metadata"]["name"]);
        for rule in seq(&p["spec"]["egress"]) {
            ensure!(
                !seq(&rule["ports"]).is_empty(),
                "NetworkPolicy {name} admits egress on every port"
            );
        }
        for rule in seq(&p["spec"]["ingress"]) {
            ensure!(
                !seq(&rule["from"]).is_empty() && !seq(&rule["ports"]).is_empty(),
                "NetworkPolicy {name} admits ingress from anywhere or to any port"
            );
        }
    }
    let base: BTreeSet<String> = ["TCP/5432", "TCP/5672", "TCP/5671", "UDP/53", "TCP/53"]
        .map(String::from)
        .into();
    for role in ROLES {
        let (ingress, egress, isolated) = admitted(policies, role);
        ensure!(isolated, "{role}: no policy isolates both directions");
        let mut want = base.clone();
        if role == "worker" {
            want.insert("TCP/22".into());
        }
        ensure!(egress == want, "{role} may reach {egress:?}, want {want:?}");
        for rule in &ingress {
            ensure!(
                seq(&rule["from"]).iter().all(|f| {
                    string(&f["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
                        == "prometheus"
                }) && seq(&rule["ports"])
                    .iter()
                    .all(|p| string(&p["port"]) == "metrics"),
                "{role}: ingress beyond Prometheus to metrics: {rule:?}"
            );
        }
        ensure!(!ingress.is_empty(), "{role}: Prometheus cannot scrape it");
    }
    Ok(())
}

/// `${VAR:?message}`: compose refuses to start while VAR is unset or empty.
fn required_variable(v: &str) -> bool {
    v.starts_with("${") && v.contains(":?") && v.ends_with('}')
}

#[test]
fn compose_publishes_on_loopback_only_and_ships_no_password() -> Result<()> {
    let mut compose = docs(&read("deploy/compose.yaml")?, "deploy/compose.yaml")?.remove(0);
    compose.apply_merge()?;
    let services = compose["services"].as_mapping().context("no services")?;
    let netraven_image = format!("netraven:{VERSION}");
    let mut checked = 0;
    for (name, svc) in services {
        let name = string(name);
        check_image(&format!("compose {name}"), string(&svc["image"]))?;
        for p in seq(&svc["ports"]) {
            let p = match &p {
                Value::String(s) => s.clone(),
                other => format!(
                    "{}:{}",
                    string(&other["host_ip"]),
                    other["published"].as_u64().unwrap_or(0)
                ),
            };
            ensure!(
                p.starts_with("127.0.0.1:"),
                "compose {name} publishes {p} beyond this host"
            );
        }
        for (k, v) in svc["environment"].as_mapping().into_iter().flatten() {
            let (k, v) = (string(k), string(v));
            // (`…_FILE` settings name a path, not the secret.)
            if ["PASS", "SECRET", "TOKEN"].iter().any(|w| k.contains(w)) && !k.ends_with("_FILE") {
                ensure!(
                    required_variable(v),
                    "compose {name}: {k} is not a required variable but {v:?}"
                );
            }
            if v.contains("://") {
                let masked = mask_url(v);
                if masked != v {
                    // The URL's password: nothing but a required variable.
                    let scheme_end = v.find("://").unwrap_or(0) + 3;
                    let colon = v[scheme_end..].find(':').unwrap_or(0) + scheme_end + 1;
                    let at = v.rfind('@').unwrap_or(v.len());
                    ensure!(
                        required_variable(&v[colon..at]),
                        "compose {name}: {k} has a literal password"
                    );
                }
            }
        }
        let env = &svc["environment"];
        let secrets: BTreeMap<String, String> = seq(&svc["secrets"])
            .iter()
            .map(|s| {
                (
                    string(&s["target"]).to_string(),
                    string(&s["source"]).to_string(),
                )
            })
            .collect();
        let keys_volume = seq(&svc["volumes"])
            .iter()
            .any(|v| string(v).starts_with("keys:"));
        if svc["image"].as_str() != Some(netraven_image.as_str()) {
            continue;
        }
        let command = seq(&svc["command"]);
        let role = command.first().map(string).unwrap_or_default();
        match role {
            "dispatcher" => {
                ensure!(
                    !keys_volume && env["NETRAVEN__SECRETS__KEY_FILE"].is_null(),
                    "compose dispatcher holds the sealing key"
                );
                ensure!(
                    secrets
                        .get("/etc/netraven/signing/signing.key")
                        .map(String::as_str)
                        == Some("dispatcher-signing")
                        && secrets.len() == 1,
                    "compose dispatcher: {secrets:?}"
                );
            }
            "aggregator" => {
                ensure!(
                    !keys_volume && env["NETRAVEN__SECRETS__KEY_FILE"].is_null(),
                    "compose aggregator holds the sealing key"
                );
                ensure!(
                    secrets
                        .get("/etc/netraven/trusted/trusted.pub")
                        .map(String::as_str)
                        == Some("trusted-keys")
                        && secrets.len() == 1,
                    "compose aggregator: {secrets:?}"
                );
            }
            "worker" => {
                ensure!(keys_volume, "compose {name} has no sealing key");
                ensure!(
                    secrets
                        .get("/etc/netraven/signing/signing.key")
                        .map(String::as_str)
                        == Some("worker-signing")
                        && secrets
                            .get("/etc/netraven/trusted/trusted.pub")
                            .map(String::as_str)
                            == Some("trusted-keys"),
                    "compose {name}: {secrets:?}"
                );
            }
            _ => {}
        }
        if matches!(role, "dispatcher" | "aggregator" | "worker") {
            checked += 1;
            ensure!(
                svc["read_only"].as_bool() == Some(true)
                    && seq(&svc["cap_drop"]).iter().any(|c| string(c) == "ALL"),
                "compose {name}: writable root or capabilities kept"
            );
        }
    }
    ensure!(checked == 5, "compose: {checked} role services, want 5");
    let grafana = &services["grafana"]["environment"];
    ensure!(
        string(&grafana["GF_AUTH_ANONYMOUS_ENABLED"]) == "false",
        "Grafana is anonymous"
    );
    ensure!(
        required_variable(string(&grafana["GF_SECURITY_ADMIN_PASSWORD"])),
        "Grafana's admin password is not a required variable"
    );
    for s in ["rabbitmq", "prometheus", "grafana"] {
        ensure!(
            !seq(&services[s]["ports"]).is_empty(),
            "compose {s} is not published (on 127.0.0.1) at all"
        );
    }
    Ok(())
}

/// A unit's `Key=` values, in order.
fn directives(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_systemd_units_verify_and_keep_each_key_to_its_role() -> Result<()> {
    let units = [
        ("netraven-dispatcher.service", "dispatcher"),
        ("netraven-aggregator.service", "aggregator"),
        ("netraven-worker@.service", "worker"),
    ];
    let bin = netraven_binary()?;
    let dir = tempfile::tempdir()?;
    for (unit, role) in units {
        let text = read(&format!("deploy/systemd/{unit}"))?;
        let env = directives(&text, "Environment").join("\n");
        let inaccessible = directives(&text, "InaccessiblePaths").join(" ");
        let files = directives(&text, "EnvironmentFile");
        ensure!(
            files
                .iter()
                .any(|f| f == &format!("/etc/netraven/{role}.env")),
            "{unit}: no EnvironmentFile of its own (its URLs): {files:?}"
        );
        for d in [
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "CapabilityBoundingSet=",
            "SystemCallFilter=@system-service",
        ] {
            ensure!(text.lines().any(|l| l == d), "{unit}: no {d}");
        }
        let key = "NETRAVEN__SECRETS__KEY_FILE=/etc/netraven/key/secret.key";
        let signing = format!("NETRAVEN__SIGNING__KEY_FILE=/etc/netraven/{role}/signing.key");
        let trusted = "NETRAVEN__SIGNING__TRUSTED_KEYS_FILE=/etc/netraven/trusted/trusted.pub";
        let (has, lacks): (Vec<&str>, Vec<&str>) = match role {
            "worker" => (
                vec![key, &signing, trusted],
                vec!["/etc/netraven/dispatcher"],
            ),
            "dispatcher" => (
                vec![&signing],
                vec!["/etc/netraven/key", "/etc/netraven/worker"],
            ),
            _ => (
                vec![trusted],
                vec![
                    "/etc/netraven/key",
                    "/etc/netraven/dispatcher",
                    "/etc/netraven/worker",
                ],
            ),
        };
        for h in has {
            ensure!(env.contains(h), "{unit}: no Environment={h}");
        }
        for l in lacks {
            ensure!(
                inaccessible
                    .split_whitespace()
                    .any(|p| p.trim_start_matches('-') == l),
                "{unit}: {l} is not in InaccessiblePaths"
            );
        }
        if role != "worker" {
            ensure!(
                !env.contains("SECRETS__KEY"),
                "{unit} names the sealing key"
            );
        }
        // For systemd-analyze: the same unit, running this build's binary.
        let text = text.replace("/usr/local/bin/netraven", &bin.display().to_string());
        std::fs::write(dir.path().join(unit), text)?;
    }

    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        // No systemd on this machine: the parsing above is the whole check.
        eprintln!("systemd-analyze is not installed: the units were parsed, not verified");
        return Ok(());
    };
    ensure!(out.status.success(), "systemd-analyze --version failed");
    for (unit, _) in units {
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(dir.path().join(unit))
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // verify reports unknown keys and bad values on stderr and still exits 0.
        ensure!(
            out.status.success() && stderr.trim().is_empty(),
            "systemd-analyze verify {unit}: {stderr}"
        );
    }
    Ok(())
}

/// A database of this test's own, dropped when the test ends however it ends.
struct Database {
    name: String,
}

impl Database {
    fn url(&self) -> String {
        format!("{}/{}", postgres(), self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        })
        .join();
    }
}

fn postgres() -> String {
    std::env::var("NETRAVEN_TEST_POSTGRES").unwrap_or_else(|_| POSTGRES.to_string())
}

fn admin(sql: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let url = format!("{}/postgres", postgres());
        let client = db::connect(&url).await.with_context(|| {
            format!(
                "cannot reach Postgres at {url}: start it with \
                 `cargo run -p netraven-cli -- services ensure`"
            )
        })?;
        client.batch_execute(sql).await?;
        anyhow::Ok(())
    })
}

fn history(url: &str) -> Result<i64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = db::connect(url).await?;
        let row = client
            .query_one("SELECT count(*) FROM refinery_schema_history", &[])
            .await?;
        anyhow::Ok(row.get::<_, i64>(0))
    })
}

/// Every role's pod runs `netraven migrate` first; a rollout starts many at once.
#[test]
fn concurrent_migrations_apply_each_migration_once_and_all_succeed() -> Result<()> {
    let database = Database {
        name: format!("{DB_PREFIX}deploy_{}", uuid::Uuid::new_v4().simple()),
    };
    admin(&format!("CREATE DATABASE {}", database.name))?;
    let bin = netraven_binary()?;
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut cmd = Command::new(&bin);
            for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NETRAVEN")) {
                cmd.env_remove(k);
            }
            cmd.arg("migrate")
                .env("NETRAVEN__DATABASE__URL", database.url())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    let mut applied = 0;
    for child in children {
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success(),
            "a concurrent `netraven migrate` failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if stdout.starts_with("applied ") {
            applied += 1;
        } else {
            ensure!(stdout.starts_with("schema up to date"), "{stdout}");
        }
    }
    ensure!(
        applied == 1,
        "{applied} runs applied migrations, want exactly 1"
    );
    let rows = history(&database.url())?;
    ensure!(
        rows == db::migration_names().len() as i64,
        "{rows} migrations recorded, the build has {}",
        db::migration_names().len()
    );
    Ok(())
}
