//! The physical limit: bare SSH — connect, log in, read the configuration — with no
//! broker, no database, at the job's concurrency. Two ways to log in:
//!
//! - [`Logins::Known`]: the credential that works, first time (what a job does once
//!   affinity knows it): one handshake per device;
//! - [`Logins::InOrder`]: the credentials in priority order, a new connection per
//!   username (SSH servers refuse a change of username on one connection), exactly the
//!   logins a job makes on first contact: 1.5 handshakes per device on the bench fleet.

use super::Figure;
use anyhow::{Context, Result};
use netraven_simulator::scenario::standard_credentials;
use netraven_simulator::LINUX_CONFIG_COMMAND;
use netraven_worker::ssh::{AuthOutcome, HostKeyCheck, OutputAllowance, Session, SshTimeouts};
use secrecy::SecretString;
use std::path::PathBuf;
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
    fn prefix(self) -> &'static str {
        match self {
            Logins::Known => "baseline",
            Logins::InOrder => "baseline_in_order",
        }
    }

    fn name(self) -> String {
        format!("{}_devices_per_second", self.prefix())
    }
}

/// One device as the bare client sees it.
pub struct Target {
    host: String,
    port: u16,
    /// Usernames and secrets to try, in order; the last one is accepted.
    tries: Vec<(String, SecretString)>,
}

/// The devices of the bench fleet's inventories, with the logins `logins` makes on each.
pub fn targets(inventories: &[PathBuf], logins: Logins) -> Result<Vec<Target>> {
    let credentials = standard_credentials(super::fleet::SEED);
    let mut targets = Vec::new();
    let profiles = netraven_worker::platform::Profiles::load(None)?;
    for path in inventories {
        for d in crate::inventory::read(path, &profiles)?.devices {
            let i: usize = d
                .name
                .strip_prefix("bench-")
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("{}: not a bench device", d.name))?;
            let accepted = super::fleet::accepted_credential(i);
            let first = match logins {
                Logins::Known => accepted,
                Logins::InOrder => 0,
            };
            targets.push(Target {
                host: d.host,
                port: d.port,
                tries: credentials[first..=accepted]
                    .iter()
                    .map(|c| (c.username.clone(), SecretString::from(c.password.clone())))
                    .collect(),
            });
        }
    }
    Ok(targets)
}

/// Backs up every target once with `concurrency` sessions at a time: the rate, and the
/// CPU per device of the bare client (this process) and of the simulator processes
/// `simulators` — each in a process of its own, as the workers and the simulator are
/// in a job.
pub async fn measure(
    targets: Vec<Target>,
    concurrency: usize,
    logins: Logins,
    simulators: &[u32],
) -> Result<Vec<Figure>> {
    let handshakes: usize = targets.iter().map(|t| t.tries.len()).sum();
    let devices = targets.len();
    let targets = Arc::new(targets);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let simulator_seconds = || -> f64 {
        simulators
            .iter()
            .map(|&pid| super::cpu::process_seconds(pid))
            .sum()
    };
    let (client_before, simulator_before) =
        (super::cpu::this_process_seconds(), simulator_seconds());
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
    let client = super::cpu::this_process_seconds() - client_before;
    let simulator = simulator_seconds() - simulator_before;
    let failed = failures.load(Ordering::Relaxed);
    anyhow::ensure!(failed == 0, "{failed} of {devices} bare backups failed");
    let per_device = |seconds: f64| seconds * 1000.0 / devices as f64;
    let cpu = |group: &str, seconds: f64, detail: String| Figure {
        name: format!("{}_cpu_ms_per_device_{group}", logins.prefix()),
        value: per_device(seconds),
        unit: "ms".into(),
        detail,
    };
    Ok(vec![
        Figure::rate(
            &logins.name(),
            devices,
            took,
            "devices/s",
            format!(
                "{devices} devices, {handshakes} handshakes: connect + password{} + exec of a 20 KB config, {concurrency} at a time",
                match logins {
                    Logins::Known => " (the working credential)",
                    Logins::InOrder => "s in priority order",
                }
            ),
        ),
        cpu(
            "client",
            client,
            "the bare client: user + system CPU / devices".into(),
        ),
        cpu(
            "simulator",
            simulator,
            "the simulator processes: user + system CPU / devices".into(),
        ),
        cpu(
            "total",
            client + simulator,
            format!(
                "client + simulator; wall time x 2 cores = {:.2} ms",
                per_device(took.as_secs_f64() * 2.0)
            ),
        ),
    ])
}

/// The mean time one device's backup takes when nothing else waits for the cores: each
/// of `targets` backed up once, `concurrency` at a time, each timed alone.
pub async fn time_per_device(targets: Vec<Target>, concurrency: usize) -> Result<Duration> {
    let devices = targets.len();
    let targets = Arc::new(targets);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (targets, next) = (targets.clone(), next.clone());
        tasks.spawn(async move {
            let mut took = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(target) = targets.get(i) else {
                    return took;
                };
                let started = Instant::now();
                took.push(backup(target).await.map(|()| started.elapsed()));
            }
        });
    }
    let mut total = Duration::ZERO;
    while let Some(took) = tasks.join_next().await {
        for t in took? {
            total += t.context("a bare backup failed")?;
        }
    }
    Ok(total / u32::try_from(devices.max(1)).unwrap_or(u32::MAX))
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
        let out = s
            .exec(LINUX_CONFIG_COMMAND, &mut OutputAllowance::upto(1 << 20))
            .await
            .ok()?;
        s.close().await;
        return (!out.stdout.is_empty()).then_some(());
    }
    None
}
