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

/// A `netraven` role (`dispatcher`, `aggregator`, `worker`) running as a process of its
/// own, pointed at a test's world; killed when dropped. Its stderr goes to
/// `<test dir>/<name>.log`.
pub struct RoleProcess {
    child: std::process::Child,
    /// What it was started as, for messages.
    pub name: String,
}

impl RoleProcess {
    /// Starts `netraven <role>` with `env`'s settings and the extra variables `vars`.
    pub fn start(
        env: &crate::TestEnv,
        role: &str,
        name: &str,
        vars: &[(&str, &str)],
    ) -> Result<RoleProcess> {
        let log = std::fs::File::create(env.dir.path().join(format!("{name}.log")))?;
        let child = env
            .command()?
            .arg(role)
            .envs(vars.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start `netraven {role}`"))?;
        Ok(RoleProcess {
            child,
            name: name.to_string(),
        })
    }

    /// Starts `netraven worker` as `worker-<n>`, holding at most `max_in_flight` tasks,
    /// with the extra variables `vars`.
    pub fn worker(
        env: &crate::TestEnv,
        n: usize,
        max_in_flight: usize,
        vars: &[(&str, &str)],
    ) -> Result<RoleProcess> {
        let max_in_flight = max_in_flight.to_string();
        let mut all = vec![("NETRAVEN__WORKER__MAX_IN_FLIGHT", max_in_flight.as_str())];
        all.extend_from_slice(vars);
        RoleProcess::start(env, "worker", &format!("worker-{n}"), &all)
    }

    /// The process id, for signals.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX))
    }

    /// Sends `signal` (SIGSTOP, SIGCONT, ...).
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> Result<()> {
        nix::sys::signal::kill(self.pid(), signal)
            .with_context(|| format!("cannot signal {}", self.name))
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(&mut self) -> Result<()> {
        self.signal(nix::sys::signal::Signal::SIGKILL)?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, and checks that it exits cleanly.
    pub fn stop(mut self) -> Result<()> {
        self.signal(nix::sys::signal::Signal::SIGTERM)?;
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "{} exited with {status}", self.name);
        Ok(())
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
