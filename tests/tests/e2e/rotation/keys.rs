//! What the rotation tests share: key files, `netraven secrets` runs, worker processes and
//! the key ids they report.

use anyhow::{bail, Context, Result};
use netraven_tests::TestEnv;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The simulated devices listen from this port up (this test's range is 25900-25999).
pub(super) const BASE_PORT: u16 = 25900;
pub(super) const DEVICES: usize = 90;

pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

/// Writes a key file the way an operator distributes one: mode 0600.
pub(super) fn install_key_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// `netraven secrets …` against this test's world and key file.
pub(super) fn secrets(env: &TestEnv, key_file: &Path, args: &[&str]) -> Result<Output> {
    let mut cmd = env.command()?;
    cmd.env_remove("NETRAVEN__SECRETS__KEY")
        .arg("secrets")
        .args(args)
        .arg("--key-file")
        .arg(key_file)
        .stdin(Stdio::null());
    Ok(cmd.output()?)
}

pub(super) fn succeeded(out: &Output, what: &str) -> Result<String> {
    if !out.status.success() {
        bail!("{what} failed: {}{}", text(&out.stdout), text(&out.stderr));
    }
    Ok(text(&out.stdout))
}

/// A `netraven worker` process with a key file of its own; SIGTERM on stop, killed on drop.
pub(super) struct WorkerProcess {
    pub(super) child: Child,
    /// `host:pid`, as the worker reports itself.
    pub(super) name: String,
}

impl WorkerProcess {
    pub(super) fn start(env: &TestEnv, key_file: &Path) -> Result<WorkerProcess> {
        let mut cmd: Command = env.command()?;
        let child = cmd
            .env_remove("NETRAVEN__SECRETS__KEY")
            .env("NETRAVEN__SECRETS__KEY_FILE", key_file)
            .env("NETRAVEN__WORKER__MAX_IN_FLIGHT", "2")
            .env("NETRAVEN__WORKER__KEY_FILE_POLL_INTERVAL_MS", "100")
            .env("NETRAVEN__WORKER__KEY_REPORT_INTERVAL_MS", "200")
            .arg("worker")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start `netraven worker`")?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let name = format!("{host}:{}", child.id());
        Ok(WorkerProcess { child, name })
    }

    /// SIGTERM, then the exit status within 30 s.
    pub(super) fn stop(mut self) -> Result<()> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::ensure!(status.success(), "worker {} exited {status}", self.name);
                return Ok(());
            }
            if Instant::now() > until {
                bail!("worker {} did not stop within 30 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The key ids each running worker reported last, by worker name.
pub(super) async fn reports(env: &TestEnv) -> Result<Vec<(String, Vec<String>)>> {
    let client = env.pool.get().await?;
    Ok(client
        .query(
            "SELECT worker, key_ids FROM worker_key_reports \
             WHERE seen_at > now() - make_interval(secs => report_interval_ms * 3 / 1000.0) \
             ORDER BY worker",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Waits until `check` holds for the running workers' reports.
pub(super) async fn wait_reports(
    env: &TestEnv,
    what: &str,
    check: impl Fn(&[(String, Vec<String>)]) -> bool,
) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = reports(env).await?;
        if check(&r) {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("{what}: not within 30 s; the workers report {r:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) async fn sealing_key_ids(env: &TestEnv) -> Result<Vec<String>> {
    let client = env.pool.get().await?;
    Ok(client
        .query(
            "SELECT DISTINCT split_part(sealed_secret, ':', 2) FROM credentials ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

pub(super) async fn job_status(env: &TestEnv, id: Uuid) -> Result<(String, i32)> {
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT status, completed_devices FROM jobs WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

pub(super) fn first_key_id(path: &Path) -> Result<String> {
    let ring = std::fs::read_to_string(path)?;
    ring.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split(' ').next())
        .map(str::to_string)
        .context("empty key ring")
}

pub(super) fn key_ids(path: &Path) -> Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect())
}
