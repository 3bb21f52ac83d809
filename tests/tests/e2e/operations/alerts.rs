//! The alert rules pass promtool's checks and their unit tests.

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
        assert!(
            rule["annotations"]["runbook"].as_str().is_some(),
            "{name} has no runbook"
        );
    }
    Ok(())
}
