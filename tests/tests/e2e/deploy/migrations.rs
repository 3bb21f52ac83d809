//! Concurrent `netraven migrate` runs apply each migration once and all succeed.

use anyhow::{ensure, Context, Result};
use netraven_shared::db;
use netraven_tests::{netraven_binary, DB_PREFIX, POSTGRES};
use std::process::Command;

/// A database of this test's own, dropped when the test ends however it ends.
struct Database {
    name: String,
}

impl Database {
    fn url(&self) -> String {
        format!("{}/{}", postgres(), self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        })
        .join();
    }
}

fn postgres() -> String {
    std::env::var("NETRAVEN_TEST_POSTGRES").unwrap_or_else(|_| POSTGRES.to_string())
}

fn admin(sql: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let url = format!("{}/postgres", postgres());
        let client = db::connect(&url).await.with_context(|| {
            format!(
                "cannot reach Postgres at {url}: start it with \
                 `cargo run -p netraven-cli -- services ensure`"
            )
        })?;
        client.batch_execute(sql).await?;
        anyhow::Ok(())
    })
}

fn history(url: &str) -> Result<i64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = db::connect(url).await?;
        let row = client
            .query_one("SELECT count(*) FROM refinery_schema_history", &[])
            .await?;
        anyhow::Ok(row.get::<_, i64>(0))
    })
}

/// Every role's pod runs `netraven migrate` first; a rollout starts many at once.
#[test]
fn concurrent_migrations_apply_each_migration_once_and_all_succeed() -> Result<()> {
    let database = Database {
        name: format!("{DB_PREFIX}deploy_{}", uuid::Uuid::new_v4().simple()),
    };
    admin(&format!("CREATE DATABASE {}", database.name))?;
    let bin = netraven_binary()?;
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut cmd = Command::new(&bin);
            for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NETRAVEN")) {
                cmd.env_remove(k);
            }
            cmd.arg("migrate")
                .env("NETRAVEN__DATABASE__URL", database.url())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    let mut applied = 0;
    for child in children {
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success(),
            "a concurrent `netraven migrate` failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if stdout.starts_with("applied ") {
            applied += 1;
        } else {
            ensure!(stdout.starts_with("schema up to date"), "{stdout}");
        }
    }
    ensure!(
        applied == 1,
        "{applied} runs applied migrations, want exactly 1"
    );
    let rows = history(&database.url())?;
    ensure!(
        rows == db::migration_names().len() as i64,
        "{rows} migrations recorded, the build has {}",
        db::migration_names().len()
    );
    Ok(())
}
