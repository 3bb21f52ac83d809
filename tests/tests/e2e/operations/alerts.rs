//! The alert rules pass promtool's checks and their unit tests; each has a runbook entry
//! that exists; the role-down alert's label is set under compose and Kubernetes alike.

use super::probes::{read, repo, tool};
use anyhow::{ensure, Context, Result};
use serde_yaml_ng::Value;
use std::process::Command;

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() -> Result<()> {
    let promtool = tool("promtool")?;
    let dir = repo().join("deploy/prometheus");
    for args in [
        &["check", "rules", "alerts.yml"][..],
        &["test", "rules", "alerts.test.yml"],
        &["check", "config", "prometheus.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()?;
        ensure!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every alert has a unit test that expects it to fire.
    let tests = read("deploy/prometheus/alerts.test.yml")?;
    let alerts: Value = serde_yaml_ng::from_str(&read("deploy/prometheus/alerts.yml")?)?;
    let anchors = anchors(&read("docs/operations.md")?);
    for rule in alerts["groups"][0]["rules"]
        .as_sequence()
        .context("no rules")?
    {
        let name = rule["alert"].as_str().context("a rule without a name")?;
        assert!(
            tests.contains(&format!(
                "alertname: {name}\n        exp_alerts:\n          -"
            )),
            "no promtool test expects {name} to fire"
        );
        let url = rule["annotations"]["runbook_url"]
            .as_str()
            .with_context(|| format!("{name} has no runbook_url"))?;
        let anchor = url
            .strip_prefix("docs/operations.md#")
            .with_context(|| format!("{name}'s runbook_url {url} is not in docs/operations.md"))?;
        assert!(
            anchors.contains(anchor),
            "{name}'s runbook_url names #{anchor}, which docs/operations.md lacks"
        );
    }
    Ok(())
}

/// The anchors of every heading of a Markdown file, as GitHub makes them: lower case,
/// punctuation dropped, spaces to hyphens.
fn anchors(markdown: &str) -> std::collections::BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn every_role_target_carries_netraven_role_under_compose_and_kubernetes() -> Result<()> {
    // Compose: each role's static scrape job sets it.
    let prometheus: Value = serde_yaml_ng::from_str(&read("deploy/prometheus/prometheus.yml")?)?;
    let mut roles = Vec::new();
    for job in prometheus["scrape_configs"]
        .as_sequence()
        .context("no scrape_configs")?
    {
        let name = job["job_name"].as_str().unwrap_or_default();
        let Some(role) = name.strip_prefix("netraven-") else {
            continue;
        };
        for target in job["static_configs"]
            .as_sequence()
            .context("no static_configs")?
        {
            assert_eq!(
                target["labels"]["netraven_role"].as_str(),
                Some(role),
                "{name} sets no netraven_role"
            );
        }
        roles.push(role.to_string());
    }
    roles.sort();
    assert_eq!(roles, ["aggregator", "api", "dispatcher", "worker"]);

    // Kubernetes: the PodMonitor selects every role's pods and sets it from the pod's
    // component label, which each Deployment's pod template carries.
    let monitor: Value = serde_yaml_ng::from_str(&read("deploy/k8s/monitoring/pod-monitor.yaml")?)?;
    // One endpoint per port name (`metrics`; the api's `http`), each setting the label.
    let mut scraped = Vec::new();
    for endpoint in monitor["spec"]["podMetricsEndpoints"]
        .as_sequence()
        .context("no podMetricsEndpoints")?
    {
        let relabel = &endpoint["relabelings"][0];
        assert_eq!(relabel["targetLabel"].as_str(), Some("netraven_role"));
        assert_eq!(
            relabel["sourceLabels"][0].as_str(),
            Some("__meta_kubernetes_pod_label_app_kubernetes_io_component")
        );
        scraped.push(endpoint["port"].as_str().unwrap_or_default().to_string());
    }
    let selected = &monitor["spec"]["selector"]["matchExpressions"][0];
    assert_eq!(selected["key"].as_str(), Some("app.kubernetes.io/name"));
    for role in &roles {
        let doc: Value = serde_yaml_ng::from_str(&read(&format!("deploy/k8s/base/{role}.yaml"))?)?;
        let template = &doc["spec"]["template"];
        let labels = &template["metadata"]["labels"];
        assert_eq!(
            labels["app.kubernetes.io/component"].as_str(),
            Some(role.as_str()),
            "{role}'s pods carry no component label"
        );
        let name = labels["app.kubernetes.io/name"]
            .as_str()
            .unwrap_or_default();
        assert!(
            selected["values"]
                .as_sequence()
                .is_some_and(|v| v.iter().any(|n| n.as_str() == Some(name))),
            "the PodMonitor does not select {name}"
        );
        let ports = &template["spec"]["containers"][0]["ports"];
        assert!(
            ports.as_sequence().is_some_and(|p| p
                .iter()
                .any(|p| scraped.iter().any(|s| p["name"].as_str() == Some(s)))),
            "{role} names no port the PodMonitor scrapes ({scraped:?})"
        );
    }
    Ok(())
}
