//! The physical limit: bare SSH — connect, log in, read the configuration — with no
//! broker, no database, at the job's concurrency. Two ways to log in:
//!
//! - [`Logins::Known`]: the credential that works, first time (what a job does once
//!   affinity knows it): one handshake per device;
//! - [`Logins::InOrder`]: the credentials in priority order, a new connection per
//!   username (SSH servers refuse a change of username on one connection), exactly the
//!   logins a job makes on first contact: 1.5 handshakes per device on the bench fleet.

use super::Figure;
use anyhow::Result;
use netraven_simulator::{Fleet, LINUX_CONFIG_COMMAND};
use netraven_worker::ssh::{AuthOutcome, HostKeyCheck, Session, SshTimeouts};
use secrecy::SecretString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which logins the bare client makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logins {
    Known,
    InOrder,
}

impl Logins {
    fn name(self) -> &'static str {
        match self {
            Logins::Known => "baseline_devices_per_second",
            Logins::InOrder => "baseline_in_order_devices_per_second",
        }
    }
}

struct Target {
    host: String,
    port: u16,
    /// Usernames and secrets to try, in order; the last one is accepted.
    tries: Vec<(String, SecretString)>,
}

/// Backs up every device of `fleets` once with `concurrency` sessions at a time.
pub async fn measure(fleets: &[Fleet], concurrency: usize, logins: Logins) -> Result<Figure> {
    let mut targets = Vec::new();
    for fleet in fleets {
        let credentials = fleet.credentials().to_vec();
        for d in fleet.devices() {
            let accepted = super::fleet::accepted_credential(targets.len());
            let first = match logins {
                Logins::Known => accepted,
                Logins::InOrder => 0,
            };
            targets.push(Target {
                host: d.host.to_string(),
                port: d.port,
                tries: credentials[first..=accepted]
                    .iter()
                    .map(|c| (c.username.clone(), SecretString::from(c.password.clone())))
                    .collect(),
            });
        }
    }
    let handshakes: usize = targets.iter().map(|t| t.tries.len()).sum();
    let targets = Arc::new(targets);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (targets, next, failures) = (targets.clone(), next.clone(), failures.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(target) = targets.get(i) else {
                    return;
                };
                if backup(target).await.is_none() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let took = started.elapsed();
    let failed = failures.load(Ordering::Relaxed);
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} bare backups failed",
        targets.len()
    );
    Ok(Figure::rate(
        logins.name(),
        targets.len(),
        took,
        "devices/s",
        format!(
            "{} devices, {handshakes} handshakes: connect + password{} + exec of a 20 KB config, {concurrency} at a time",
            targets.len(),
            match logins {
                Logins::Known => " (the working credential)",
                Logins::InOrder => "s in priority order",
            }
        ),
    ))
}

/// One device: each rejected username costs its own connection, the accepted one reads
/// the configuration.
async fn backup(target: &Target) -> Option<()> {
    let timeouts = SshTimeouts {
        connect: Duration::from_secs(10),
        handshake: Duration::from_secs(10),
        auth: Duration::from_secs(10),
        command_idle: Duration::from_secs(10),
    };
    for (user, secret) in &target.tries {
        let mut s = Session::connect(&target.host, target.port, &timeouts, HostKeyCheck::Off)
            .await
            .ok()?;
        if s.authenticate(user, secret).await.ok()? != AuthOutcome::Accepted {
            s.close().await;
            continue;
        }
        let out = s.exec(LINUX_CONFIG_COMMAND, 1 << 20).await.ok()?;
        s.close().await;
        return (!out.stdout.is_empty()).then_some(());
    }
    None
}
