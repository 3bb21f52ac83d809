//! Bounded resources and deadlines inside the broker's (issue 19, items 4 and 5): a
//! device deadline past the broker's consumer timeout is refused with both numbers; a
//! 23 MB job request is refused before it is decoded and the dispatcher's peak memory
//! stays small; a dispatcher whose pool is as small as its prefetch never waits on its
//! own pool; a 20,000-device job is resolved and published in bounded memory; a refused
//! request's dead letter fits one AMQP frame, however large its headers or its reason.
//!
//! The memory tests run `netraven dispatcher` as a process of its own and read its peak
//! resident set size (VmHWM) from /proc: the bounds are several times what is measured
//! here (docs/performance.md has the figures).

mod big_job;
mod dead_letter_headers;
mod deadlines;
mod pool;
mod request_size;

use anyhow::{Context, Result};
use netraven_tests::TestEnv;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(120);

/// A `netraven dispatcher` process of the test's world; killed when dropped, even when
/// the test panics. Its log is kept in the test's folder.
pub(crate) struct DispatcherProcess {
    child: Child,
    pub(crate) log: std::path::PathBuf,
}

impl DispatcherProcess {
    /// Starts the dispatcher with `extra` settings as environment variables.
    pub(crate) fn start(env: &TestEnv, extra: &[(&str, &str)]) -> Result<DispatcherProcess> {
        let log = env
            .dir
            .path()
            .join(format!("dispatcher-{}.log", uuid::Uuid::new_v4().simple()));
        let mut cmd = env.command()?;
        cmd.arg("dispatcher")
            .envs(extra.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let child = cmd.spawn().context("cannot start `netraven dispatcher`")?;
        Ok(DispatcherProcess { child, log })
    }

    /// Its peak resident set size so far, in KiB.
    pub(crate) fn peak_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("the dispatcher process is gone")?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .context("no VmHWM in /proc/<pid>/status")
    }

    /// What it logged so far.
    pub(crate) fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until it consumes job requests (it says so in its log).
    pub(crate) async fn consuming(&mut self) -> Result<()> {
        let until = Instant::now() + TIMEOUT;
        while !self.logged().contains("dispatcher consuming job requests") {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the dispatcher exited ({status}): {}", self.logged());
            }
            anyhow::ensure!(
                Instant::now() < until,
                "the dispatcher did not start: {}",
                self.logged()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Drop for DispatcherProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds `devices` enabled devices tagged `tag`, and one credential with that tag (its
/// secret is never opened: these tests run no worker), in a few set-based statements.
pub(crate) async fn populate(env: &TestEnv, tag: &str, devices: i64) -> Result<()> {
    let client = env.pool.get().await?;
    client
        .execute("INSERT INTO tags (name) VALUES ($1)", &[&tag])
        .await?;
    client
        .execute(
            "INSERT INTO credentials (name, username, priority, sealed_secret)
             VALUES ($1, 'netops', 10, 'nrv1:test:AAAA')",
            &[&format!("{tag}-cred")],
        )
        .await?;
    client
        .execute(
            "INSERT INTO credential_tags (credential_id, tag_id)
             SELECT c.id, t.id FROM credentials c, tags t WHERE c.name = $1 AND t.name = $2",
            &[&format!("{tag}-cred"), &tag],
        )
        .await?;
    client
        .execute(
            "INSERT INTO devices (name, host, port, platform)
             SELECT $1 || '-' || g, '10.' || (g / 65536) || '.' || ((g / 256) % 256) || '.' || (g % 256),
                    22, 'linux'
             FROM generate_series(1, $2::bigint) g",
            &[&tag, &devices],
        )
        .await?;
    client
        .execute(
            "INSERT INTO device_tags (device_id, tag_id)
             SELECT d.id, t.id FROM devices d, tags t WHERE d.name LIKE $1 || '-%' AND t.name = $1",
            &[&tag],
        )
        .await?;
    Ok(())
}
