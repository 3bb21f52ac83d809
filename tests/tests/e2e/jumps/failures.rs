//! Each hop's failure, in one job: its outcome, a reason that names the hop, and no
//! secret sent where none should go.

use super::{
    bastion, behind_one_bastion, import, inventory, site_device, Jump, JOB_TIMEOUT, JUMP_SECRET,
    JUMP_USER,
};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{Fault, Platform};
use netraven_tests::{request, FleetBuilder, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hop_fails_with_its_own_outcome_and_names_the_hop() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let w = &mut env.settings.worker;
    w.connect_timeout_ms = 1_000;
    w.handshake_timeout_ms = 1_500;
    w.auth_timeout_ms = 1_500;
    w.command_idle_timeout_ms = 1_500;

    let mut closed = bastion("bastion-closed", &[]);
    closed.fault = Some(Fault::PortClosed);
    let mut silent = bastion("bastion-silent", &[]);
    silent.fault = Some(Fault::Silent);
    let mut down = site_device("behind-down", Platform::Linux);
    down.fault = Some(Fault::PortClosed);
    let mut mute = site_device("behind-silent", Platform::Linux);
    mute.fault = Some(Fault::Silent);
    let sim = FleetBuilder::new(2203)
        .device(bastion(
            "bastion-1",
            &["behind-ok", "behind-down", "behind-silent"],
        ))
        .device(bastion("bastion-badcred", &["via-badcred"]))
        .device(bastion("bastion-wrongkey", &["via-wrongkey"]))
        .device(closed)
        .device(silent)
        .device(site_device("behind-ok", Platform::Linux))
        .device(down)
        .device(mute)
        .device(site_device("behind-far", Platform::Linux))
        .device(site_device("via-closed", Platform::Linux))
        .device(site_device("via-silent", Platform::Linux))
        .device(site_device("via-badcred", Platform::Linux))
        .device(site_device("via-wrongkey", Platform::Linux))
        .start()
        .await?;
    let jump = |name, device, credential, key_of| Jump {
        name,
        device,
        credential,
        key_of,
        via: None,
        max_channels: 10,
    };
    let yaml = inventory(
        &sim,
        &[
            jump("bastion-1", "bastion-1", "jump-cred", "bastion-1"),
            jump(
                "bastion-closed",
                "bastion-closed",
                "jump-cred",
                "bastion-closed",
            ),
            jump(
                "bastion-silent",
                "bastion-silent",
                "jump-cred",
                "bastion-silent",
            ),
            jump(
                "bastion-badcred",
                "bastion-badcred",
                "jump-stale",
                "bastion-badcred",
            ),
            // Pinned: another bastion's key.
            jump(
                "bastion-wrongkey",
                "bastion-wrongkey",
                "jump-cred",
                "bastion-1",
            ),
        ],
        &[("site", None)],
        &[
            ("behind-ok", &["site"], Some("bastion-1")),
            ("behind-down", &["site"], Some("bastion-1")),
            ("behind-silent", &["site"], Some("bastion-1")),
            ("behind-far", &["site"], Some("bastion-1")),
            ("via-closed", &["site"], Some("bastion-closed")),
            ("via-silent", &["site"], Some("bastion-silent")),
            ("via-badcred", &["site"], Some("bastion-badcred")),
            ("via-wrongkey", &["site"], Some("bastion-wrongkey")),
        ],
        &[
            ("jump-cred", JUMP_USER, JUMP_SECRET),
            ("jump-stale", JUMP_USER, "an-old-jump-secret"),
        ],
    );
    import(&env, &yaml).await?;
    let port = |name: &str| {
        sim.devices()
            .into_iter()
            .find(|d| d.name == name)
            .map(|d| d.port)
            .expect("a device")
    };

    let roles = env.start(1);
    let mut req = request("config_backup", &["site"], &[]);
    req.limits.device_deadline_ms = Some(8_000);
    let job = env.run_job(&req, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(results.len(), 8);
    for r in &results {
        eprintln!(
            "{:<14} {:<18} {}",
            r.device_name,
            r.outcome.as_str(),
            r.reason
        );
        let (outcome, said): (Outcome, Vec<String>) = match r.device_name.as_str() {
            "behind-ok" => (Outcome::Success, vec![]),
            "behind-down" => (
                Outcome::Unreachable,
                vec![
                    format!(
                        "127.0.0.1:{} unreachable from jump host bastion-1",
                        port("behind-down")
                    ),
                    "connect failed".into(),
                ],
            ),
            "behind-far" => (
                Outcome::Unreachable,
                vec![
                    "unreachable from jump host bastion-1".into(),
                    "administratively prohibited".into(),
                ],
            ),
            "behind-silent" => (
                Outcome::Timeout,
                vec![
                    "timed out during handshake".into(),
                    format!(
                        "through jump host bastion-1 (127.0.0.1:{})",
                        port("bastion-1")
                    ),
                ],
            ),
            "via-closed" => (
                Outcome::Unreachable,
                vec![format!(
                    "jump host bastion-closed (127.0.0.1:{}): connection refused",
                    port("bastion-closed")
                )],
            ),
            "via-silent" => (
                Outcome::Timeout,
                vec![format!(
                    "jump host bastion-silent (127.0.0.1:{}): timed out during handshake",
                    port("bastion-silent")
                )],
            ),
            "via-badcred" => (
                Outcome::AuthFailed,
                vec![format!(
                    "jump host bastion-badcred (127.0.0.1:{}) rejected its credential jump-stale",
                    port("bastion-badcred")
                )],
            ),
            "via-wrongkey" => (
                Outcome::HostKeyMismatch,
                vec![
                    format!(
                        "jump host bastion-wrongkey (127.0.0.1:{})",
                        port("bastion-wrongkey")
                    ),
                    "host key mismatch".into(),
                ],
            ),
            other => anyhow::bail!("unexpected device {other}"),
        };
        assert_eq!(r.outcome, outcome, "{}: {}", r.device_name, r.reason);
        for s in &said {
            assert!(
                r.reason.contains(s.as_str()),
                "{}: {:?} lacks {s:?}",
                r.device_name,
                r.reason
            );
        }
        if r.device_name != "behind-ok" {
            // No device credential was tried: the device's credentials' rates are untouched.
            assert_eq!(r.attempts, 0, "{}: {}", r.device_name, r.reason);
            assert!(sim.attempts(&r.device_name).is_empty(), "{}", r.device_name);
        }
    }
    // The wrong key: the handshake stopped before the jump credential was sent.
    let wrongkey = sim.report("bastion-wrongkey").expect("report");
    assert_eq!(wrongkey.secrets_received, 0, "{wrongkey:?}");
    // The stale credential was tried on its bastion, and only there.
    assert!(sim
        .attempts("bastion-badcred")
        .iter()
        .all(|a| !a.accepted && a.username == JUMP_USER));
    let tacacs: (i64, i64) = {
        let row = client
            .query_one(
                "SELECT success_count, failure_count FROM credentials WHERE name = 'tacacs'",
                &[],
            )
            .await?;
        (row.get(0), row.get(1))
    };
    assert_eq!(
        tacacs,
        (1, 0),
        "only behind-ok logged in; no failure counted"
    );
    roles.stop().await?;
    sim.shutdown().await;
    Ok(())
}

/// The cap holds under load: with one channel allowed, devices wait for the slot within
/// their own deadline and say so when it runs out; the bastion never has two open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_wait_for_a_slot_within_their_own_deadline() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.settings.worker.command_idle_timeout_ms = 30_000;
    let names = ["hang-1", "hang-2", "hang-3"];
    let sim = FleetBuilder::new(2205)
        .device(bastion("bastion-1", &names))
        .devices(names.iter().map(|n| {
            let mut d = site_device(n, Platform::Linux);
            d.fault = Some(Fault::HangAfterLogin);
            d
        }))
        .start()
        .await?;
    let yaml = behind_one_bastion(&sim, "bastion-1", &names, 1);
    import(&env, &yaml).await?;
    let roles = env.start(1);
    let mut req = request("config_backup", &["site"], &[]);
    req.limits.device_deadline_ms = Some(2_000);
    let job = env.run_job(&req, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedFailure);
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    let mut waited = 0;
    for r in &results {
        eprintln!(
            "{:<8} {:<10} {}",
            r.device_name,
            r.outcome.as_str(),
            r.reason
        );
        assert_eq!(r.outcome, Outcome::Timeout, "{}", r.reason);
        assert!(
            r.reason.contains("through jump host bastion-1"),
            "{}",
            r.reason
        );
        if r.reason
            .contains("during waiting for a jump host channel slot")
        {
            waited += 1;
        }
    }
    assert!(
        waited >= 1,
        "a device waited for the slot until its deadline"
    );
    let b = sim.bastion("bastion-1").expect("a bastion");
    assert_eq!(b.most_open, 1, "{b:?}");
    roles.stop().await?;
    sim.shutdown().await;
    Ok(())
}
