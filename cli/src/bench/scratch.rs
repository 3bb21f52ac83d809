//! A scratch database and broker namespace for one benchmark run, removed afterwards.

use anyhow::{Context, Result};
use netraven_shared::broker::{self, Names};
use netraven_shared::config::Settings;
use netraven_shared::db;

/// A fresh, migrated database and a namespace of its own.
pub struct Scratch {
    pub settings: Settings,
    pub pool: deadpool_postgres::Pool,
    admin_url: String,
    name: String,
}

impl Scratch {
    pub async fn new(base: &Settings, label: &str) -> Result<Scratch> {
        let name = format!("netraven_bench_{label}_{}", std::process::id());
        let admin_url = crate::demo::with_database(&base.database.url, "postgres");
        let admin = db::connect(&admin_url)
            .await
            .context("cannot reach Postgres")?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let mut settings = base.clone();
        settings.database.url = crate::demo::with_database(&base.database.url, &name);
        settings.database.pool_size = 16;
        settings.amqp.namespace = format!("bench-{label}-{}", std::process::id());
        db::migrate(&settings.database.url).await?;
        let pool = db::pool(&settings.database)?;
        Ok(Scratch {
            settings,
            pool,
            admin_url,
            name,
        })
    }

    pub fn names(&self) -> Names {
        Names::new(&self.settings.amqp.namespace)
    }

    /// Drops the database and the namespace's queues.
    pub async fn remove(self) -> Result<()> {
        self.pool.close();
        if let Ok(conn) = broker::connect(&self.settings.amqp, "bench-cleanup").await {
            if let Ok(ch) = conn.create_channel().await {
                let _ = broker::delete_topology(&ch, &self.names()).await;
                // Closed before its connection: a channel dropped on a closing connection
                // makes lapin log an error.
                let _ = ch.close(200, "ok".into()).await;
            }
            let _ = conn.close(200, "ok".into()).await;
        }
        let admin = db::connect(&self.admin_url).await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        Ok(())
    }
}
