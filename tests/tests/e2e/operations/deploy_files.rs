//! The deploy files parse and every `netraven` command line in them names a real
//! subcommand and real flags.

use super::probes::{read, repo};
use anyhow::{ensure, Context, Result};
use netraven_shared::broker::Names;
use netraven_shared::config::Settings;
use netraven_tests::netraven_binary;
use serde_yaml_ng::Value;
use std::collections::BTreeSet;
use std::process::Command;

/// `netraven <subcommand…> --help` succeeds and knows every `--flag` of `args`.
fn check_command(context: &str, args: &[&str]) -> Result<()> {
    let words: Vec<&str> = args
        .iter()
        .copied()
        .take_while(|a| !a.starts_with('-'))
        .collect();
    let words = &words[..words.len().min(2)];
    ensure!(
        !words.is_empty(),
        "{context}: no netraven subcommand in {args:?}"
    );
    let out = Command::new(netraven_binary()?)
        .args(words)
        .arg("--help")
        .output()?;
    let help = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{context}: `netraven {}` is no subcommand",
        words.join(" ")
    );
    // A group (`secrets`) lists its subcommands: the second word must be one of them.
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let flag = flag.split('=').next().unwrap_or(flag);
        ensure!(
            help.contains(flag),
            "{context}: `netraven {}` has no {flag}",
            words.join(" ")
        );
    }
    Ok(())
}

/// `netraven …` invocations inside a shell command line.
fn in_shell(script: &str) -> Vec<Vec<String>> {
    script
        .split(['|', ';', '&'])
        .filter_map(|part| {
            let part = part.trim().trim_start_matches("exec ").trim();
            let rest = part.strip_prefix("netraven ")?;
            Some(rest.split_whitespace().map(str::to_string).collect())
        })
        .collect()
}

fn yaml_docs(path: &str) -> Result<Vec<Value>> {
    use serde::Deserialize;
    let text = read(path)?;
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).with_context(|| format!("{path} is not YAML")))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_deploy_files_parse_and_name_real_subcommands() -> Result<()> {
    let grace_s = Settings::default().worker.shutdown_grace_ms / 1000;
    let queue = Names::new("netraven").tasks_queue();

    // Compose: every service the issue names; netraven services run real subcommands.
    let mut compose = yaml_docs("deploy/compose.yaml")?.remove(0);
    compose.apply_merge()?; // the services share an x-netraven anchor
    let compose = &compose;
    let services = compose["services"].as_mapping().context("no services")?;
    for s in [
        "postgres",
        "rabbitmq",
        "migrate",
        "dispatcher",
        "aggregator",
        "api",
        "worker-1",
        "worker-2",
        "worker-3",
        "simulator",
        "prometheus",
        "grafana",
    ] {
        assert!(services.contains_key(s), "compose has no {s}");
    }
    let mut ran = BTreeSet::new();
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default();
        if !svc["image"]
            .as_str()
            .unwrap_or_default()
            .starts_with("netraven:")
        {
            continue;
        }
        let command = strings(&svc["command"]);
        let invocations =
            if strings(&svc["entrypoint"]).first().map(String::as_str) == Some("/bin/sh") {
                command.iter().flat_map(|c| in_shell(c)).collect()
            } else {
                vec![command]
            };
        ensure!(
            !invocations.is_empty(),
            "compose {name} runs no netraven subcommand"
        );
        for inv in invocations {
            let args: Vec<&str> = inv.iter().map(String::as_str).collect();
            check_command(&format!("compose {name}"), &args)?;
            ran.insert(args[0].to_string());
        }
        let stop = svc["stop_grace_period"]
            .as_str()
            .context("no stop_grace_period")?;
        let stop_s: u64 = stop.trim_end_matches('s').parse()?;
        assert!(
            stop_s > grace_s,
            "compose {name}: stop_grace_period {stop} within the drain"
        );
    }
    for role in [
        "migrate",
        "dispatcher",
        "aggregator",
        "api",
        "worker",
        "sim",
    ] {
        assert!(ran.contains(role), "compose never runs `netraven {role}`");
    }
    assert!(read("deploy/rabbitmq/enabled_plugins")?.contains("rabbitmq_prometheus"));
    let scrape = read("deploy/prometheus/prometheus.yml")?;
    for (name, svc) in services {
        let env = &svc["environment"]["NETRAVEN__WORKER__METRICS_ADDR"];
        if let Some(addr) = env.as_str() {
            let port = addr.rsplit(':').next().unwrap_or_default();
            assert!(
                scrape.contains(&format!("simulator:{port}")),
                "{name:?} is not scraped"
            );
        }
    }

    // Kubernetes: probes, resources, grace, PDB, KEDA (the `deploy` tests check the
    // security settings, the Secrets and migrations).
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo().join("deploy/k8s/base"))
        .output();
    if let Ok(out) = out {
        ensure!(
            out.status.success(),
            "kubectl kustomize: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut kinds = BTreeSet::new();
    let base = repo().join("deploy/k8s/base");
    for entry in std::fs::read_dir(&base)? {
        let file = format!("deploy/k8s/base/{}", entry?.file_name().to_string_lossy());
        for doc in yaml_docs(&file)? {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            let spec = &doc["spec"]["template"]["spec"];
            match kind.as_str() {
                "Deployment" => {
                    let c = &spec["containers"][0];
                    check_command(
                        &file,
                        &strings(&c["args"])
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>(),
                    )?;
                    assert_eq!(
                        c["livenessProbe"]["httpGet"]["path"].as_str(),
                        Some("/healthz"),
                        "{file}"
                    );
                    assert_eq!(
                        c["readinessProbe"]["httpGet"]["path"].as_str(),
                        Some("/readyz"),
                        "{file}"
                    );
                    for k in ["requests", "limits"] {
                        assert!(
                            c["resources"][k]["cpu"].as_str().is_some(),
                            "{file}: no cpu {k}"
                        );
                        assert!(
                            c["resources"][k]["memory"].as_str().is_some(),
                            "{file}: no memory {k}"
                        );
                    }
                    let grace = spec["terminationGracePeriodSeconds"]
                        .as_u64()
                        .context("no grace")?;
                    assert!(
                        grace > grace_s,
                        "{file}: grace {grace} s not above the {grace_s} s drain"
                    );
                    assert_eq!(
                        spec["securityContext"]["runAsNonRoot"].as_bool(),
                        Some(true),
                        "{file}"
                    );
                }
                "Job" => {
                    assert_eq!(
                        strings(&spec["containers"][0]["args"]),
                        ["migrate"],
                        "{file}"
                    );
                }
                "PodDisruptionBudget" => {
                    assert_eq!(
                        doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"].as_str(),
                        Some("netraven-worker")
                    );
                }
                "ScaledObject" => {
                    assert_eq!(
                        doc["spec"]["scaleTargetRef"]["name"].as_str(),
                        Some("netraven-worker")
                    );
                    let t = &doc["spec"]["triggers"][0];
                    assert_eq!(t["type"].as_str(), Some("rabbitmq"));
                    assert_eq!(t["metadata"]["queueName"].as_str(), Some(queue.as_str()));
                }
                _ => {}
            }
            kinds.insert(kind);
        }
    }
    for k in [
        "Deployment",
        "PodDisruptionBudget",
        "ScaledObject",
        "ConfigMap",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(k), "deploy/k8s/base has no {k}");
    }

    // systemd units run real subcommands and outlast the drain.
    for unit in [
        "netraven-dispatcher.service",
        "netraven-aggregator.service",
        "netraven-api.service",
        "netraven-worker@.service",
    ] {
        let text = read(&format!("deploy/systemd/{unit}"))?;
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .context("no ExecStart")?;
        let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
        check_command(unit, &args)?;
        let stop = text
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .context("no TimeoutStopSec")?;
        assert!(
            stop.parse::<u64>()? > grace_s,
            "{unit}: TimeoutStopSec={stop}"
        );
    }

    // The image: built locked, non-root, the binary as entrypoint.
    let docker = read("Dockerfile")?;
    assert!(docker.contains("cargo build --release --locked -p netraven-cli"));
    assert!(docker.contains("USER 10001"), "the image runs as root");
    assert!(docker.contains("ENTRYPOINT [\"/usr/local/bin/netraven\"]"));
    Ok(())
}
