//! Setting up: `migrate`, `config` errors and masking, `secrets init` and `inventory import`.

use super::process::{run, text};
use netraven_tests::{netraven_binary, TestEnv};
use std::process::{Command, Output};

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
    Ok(())
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
                "tags:\n\
                 - {{ name: core }}\n\
                 - {{ name: old, description: kept for the legacy boxes }}\n\
                 credentials:\n\
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
    Ok(())
}
