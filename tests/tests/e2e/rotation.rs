//! Rotating the sealing key mid-job, step by step (`secrets add-key`, the workers load it,
//! `secrets reseal`, `secrets retire`), with two worker processes, one of them on "another
//! machine" (a key file of its own) that restarts during the rotation: no device fails,
//! reseal waits for the worker that lacks the new key and names it, retire waits for the
//! credentials and the open job still sealed with the old key, and the key file keeps its
//! mode.

use anyhow::{bail, Context, Result};
use netraven_shared::domain::JobStatus;
use netraven_simulator::{scenario, Fleet, FleetOptions};
use netraven_tests::{request, Roles, TestEnv};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The simulated devices listen from this port up (this test's range is 25900-25999).
const BASE_PORT: u16 = 25900;
const DEVICES: usize = 90;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

/// Writes a key file the way an operator distributes one: mode 0600.
fn install_key_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// `netraven secrets …` against this test's world and key file.
fn secrets(env: &TestEnv, key_file: &Path, args: &[&str]) -> Result<Output> {
    let mut cmd = env.command()?;
    cmd.env_remove("NETRAVEN__SECRETS__KEY")
        .arg("secrets")
        .args(args)
        .arg("--key-file")
        .arg(key_file)
        .stdin(Stdio::null());
    Ok(cmd.output()?)
}

fn succeeded(out: &Output, what: &str) -> Result<String> {
    if !out.status.success() {
        bail!("{what} failed: {}{}", text(&out.stdout), text(&out.stderr));
    }
    Ok(text(&out.stdout))
}

/// A `netraven worker` process with a key file of its own; SIGTERM on stop, killed on drop.
struct WorkerProcess {
    child: Child,
    /// `host:pid`, as the worker reports itself.
    name: String,
}

impl WorkerProcess {
    fn start(env: &TestEnv, key_file: &Path) -> Result<WorkerProcess> {
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
    fn stop(mut self) -> Result<()> {
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
async fn reports(env: &TestEnv) -> Result<Vec<(String, Vec<String>)>> {
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
async fn wait_reports(
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

async fn sealing_key_ids(env: &TestEnv) -> Result<Vec<String>> {
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

async fn job_status(env: &TestEnv, id: Uuid) -> Result<(String, i32)> {
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT status, completed_devices FROM jobs WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

fn first_key_id(path: &Path) -> Result<String> {
    let ring = std::fs::read_to_string(path)?;
    ring.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split(' ').next())
        .map(str::to_string)
        .context("empty key ring")
}

fn key_ids(path: &Path) -> Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect())
}

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
    let fleet = Fleet::start(
        spec,
        FleetOptions {
            base_port: BASE_PORT,
            auth_rejection_ms: 600,
            ..FleetOptions::default()
        },
    )
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

/// The refusals that need no job: `rotate` waiting for a worker that never loads the new
/// key, a reseal whose credentials cannot all be opened (the key file is put back), and
/// retiring the sealing key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_steps_change_nothing() -> Result<()> {
    let env = TestEnv::new().await?;
    let old_id = env
        .key_line
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    let key_file = env.dir.path().join("ring.key");
    install_key_file(&key_file, &format!("{}\n", env.key_line))?;
    let client = env.pool.get().await?;
    let sealed = env.keyring.seal(&"s3cret-value".into())?;
    client
        .execute(
            "INSERT INTO credentials (name, username, sealed_secret) VALUES ('tacacs', 'netops', $1)",
            &[&sealed],
        )
        .await?;
    // A worker on a host nobody updates: it reports the old key only, every second.
    let stuck = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO worker_key_reports (worker_id, worker, key_ids, report_interval_ms) \
             VALUES ($1, 'forgotten-host:4242', $2, 60000)",
            &[&stuck, &vec![old_id.clone()]],
        )
        .await?;

    let out = secrets(&env, &key_file, &["rotate", "--wait-secs", "1"])?;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "rotate must stop: {stderr}");
    assert!(
        stderr.contains("forgotten-host:4242") && stderr.contains("netraven secrets reseal"),
        "{stderr}"
    );
    let ring = key_ids(&key_file)?;
    assert_eq!(ring.len(), 2, "the new key is in the ring: {ring:?}");
    assert_eq!(ring[0], old_id, "and does not seal");
    let new_id = ring[1].clone();
    assert_eq!(sealing_key_ids(&env).await?, vec![old_id.clone()]);

    // The worker goes away (its report is removed); a credential sealed with a key this
    // ring does not hold makes the reseal fail as a whole, and the file is put back.
    client
        .execute(
            "DELETE FROM worker_key_reports WHERE worker_id = $1",
            &[&stuck],
        )
        .await?;
    let stranger = netraven_shared::sealing::KeyRing::parse(
        &netraven_shared::sealing::KeyRing::generate_line()?,
    )?;
    client
        .execute(
            "INSERT INTO credentials (name, username, sealed_secret) VALUES ('elsewhere', 'x', $1)",
            &[&stranger.seal(&"0ther-plaintext-77".into())?],
        )
        .await?;
    let out = secrets(&env, &key_file, &["reseal"])?;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "reseal must fail: {stderr}");
    assert!(
        stderr.contains("\"elsewhere\"") && stderr.contains("is as it was"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cret-value") && !stderr.contains("0ther-plaintext-77"),
        "{stderr}"
    );
    assert_eq!(first_key_id(&key_file)?, old_id, "the file is put back");
    assert_eq!(mode(&key_file)?, 0o600);
    assert_eq!(
        client
            .query_one("SELECT count(*) FROM sealing_keys", &[])
            .await?
            .get::<_, i64>(0),
        0
    );

    client
        .execute("DELETE FROM credentials WHERE name = 'elsewhere'", &[])
        .await?;
    let out = succeeded(&secrets(&env, &key_file, &["reseal"])?, "reseal")?;
    assert!(out.contains("re-sealed 1 credentials"), "{out}");
    assert!(out.contains("no worker is running"), "{out}");
    assert_eq!(first_key_id(&key_file)?, new_id);

    let out = secrets(&env, &key_file, &["retire", &new_id])?;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("is the sealing key"), "{stderr}");
    let out = secrets(&env, &key_file, &["retire", "no-such-key"])?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("holds no key"),
        "{}",
        text(&out.stderr)
    );
    // No credential and no open job under the old key: it goes.
    let out = succeeded(&secrets(&env, &key_file, &["retire", &old_id])?, "retire")?;
    assert!(out.contains(&format!("retired key {old_id}")), "{out}");
    assert_eq!(key_ids(&key_file)?, vec![new_id]);
    assert_eq!(mode(&key_file)?, 0o600);
    drop(client);
    Ok(())
}
