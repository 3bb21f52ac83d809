//! The systemd units verify (`systemd-analyze verify`) and keep each key to its role.

use super::manifests::read;
use anyhow::{ensure, Result};
use netraven_tests::netraven_binary;
use std::process::Command;

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
        ("netraven-api.service", "api"),
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
            "api" => (
                vec![],
                vec![
                    "/etc/netraven/key",
                    "/etc/netraven/dispatcher",
                    "/etc/netraven/worker",
                    "/etc/netraven/trusted",
                ],
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
