//! The physical limit: bare SSH — connect, log in with the credential that works, read the
//! configuration — with no broker, no database and no retries, at the job's concurrency.

use super::Figure;
use anyhow::Result;
use netraven_simulator::{Fleet, LINUX_CONFIG_COMMAND};
use netraven_worker::ssh::{AuthOutcome, HostKeyCheck, Session, SshTimeouts};
use secrecy::SecretString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Backs up every device of `fleets` once with `concurrency` sessions at a time.
pub async fn measure(fleets: &[Fleet], concurrency: usize) -> Result<Figure> {
    let mut targets = Vec::new();
    for fleet in fleets {
        let credentials = fleet.credentials().to_vec();
        for (i, d) in fleet.devices().into_iter().enumerate() {
            let global = targets.len();
            let c = &credentials[super::fleet::accepted_credential(global)];
            let _ = i;
            targets.push((
                d.host.to_string(),
                d.port,
                c.username.clone(),
                SecretString::from(c.password.clone()),
            ));
        }
    }
    let targets = Arc::new(targets);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let timeouts = SshTimeouts {
        connect: Duration::from_secs(10),
        handshake: Duration::from_secs(10),
        auth: Duration::from_secs(10),
        command_idle: Duration::from_secs(10),
    };
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (targets, next, failures) = (targets.clone(), next.clone(), failures.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((host, port, user, secret)) = targets.get(i) else {
                    return;
                };
                let ok = async {
                    let mut s = Session::connect(host, *port, &timeouts, HostKeyCheck::Off)
                        .await
                        .ok()?;
                    let accepted =
                        s.authenticate(user, secret).await.ok()? == AuthOutcome::Accepted;
                    let out = s.exec(LINUX_CONFIG_COMMAND, 1 << 20).await.ok()?;
                    s.close().await;
                    (accepted && !out.stdout.is_empty()).then_some(())
                };
                if ok.await.is_none() {
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
        "baseline_devices_per_second",
        targets.len(),
        took,
        "devices/s",
        format!(
            "{} devices: connect + password + exec of a 20 KB config, {concurrency} at a time",
            targets.len()
        ),
    ))
}
