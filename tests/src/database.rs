//! The test databases: the server, the migrated template each is cloned from, dropping one.

use anyhow::{Context, Result};
use netraven_shared::broker::{self, Names};
use netraven_shared::config::AmqpSettings;
use netraven_shared::db;

/// Server URL without a database name.
pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

pub(crate) const HOW_TO_START: &str =
    "start the services with `cargo run -p netraven-cli -- services ensure` \
                            (or run the whole suite with scripts/test, which does it)";
/// Test databases are named with this prefix; scripts/test drops leftovers.
pub const DB_PREFIX: &str = "nrt_";

pub(crate) fn url(db: &str) -> String {
    std::env::var("NETRAVEN_TEST_POSTGRES").unwrap_or_else(|_| POSTGRES.to_string()) + "/" + db
}

/// Deletes the namespace's queues and exchanges and drops the database.
pub(crate) async fn clean_up(amqp: &AmqpSettings, names: &Names, db_name: &str) -> Result<()> {
    if let Ok(conn) = broker::connect(amqp, "test-teardown").await {
        if let Ok(channel) = conn.create_channel().await {
            let _ = broker::delete_topology(&channel, names).await;
        }
        let _ = conn.close(200, "ok".into()).await;
    }
    admin()
        .await?
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .await?;
    Ok(())
}

pub(crate) async fn admin() -> Result<tokio_postgres::Client> {
    let u = url("postgres");
    db::connect(&u)
        .await
        .with_context(|| format!("cannot reach Postgres at {u}: {HOW_TO_START}"))
}

/// The migrated template every test database is cloned from, made once per schema.
pub(crate) async fn ensure_template() -> Result<String> {
    let name = format!("nrt_template_{}", db::migrations_fingerprint());
    let admin = admin().await?;
    admin.execute("SELECT pg_advisory_lock(7472)", &[]).await?;
    let made = async {
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            let building = format!("{name}_building");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .await?;
            admin
                .batch_execute(&format!("CREATE DATABASE {building}"))
                .await?;
            db::migrate(&url(&building)).await?;
            admin
                .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                .await?;
        }
        anyhow::Ok(())
    }
    .await;
    admin
        .execute("SELECT pg_advisory_unlock(7472)", &[])
        .await?;
    made?;
    Ok(name)
}
