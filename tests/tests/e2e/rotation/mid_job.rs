//! Rotating mid-job with a restarting worker fails no device.

use super::keys::{
    first_key_id, install_key_file, job_status, key_ids, mode, reports, sealing_key_ids, secrets,
    succeeded, text, wait_reports, WorkerProcess, BASE_PORT, DEVICES,
};
use anyhow::{bail, Result};
use netraven_shared::domain::JobStatus;
use netraven_simulator::scenario;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_mid_job_with_a_restarting_worker_fails_no_device() -> Result<()> {
    let mut env = TestEnv::new().await?;
    let old_id = env
        .key_line
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    // The operator's key file, shared with worker 1; worker 2 runs on "another machine"
    // and has a copy of its own, which the operator updates by hand.
    let key_file: PathBuf = env.dir.path().join("ring.key");
    let other_host = env.dir.path().join("other-host");
    std::fs::create_dir(&other_host)?;
    let other_key_file = other_host.join("ring.key");
    for path in [&key_file, &other_key_file] {
        install_key_file(path, &format!("# test ring\n{}\n", env.key_line))?;
    }
    env.settings.secrets.key = None;
    env.settings.secrets.key_file = Some(key_file.clone());

    // Every device accepts only the second credential and answers the first one's
    // rejection after 600 ms: each device takes that long, so the job lasts through the
    // rotation (90 devices, 4 at a time, 2 while a worker restarts).
    let mut spec = scenario("all-good", DEVICES, 97)?;
    let second = spec.credentials[1].clone();
    for d in &mut spec.devices {
        d.accepts = vec![(second.username.clone(), second.password.clone())];
        if d.enable_secret.is_some() {
            d.enable_secret = Some(second.password.clone());
        }
    }
    let fleet = FleetBuilder::from_spec(spec)
        .base_port(BASE_PORT)
        .auth_rejection_ms(600)
        .start()
        .await?;
    env.import(&fleet).await?;
    assert_eq!(sealing_key_ids(&env).await?, vec![old_id.clone()]);

    // A report a worker that died two days ago left behind: forgotten when workers start.
    env.pool
        .get()
        .await?
        .execute(
            "INSERT INTO worker_key_reports (worker_id, worker, key_ids, report_interval_ms, \
             started_at, seen_at) \
             VALUES ($1, 'died-long-ago:1', '{}', 10000, now() - interval '2 days', \
             now() - interval '2 days')",
            &[&Uuid::new_v4()],
        )
        .await?;

    let roles = Roles::start_without_workers(&env.settings);
    let w1 = WorkerProcess::start(&env, &key_file)?;
    let mut w2 = WorkerProcess::start(&env, &other_key_file)?;
    wait_reports(&env, "both workers report the old key", |r| {
        r.len() == 2 && r.iter().all(|(_, ids)| *ids == vec![old_id.clone()])
    })
    .await?;
    let left: i64 = env
        .pool
        .get()
        .await?
        .query_one(
            "SELECT count(*) FROM worker_key_reports WHERE worker = 'died-long-ago:1'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(
        left, 0,
        "a report unseen for a day is deleted when a worker starts"
    );

    let first = request("config_backup", &["fleet"], &[]);
    env.publish(&first).await?;
    let first_job = env
        .job_id(&first.request_id, Duration::from_secs(30))
        .await?;
    let until = Instant::now() + Duration::from_secs(30);
    while job_status(&env, first_job).await?.1 == 0 {
        anyhow::ensure!(Instant::now() < until, "the first job never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Step 1: a new key in the ring, not sealing yet. Worker 1 loads it from the file.
    let out = succeeded(&secrets(&env, &key_file, &["add-key"])?, "add-key")?;
    assert!(
        out.contains("next:") && out.contains("secrets reseal"),
        "{out}"
    );
    let ring = key_ids(&key_file)?;
    assert_eq!(ring.len(), 2, "{ring:?}");
    assert_eq!(ring[0], old_id, "the old key still seals");
    let new_id = ring[1].clone();
    assert!(out.contains(&format!("added key {new_id}")), "{out}");
    assert_eq!(mode(&key_file)?, 0o600, "add-key keeps the file's mode");
    wait_reports(&env, "worker 1 holds the new key", |r| {
        r.iter()
            .any(|(w, ids)| *w == w1.name && ids.contains(&new_id))
    })
    .await?;

    // Worker 2 does not have it: reseal is refused, names worker 2 and changes nothing.
    let refused = secrets(&env, &key_file, &["reseal"])?;
    let stderr = text(&refused.stderr);
    assert!(
        !refused.status.success(),
        "reseal must be refused: {stderr}"
    );
    assert!(
        stderr.contains(&w2.name) && stderr.contains(&format!("cannot open key {new_id}")),
        "the refusal names the worker that lacks the key: {stderr}"
    );
    assert!(
        !stderr.contains(&w1.name),
        "worker 1 holds the key: {stderr}"
    );
    assert_eq!(
        first_key_id(&key_file)?,
        old_id,
        "refused: the ring unchanged"
    );
    assert_eq!(sealing_key_ids(&env).await?, vec![old_id.clone()]);

    // Worker 2 restarts mid-job with the new key file: SIGTERM (it finishes its devices
    // and removes its report), the operator copies the file over, it starts again.
    let w2_name = w2.name.clone();
    w2.stop()?;
    assert!(
        !reports(&env).await?.iter().any(|(w, _)| *w == w2_name),
        "a worker stopped cleanly removes its report"
    );
    install_key_file(&other_key_file, &std::fs::read_to_string(&key_file)?)?;
    w2 = WorkerProcess::start(&env, &other_key_file)?;
    wait_reports(&env, "both workers hold the new key", |r| {
        r.len() == 2 && r.iter().all(|(_, ids)| ids.contains(&new_id))
    })
    .await?;
    let (status, done) = job_status(&env, first_job).await?;
    assert_eq!(
        status, "RUNNING",
        "the rotation happens mid-job ({done} devices done)"
    );

    // Step 2: reseal.
    let out = succeeded(&secrets(&env, &key_file, &["reseal"])?, "reseal")?;
    assert!(out.contains("re-sealed 3 credentials"), "{out}");
    assert!(out.contains("2 running workers hold it"), "{out}");
    assert!(
        out.contains(&format!("netraven secrets retire {old_id}")),
        "{out}"
    );
    assert_eq!(first_key_id(&key_file)?, new_id, "the new key seals");
    assert_eq!(key_ids(&key_file)?.len(), 2, "the old key still opens");
    assert_eq!(mode(&key_file)?, 0o600, "reseal keeps the file's mode");
    assert_eq!(sealing_key_ids(&env).await?, vec![new_id.clone()]);
    // A second job, its tasks sealed under the new key, runs alongside the first.
    let second_request = request("config_backup", &["fleet"], &[]);
    env.publish(&second_request).await?;

    // Step 3 refused: an import run with the old key file seals the credentials with the
    // old key again; retire names them and changes nothing.
    env.import(&fleet).await?;
    assert_eq!(sealing_key_ids(&env).await?, vec![old_id.clone()]);
    let refused = secrets(&env, &key_file, &["retire", &old_id])?;
    let stderr = text(&refused.stderr);
    assert!(
        !refused.status.success(),
        "retire must be refused: {stderr}"
    );
    assert!(
        stderr.contains("3 credentials are still sealed with")
            && stderr.contains(&second.name)
            && stderr.contains("secrets reseal"),
        "{stderr}"
    );
    assert_eq!(key_ids(&key_file)?.len(), 2, "refused: the ring unchanged");
    let out = succeeded(&secrets(&env, &key_file, &["reseal"])?, "reseal again")?;
    assert!(out.contains("re-sealed 3 credentials"), "{out}");
    assert_eq!(sealing_key_ids(&env).await?, vec![new_id.clone()]);

    // The first job is still open and its tasks carry secrets sealed with the old key.
    if job_status(&env, first_job).await?.0 == "RUNNING" {
        let refused = secrets(&env, &key_file, &["retire", &old_id])?;
        let stderr = text(&refused.stderr);
        assert!(!refused.status.success(), "retire must wait: {stderr}");
        assert!(
            stderr.contains("open jobs may still carry secrets")
                && stderr.contains(&first_job.to_string()),
            "{stderr}"
        );
    } else {
        bail!("the first job finished before the retire step: make it longer");
    }

    // No device failed.
    for (name, id) in [
        ("first", first_job),
        (
            "second",
            env.job_id(&second_request.request_id, Duration::from_secs(30))
                .await?,
        ),
    ] {
        let job = env.wait_final(id, Duration::from_secs(120)).await?;
        assert_eq!(
            job.counts.status,
            JobStatus::CompletedSuccess,
            "{name} job: {:?}",
            job.counts
        );
        assert_eq!(job.counts.succeeded_devices as usize, DEVICES, "{name} job");
    }

    // Step 3: retire, now that nothing is sealed with the old key.
    let out = succeeded(&secrets(&env, &key_file, &["retire", &old_id])?, "retire")?;
    assert!(out.contains(&format!("retired key {old_id}")), "{out}");
    assert_eq!(key_ids(&key_file)?, vec![new_id.clone()]);
    assert_eq!(mode(&key_file)?, 0o600, "retire keeps the file's mode");
    install_key_file(&other_key_file, &std::fs::read_to_string(&key_file)?)?;
    wait_reports(&env, "both workers dropped the old key", |r| {
        r.len() == 2 && r.iter().all(|(_, ids)| *ids == vec![new_id.clone()])
    })
    .await?;
    let third = env
        .run_job(
            &request("config_backup", &["fleet"], &[]),
            Duration::from_secs(120),
        )
        .await?;
    assert_eq!(
        third.counts.status,
        JobStatus::CompletedSuccess,
        "{:?}",
        third.counts
    );

    w1.stop()?;
    w2.stop()?;
    roles.stop().await?;
    assert!(
        reports(&env).await?.is_empty(),
        "stopped workers leave no report"
    );
    fleet.shutdown().await;
    Ok(())
}
