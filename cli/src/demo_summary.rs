//! The demo's summary: what a job did, and the credential counters, as `job show` and
//! `credential list` print them.

use crate::views::{self, Style};
use anyhow::Result;
use uuid::Uuid;

/// `netraven job show`: status, counters, devices per outcome, then (with `devices`) one
/// row per device.
pub async fn job(
    client: &deadpool_postgres::Client,
    job_id: Uuid,
    devices: bool,
) -> Result<String> {
    let detail = views::job_show::show(client, job_id, devices).await?;
    Ok(views::job_show::render(&detail, None, Style::detect()))
}

/// Every credential's counters, as `netraven credential list` prints them.
pub async fn credentials(client: &deadpool_postgres::Client) -> Result<String> {
    let creds = views::credentials::list(client).await?;
    Ok(views::credentials::render(&creds, Style::detect()))
}
