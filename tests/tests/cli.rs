//! The `netraven` binary as operators use it: real processes, real services.

use netraven_shared::domain::JobStatus;
use netraven_simulator::{scenario, Fleet, FleetOptions};
use netraven_tests::{netraven_binary, TestEnv};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd.stdin(Stdio::null()).output()?;
    Ok(out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn migrate_applies_nothing_the_second_time() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // The test database is a clone of a migrated template: already up to date.
    let out = run(env.command()?.arg("migrate"))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("schema up to date"),
        "{}",
        text(&out.stdout)
    );
    let again = run(env.command()?.arg("migrate"))?;
    assert_eq!(text(&again.stdout), text(&out.stdout));
    env.teardown().await
}

#[test]
fn config_errors_name_the_key_and_show_masks_secrets() -> anyhow::Result<()> {
    let bin = netraven_binary()?;
    let clean = |c: &mut Command| {
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NETRAVEN")) {
            c.env_remove(k);
        }
    };
    let mut cmd = Command::new(&bin);
    clean(&mut cmd);
    let out = run(cmd
        .args(["config", "show"])
        .env("NETRAVEN__WORKER__MAX_IN_FLIGH", "3"))?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("max_in_fligh"),
        "{}",
        text(&out.stderr)
    );

    let mut cmd = Command::new(&bin);
    clean(&mut cmd);
    let out = run(cmd
        .args(["config", "show"])
        .env("NETRAVEN__WORKER__CONNECT_TIMEOUT_MS", "0"))?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("worker.connect_timeout_ms"),
        "{}",
        text(&out.stderr)
    );

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("netraven.toml");
    std::fs::write(
        &file,
        "[database]\nurl = \"postgres://app:hunter2@db:5432/n\"\n[worker]\nmax_in_flight = 17\n",
    )?;
    let mut cmd = Command::new(&bin);
    clean(&mut cmd);
    let out = run(cmd
        .args([
            "--config",
            file.to_str().unwrap_or_default(),
            "config",
            "show",
        ])
        .env(
            "NETRAVEN__SECRETS__KEY",
            "k1 c2VjcmV0LWtleS1tYXRlcmlhbC0tLS0tLS0tLS0tLS0=",
        )
        .env("NETRAVEN__AMQP__NAMESPACE", "from-env"))?;
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(shown.contains("max_in_flight = 17"), "{shown}");
    assert!(shown.contains("namespace = \"from-env\""), "{shown}");
    for secret in ["hunter2", "c2VjcmV0", "guest:guest"] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    Ok(())
}

#[tokio::test]
async fn secrets_init_and_inventory_import_are_safe_and_idempotent() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let key = env.dir.path().join("secret.key");
    let out = run(env.command()?.args([
        "secrets",
        "init",
        "--key-file",
        key.to_str().unwrap_or_default(),
    ]))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);
    let again = run(env.command()?.args([
        "secrets",
        "init",
        "--key-file",
        key.to_str().unwrap_or_default(),
    ]))?;
    assert!(!again.status.success(), "must refuse to overwrite a key");

    let inventory = env.dir.path().join("inv.yaml");
    std::fs::write(env.dir.path().join("bg.secret"), "break-glass-pw\n")?;
    let write = |port: u16| {
        std::fs::write(
            &inventory,
            format!(
                "credentials:\n\
                 - {{ name: tacacs, username: netops, priority: 10, tags: [core], secret_env: NRT_TACACS }}\n\
                 - {{ name: breakglass, username: admin, priority: 20, tags: [core], secret_file: bg.secret }}\n\
                 - {{ name: legacy, username: cisco, priority: 30, tags: [old], secret: cisco-inline }}\n\
                 devices:\n\
                 - {{ name: r1, host: 10.0.0.1, platform: cisco_ios, tags: [core] }}\n\
                 - {{ name: r2, host: 10.0.0.2, port: {port}, platform: linux, tags: [core, old] }}\n"
            ),
        )
    };
    write(22)?;
    let import = |env: &TestEnv| -> anyhow::Result<Output> {
        run(env
            .command()?
            .args([
                "inventory",
                "import",
                inventory.to_str().unwrap_or_default(),
            ])
            .env("NETRAVEN__SECRETS__KEY_FILE", &key)
            .env_remove("NETRAVEN__SECRETS__KEY")
            .env("NRT_TACACS", "tacacs-pw"))
    };
    let out = import(&env)?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 2 devices, 3 credentials"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("\"legacy\" has its secret inline"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("cisco-inline"),
        "the warning must not print the secret"
    );
    write(2222)?;
    assert!(import(&env)?.status.success());

    let client = env.pool.get().await?;
    let counts = client
        .query_one(
            "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM credentials),
                    (SELECT count(*) FROM device_tags), (SELECT port FROM devices WHERE name = 'r2')",
            &[],
        )
        .await?;
    assert_eq!(
        (
            counts.get::<_, i64>(0),
            counts.get::<_, i64>(1),
            counts.get::<_, i64>(2)
        ),
        (2, 3, 3)
    );
    assert_eq!(counts.get::<_, i32>(3), 2222, "re-import updates");
    for row in client
        .query("SELECT sealed_secret FROM credentials", &[])
        .await?
    {
        let sealed: String = row.get(0);
        assert!(sealed.starts_with("nrv1:"), "{sealed}");
        for plain in ["tacacs-pw", "break-glass-pw", "cisco-inline"] {
            assert!(!sealed.contains(plain));
        }
    }

    // Without a key nothing that needs one starts, and the error says what to do.
    let out = run(env
        .command()?
        .args([
            "inventory",
            "import",
            inventory.to_str().unwrap_or_default(),
        ])
        .env_remove("NETRAVEN__SECRETS__KEY"))?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("secrets.key_file"),
        "{}",
        text(&out.stderr)
    );
    let out = run(env
        .command()?
        .arg("worker")
        .env_remove("NETRAVEN__SECRETS__KEY"))?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("netraven secrets init"),
        "{}",
        text(&out.stderr)
    );
    env.teardown().await
}

struct Proc(Child);

impl Proc {
    fn terminate(mut self, grace: Duration) -> anyhow::Result<std::process::ExitStatus> {
        use nix::sys::signal::{kill, Signal};
        kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            Signal::SIGTERM,
        )?;
        let until = Instant::now() + grace;
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            anyhow::ensure!(
                Instant::now() < until,
                "did not exit within {grace:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_run_as_processes_several_at_once_and_stop_cleanly_on_sigterm() -> anyhow::Result<()>
{
    let env = TestEnv::new().await?;
    let fleet = Fleet::start(scenario("mixed", 40, 21)?, FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let spawn = |role: &str| -> anyhow::Result<Proc> {
        Ok(Proc(
            env.command()?
                .arg(role)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()?,
        ))
    };
    let roles = vec![
        spawn("dispatcher")?,
        spawn("dispatcher")?,
        spawn("aggregator")?,
        spawn("aggregator")?,
        spawn("worker")?,
        spawn("worker")?,
    ];

    let mut submit = env.command()?;
    submit.args([
        "job",
        "submit",
        "--tag",
        "fleet",
        "--tag",
        "orphan",
        "--wait",
        "--timeout-secs",
        "60",
    ]);
    let out = run(&mut submit)?;
    let job_id: uuid::Uuid = text(&out.stdout).trim().parse()?;
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit code reflects a non-success status"
    );
    assert!(
        text(&out.stderr).contains("COMPLETED_PARTIAL_FAILURE"),
        "{}",
        text(&out.stderr)
    );

    let shown = run(env
        .command()?
        .args(["job", "show", &job_id.to_string(), "--devices"]))?;
    let shown = text(&shown.stdout);
    assert!(shown.contains("COMPLETED_PARTIAL_FAILURE"), "{shown}");
    assert!(
        shown.contains("40 total, 40 reported, 32 succeeded, 4 without credentials"),
        "{shown}"
    );
    assert!(
        shown.contains("dev-00001") && shown.contains("NO_CREDENTIALS"),
        "{shown}"
    );

    // A request of only good devices exits 0.
    let ok_device = "dev-00001";
    let out = run(env.command()?.args([
        "job",
        "submit",
        "--device",
        ok_device,
        "--wait",
        "--timeout-secs",
        "60",
    ]))?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE status = $1), count(*) FROM jobs",
            &[&JobStatus::CompletedSuccess.as_str()],
        )
        .await?;
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (1, 2),
        "each request ran exactly once"
    );

    for role in roles {
        let status = role.terminate(Duration::from_secs(30))?;
        assert!(status.success(), "a role exited with {status} on SIGTERM");
    }
    fleet.shutdown().await;
    env.teardown().await
}

#[test]
fn the_demo_runs_end_to_end_and_exits_zero() -> anyhow::Result<()> {
    let mut cmd = Command::new(netraven_binary()?);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NETRAVEN")) {
        cmd.env_remove(k);
    }
    let out = run(cmd.args([
        "demo",
        "--devices",
        "60",
        "--workers",
        "2",
        "--base-port",
        "28000",
    ]))?;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("COMPLETED_PARTIAL_FAILURE"), "{stdout}");
    assert!(
        stdout.contains("60 total, 60 reported, 48 succeeded, 6 without credentials"),
        "{stdout}"
    );
    assert!(
        stdout.contains("every role stopped cleanly on SIGTERM"),
        "{stdout}"
    );
    for outcome in ["SUCCESS", "AUTH_FAILED", "NO_CREDENTIALS"] {
        assert!(
            stdout.contains(outcome),
            "{outcome} missing from the summary:\n{stdout}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_rotate_reseals_everything_while_workers_keep_running() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let key_file = env.dir.path().join("ring.key");
    std::fs::write(&key_file, format!("{}\n", env.key_line))?;
    env.settings.secrets.key = None;
    env.settings.secrets.key_file = Some(key_file.clone());
    let fleet = Fleet::start(scenario("all-good", 10, 71)?, FleetOptions::random_base()).await?;
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
    env.teardown().await
}

/// The deployment the docs describe: `netraven signing init` makes the dispatcher's and
/// the workers' keys apart, their public lines make the trusted-keys file, and each role
/// process is given only what it needs — the dispatcher its key, a worker its key and the
/// trusted keys, the aggregator the trusted keys alone. A role missing its key refuses to
/// start and says how to make one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_runs_on_its_own_signing_keys_as_deployed() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = Fleet::start(scenario("all-good", 6, 23)?, FleetOptions::random_base()).await?;
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
    env.teardown().await
}
