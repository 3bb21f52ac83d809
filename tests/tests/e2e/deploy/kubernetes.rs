//! The Kubernetes base: locked-down pods, no Secret of its own, a NetworkPolicy, keys only
//! where a role needs them, pinned images, KEDA owning the worker count, migrations first.

use super::manifests::{check_image, containers, kustomized, read, references, seq, string, ROLES};
use anyhow::{bail, ensure, Context, Result};
use netraven_shared::config::mask_url;
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};

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
            .eq(["aggregator", "api", "dispatcher", "worker"]),
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
            "api" => {
                ensure!(
                    signing.is_none() && trusted.is_none(),
                    "api mounts keys it does not use: {signing:?} {trusted:?}"
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
            "api" => &[],
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
        // Prometheus scrapes every role's metrics port; the api's http port (REST and the
        // console) also takes the ingress controller's traffic, and nothing else does.
        let ingress_ns = (role == "api").then_some("ingress-nginx");
        let prometheus = |f: &Value| {
            string(&f["podSelector"]["matchLabels"]["app.kubernetes.io/name"]) == "prometheus"
        };
        let controller = |f: &Value| {
            f["podSelector"].is_null()
                && ingress_ns.is_some_and(|ns| {
                    string(&f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
                        == ns
                })
        };
        let mut scraped = false;
        for rule in &ingress {
            let from = seq(&rule["from"]);
            let to = |port: &str| {
                seq(&rule["ports"])
                    .iter()
                    .all(|p| string(&p["port"]) == port)
            };
            let scrape = from.iter().all(prometheus) && to("metrics");
            let clients = from.iter().all(controller) && to("http");
            ensure!(
                scrape || clients,
                "{role}: ingress beyond Prometheus to metrics (and the ingress controller to \
                 http): {rule:?}"
            );
            scraped |= scrape;
        }
        ensure!(scraped, "{role}: Prometheus cannot scrape it");
    }
    Ok(())
}
