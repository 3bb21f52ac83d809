//! Processes a test runs: shell commands and this build's `netraven` binary.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Runs a shell command (`rabbitmqctl`, `pg_ctlcluster`, …) and returns what it printed;
/// fails with its output when it exits non-zero.
pub fn sh(script: &str) -> Result<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .with_context(|| format!("cannot run `{script}`"))?;
    anyhow::ensure!(
        out.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `netraven` binary of this build, for tests that run real processes.
pub fn netraven_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary has no target folder")?;
    let bin = dir.join("netraven");
    if !bin.exists() {
        bail!(
            "{} is missing: build it with `cargo build -p netraven-cli` (scripts/test does)",
            bin.display()
        );
    }
    Ok(bin)
}
