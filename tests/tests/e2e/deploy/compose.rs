//! Compose: loopback-only ports, no literal password, no anonymous Grafana.

use super::manifests::{check_image, docs, read, seq, string, VERSION};
use anyhow::{ensure, Context, Result};
use netraven_shared::config::mask_url;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;

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
        if matches!(role, "dispatcher" | "aggregator" | "worker" | "api") {
            checked += 1;
            ensure!(
                svc["read_only"].as_bool() == Some(true)
                    && seq(&svc["cap_drop"]).iter().any(|c| string(c) == "ALL"),
                "compose {name}: writable root or capabilities kept"
            );
        }
    }
    ensure!(checked == 6, "compose: {checked} role services, want 6");
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
