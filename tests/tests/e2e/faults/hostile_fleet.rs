//! A fleet of hostile devices finishes with every device accounted for once.

use super::setup::{HOSTILE_SEED, JOB_TIMEOUT, MARGIN_MS};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{scenario, Fault};
use netraven_tests::{request, FleetBuilder, TestEnv};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_fleet_finishes_with_every_device_accounted_for_once() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    // Timeouts as a patient operator sets them: the 3 s slow banner and slow auth of the
    // preset get through; silence and hangs do not.
    let w = &mut env.settings.worker;
    w.connect_timeout_ms = 1_000;
    w.handshake_timeout_ms = 4_000;
    w.auth_timeout_ms = 4_000;
    w.command_idle_timeout_ms = 2_000;
    w.max_output_bytes = 1 << 20;
    let deadline_ms = 8_000;
    let spec = scenario("hostile", 40, HOSTILE_SEED)?;
    let fleet = FleetBuilder::from_spec(spec.clone()).start().await?;
    env.import(&fleet).await?;
    // An earlier run pinned the seed's keys: the host_key_changed devices now differ.
    let client = env.pool.get().await?;
    for d in spec
        .devices
        .iter()
        .filter(|d| d.fault == Some(Fault::HostKeyChanged))
    {
        let key = netraven_simulator::host_key(HOSTILE_SEED, &d.name)?;
        let line = key.public_key().to_openssh()?;
        let line = line
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let fingerprint = netraven_worker::ssh::fingerprint_of_line(&line).expect("parses");
        client
            .execute(
                "INSERT INTO host_keys (device_id, algorithm, public_key, fingerprint)
                 SELECT id, 'ssh-ed25519', $2, $3 FROM devices WHERE name = $1",
                &[&d.name, &line, &fingerprint],
            )
            .await?;
    }
    let roles = env.start(2);
    let mut r = request("config_backup", &["fleet"], &[]);
    r.limits.device_deadline_ms = Some(deadline_ms);
    let started = Instant::now();
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    let took = started.elapsed();
    assert_eq!(job.counts.total_devices, 40);
    assert_eq!(job.counts.completed_devices, 40);
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    assert!(
        took < Duration::from_millis(deadline_ms + 10_000),
        "job took {took:?}"
    );

    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    let mut names: Vec<&str> = results.iter().map(|r| r.device_name.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), 40, "every device exactly once");
    let mut failures = Vec::new();
    let mut tally: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &results {
        let d = spec
            .devices
            .iter()
            .find(|d| d.name == r.device_name)
            .expect("in spec");
        let want = match d.fault {
            None
            | Some(Fault::SlowBanner { .. })
            | Some(Fault::SlowAuth { .. })
            | Some(Fault::KeyboardInteractiveOnly)
            | Some(Fault::MaxAuthTries { .. })
            | Some(Fault::OutputNul)
            | Some(Fault::OutputInvalidUtf8)
            | Some(Fault::OutputEscapes) => Outcome::Success,
            Some(Fault::PortClosed)
            | Some(Fault::LegacyAlgorithms)
            | Some(Fault::SshRsaSha1Only)
            | Some(Fault::Flapping { .. }) => Outcome::Unreachable,
            Some(Fault::Silent) | Some(Fault::HangAfterLogin) => Outcome::Timeout,
            Some(Fault::DropMidOutput) | Some(Fault::EndlessOutput) => Outcome::CommandFailed,
            Some(Fault::HostKeyChanged) => Outcome::HostKeyMismatch,
        };
        let fault = d.fault.map_or("healthy".to_string(), |f| f.to_string());
        *tally
            .entry(format!("{fault} {}", r.outcome.as_str()))
            .or_default() += 1;
        if r.outcome != want {
            failures.push(format!(
                "{} ({fault}, {}): {} {}",
                r.device_name,
                d.platform,
                r.outcome.as_str(),
                r.reason
            ));
        }
        if r.duration_ms > (deadline_ms + MARGIN_MS) as i64 {
            failures.push(format!("{} ({fault}): {} ms", r.device_name, r.duration_ms));
        }
        // Ground truth: a success logged in exactly once; no secret where it must not go.
        let seen = fleet.attempts(&r.device_name);
        let accepted = seen.iter().filter(|a| a.accepted).count();
        if accepted != usize::from(r.outcome == Outcome::Success)
            && want != Outcome::Timeout
            && want != Outcome::CommandFailed
        {
            failures.push(format!(
                "{} ({fault}): simulator accepted {accepted}",
                r.device_name
            ));
        }
    }
    assert!(failures.is_empty(), "{}\n{tally:#?}", failures.join("\n"));
    eprintln!("{tally:#?}");
    assert!(fleet.secrets_sent_to_changed_host_keys().is_empty());

    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
