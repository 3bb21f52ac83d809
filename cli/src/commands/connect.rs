//! A pooled Postgres connection, for the commands that read or write the database.

use anyhow::{Context, Result};
use netraven_shared::config::Settings;

pub(super) async fn connect(settings: &Settings) -> Result<deadpool_postgres::Client> {
    let pool = netraven_shared::db::pool(&settings.database)?;
    pool.get().await.context("cannot connect to Postgres")
}
