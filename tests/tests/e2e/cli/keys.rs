//! Keys as deployed: `secrets rotate` under running workers, each role on its own signing keys.

use super::process::{run, text, Proc};
use netraven_shared::domain::JobStatus;
use netraven_tests::FleetBuilder;
use netraven_tests::TestEnv;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_rotate_reseals_everything_while_workers_keep_running() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let key_file = env.dir.path().join("ring.key");
    std::fs::write(&key_file, format!("{}\n", env.key_line))?;
    env.settings.secrets.key = None;
    env.settings.secrets.key_file = Some(key_file.clone());
    let fleet = FleetBuilder::scenario("all-good", 10, 71)?.start().await?;
    env.import(&fleet).await?;
    let roles = env.start(2);
    let first = env
        .run_job(
            &netraven_tests::request("config_backup", &["fleet"], &[]),
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(first.counts.status, JobStatus::CompletedSuccess);

    let out = run(env
        .command()?
        .args([
            "secrets",
            "rotate",
            "--key-file",
            key_file.to_str().unwrap_or_default(),
        ])
        .env_remove("NETRAVEN__SECRETS__KEY"))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("re-sealed 3 credentials"),
        "{}",
        text(&out.stdout)
    );
    let ring = std::fs::read_to_string(&key_file)?;
    let new_id = ring
        .lines()
        .find(|l| !l.starts_with('#'))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        ring.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count(),
        2,
        "old key kept"
    );
    let client = env.pool.get().await?;
    for row in client
        .query("SELECT sealed_secret FROM credentials", &[])
        .await?
    {
        assert!(
            row.get::<_, String>(0)
                .starts_with(&format!("nrv1:{new_id}:")),
            "re-sealed under {new_id}"
        );
    }

    // The running workers meet the new key, reload the ring and log in as before.
    let second = env
        .run_job(
            &netraven_tests::request("config_backup", &["fleet"], &[]),
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(
        second.counts.status,
        JobStatus::CompletedSuccess,
        "{:?}",
        second.counts
    );
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

/// The deployment the docs describe: `netraven signing init` makes the dispatcher's and
/// the workers' keys apart, their public lines make the trusted-keys file, and each role
/// process is given only what it needs — the dispatcher its key, a worker its key and the
/// trusted keys, the aggregator the trusted keys alone. A role missing its key refuses to
/// start and says how to make one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_runs_on_its_own_signing_keys_as_deployed() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 6, 23)?.start().await?;
    env.import(&fleet).await?;
    let dir = env.dir.path();
    let (dispatcher_key, worker_key, trusted) = (
        dir.join("dispatcher.sign"),
        dir.join("worker.sign"),
        dir.join("trusted.pub"),
    );
    let mut public = String::new();
    for (issuer, file) in [("dispatcher", &dispatcher_key), ("worker", &worker_key)] {
        let path = file.to_str().unwrap_or_default();
        let out =
            run(env
                .command()?
                .args(["signing", "init", "--issuer", issuer, "--key-file", path]))?;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let line = text(&out.stdout);
        assert!(line.starts_with(&format!("{issuer} ")), "{line}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(file)?.permissions().mode() & 0o777, 0o600);
        let again =
            run(env
                .command()?
                .args(["signing", "init", "--issuer", issuer, "--key-file", path]))?;
        assert!(
            !again.status.success(),
            "must refuse to overwrite a key file"
        );
        let shown = run(env
            .command()?
            .args(["signing", "public", "--key-file", path]))?;
        assert_eq!(text(&shown.stdout), line, "public prints what init printed");
        public.push_str(&line);
    }
    std::fs::write(&trusted, &public)?;

    let role =
        |name: &str, key: Option<&std::path::Path>, trusts: bool| -> anyhow::Result<Command> {
            let mut cmd = env.command()?;
            cmd.arg(name).env_remove("NETRAVEN__SIGNING__KEY");
            if let Some(key) = key {
                cmd.env("NETRAVEN__SIGNING__KEY_FILE", key);
            }
            if trusts {
                cmd.env("NETRAVEN__SIGNING__TRUSTED_KEYS_FILE", &trusted);
            }
            Ok(cmd)
        };
    // Without its own key, a worker does not start.
    let keyless = run(&mut role("worker", None, true)?)?;
    assert!(!keyless.status.success());
    assert!(
        text(&keyless.stderr).contains("netraven signing init --issuer worker"),
        "{}",
        text(&keyless.stderr)
    );
    let spawn = |mut cmd: Command| -> anyhow::Result<Proc> {
        Ok(Proc(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()?,
        ))
    };
    let roles = vec![
        spawn(role("dispatcher", Some(&dispatcher_key), false)?)?,
        spawn(role("aggregator", None, true)?)?,
        spawn(role("worker", Some(&worker_key), true)?)?,
    ];
    let out = run(env.command()?.args([
        "job",
        "submit",
        "--tag",
        "fleet",
        "--wait",
        "--timeout-secs",
        "60",
    ]))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("COMPLETED_SUCCESS"),
        "{}",
        text(&out.stderr)
    );
    for r in roles {
        assert!(r.terminate(Duration::from_secs(30))?.success());
    }
    fleet.shutdown().await;
    Ok(())
}
