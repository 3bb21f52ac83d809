//! A device whose host key changed fails before any secret is sent.

use super::setup::{device, faults_fleet, tune, DEADLINE_MS, HANDSHAKE_MS, JOB_TIMEOUT, MARGIN_MS};
use netraven_shared::domain::{HostKeyPolicy, JobStatus, Outcome};
use netraven_simulator::{Fault, Fleet, Platform};
use netraven_tests::{request, TestEnv};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The OpenSSH line (`ssh-ed25519 AAAA...`) of the key a device of `fleet` presents.
fn presented_key(fleet: &Fleet, device: &str) -> String {
    let d = fleet
        .devices()
        .into_iter()
        .find(|d| d.name == device)
        .expect("device in fleet");
    d.host_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn pinned(env: &TestEnv, device: &str) -> anyhow::Result<Option<String>> {
    let client = env.pool.get().await?;
    Ok(client
        .query_opt(
            "SELECT k.public_key FROM host_keys k JOIN devices d ON d.id = k.device_id WHERE d.name = $1",
            &[&device],
        )
        .await?
        .map(|r| r.get(0)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_fails_the_device_before_any_secret_is_sent() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    tune(&mut env)?;
    let fleet = |changed: bool| {
        faults_fleet(
            [
                ("hk-linux", Platform::Linux),
                ("hk-ios", Platform::CiscoIos),
                ("never-seen", Platform::Linux),
            ]
            .into_iter()
            .map(|(name, platform)| {
                let fault = (changed && name.starts_with("hk-")).then_some(Fault::HostKeyChanged);
                device(name, platform, fault, "faults")
            }),
        )
    };
    let hk = ["hk-linux", "hk-ios"];

    // First run, accept-new: the keys are pinned.
    let before = fleet(false).start().await?;
    env.import(&before).await?;
    let roles = env.start(1);
    let first = env
        .run_job(&request("config_backup", &[], &hk), JOB_TIMEOUT)
        .await?;
    assert_eq!(first.counts.status, JobStatus::CompletedSuccess);
    let mut pins = HashMap::new();
    for d in hk {
        let pin = pinned(&env, d).await?;
        assert_eq!(
            pin.as_deref(),
            Some(presented_key(&before, d).as_str()),
            "{d} pinned"
        );
        pins.insert(d, pin);
    }
    before.shutdown().await;

    // The devices come back with other keys (same names, new ports: re-imported).
    let after = fleet(true).start().await?;
    env.import(&after).await?;
    for d in hk {
        assert_ne!(
            presented_key(&after, d),
            pins[d].clone().unwrap_or_default(),
            "{d}"
        );
    }
    let started = Instant::now();
    let second = env
        .run_job(&request("config_backup", &[], &hk), JOB_TIMEOUT)
        .await?;
    assert!(started.elapsed() < Duration::from_millis(DEADLINE_MS + MARGIN_MS));
    assert_eq!(second.counts.status, JobStatus::CompletedFailure);
    let client = env.pool.get().await?;
    for r in netraven_dispatcher::job_rows::results(&client, second.id).await? {
        eprintln!(
            "{:<12} {:<18} {:>5} ms  {}",
            r.device_name,
            r.outcome.as_str(),
            r.duration_ms,
            r.reason
        );
        assert_eq!(
            r.outcome,
            Outcome::HostKeyMismatch,
            "{}: {}",
            r.device_name,
            r.reason
        );
        let pinned_fp = netraven_worker::ssh::fingerprint_of_line(
            pins[r.device_name.as_str()].as_deref().unwrap_or(""),
        )
        .expect("pinned key parses");
        let presented_fp =
            netraven_worker::ssh::fingerprint_of_line(&presented_key(&after, &r.device_name))
                .expect("presented key parses");
        assert!(
            r.reason.contains("host key mismatch")
                && r.reason.contains(&pinned_fp)
                && r.reason.contains(&presented_fp),
            "{}: the reason names both keys: {}",
            r.device_name,
            r.reason
        );
        assert_eq!(r.attempts, 0);
        assert!(r.credential.is_none());
        assert!(r.duration_ms < HANDSHAKE_MS as i64 + MARGIN_MS as i64);
        // Ground truth: the device was contacted, and got no login and no secret.
        let report = after.report(&r.device_name).expect("report");
        assert!(report.connections >= 1, "{report:?}");
        assert!(report.attempts.is_empty(), "{report:?}");
        assert_eq!(report.secrets_received, 0, "{report:?}");
        assert!(!report.secret_sent_after_host_key_change);
        // The pin stands: a mismatch never re-pins.
        assert_eq!(
            pinned(&env, &r.device_name).await?,
            pins[r.device_name.as_str()]
        );
    }
    assert!(after.secrets_sent_to_changed_host_keys().is_empty());

    // Strict, with nothing pinned: refused before authentication, and nothing pinned.
    let mut strict = request("config_backup", &[], &["never-seen"]);
    strict.limits.host_key_policy = Some(HostKeyPolicy::Strict);
    let job = env.run_job(&strict, JOB_TIMEOUT).await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(results.len(), 1);
    let r = &results[0];
    eprintln!(
        "{:<12} {:<18} {:>5} ms  {}",
        r.device_name,
        r.outcome.as_str(),
        r.duration_ms,
        r.reason
    );
    assert_eq!(r.outcome, Outcome::HostKeyMismatch, "{}", r.reason);
    assert!(
        r.reason.contains("not pinned") && r.reason.contains("strict"),
        "{}",
        r.reason
    );
    assert!(after.attempts("never-seen").is_empty());
    assert_eq!(
        after.report("never-seen").map(|d| d.secrets_received),
        Some(0)
    );
    assert_eq!(
        pinned(&env, "never-seen").await?,
        None,
        "strict pins nothing"
    );

    // Policy off: the changed key is let through (the operator's explicit choice).
    let mut off = request("config_backup", &[], &["hk-linux"]);
    off.limits.host_key_policy = Some(HostKeyPolicy::Off);
    let job = env.run_job(&off, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);

    roles.stop().await?;
    after.shutdown().await;
    Ok(())
}
