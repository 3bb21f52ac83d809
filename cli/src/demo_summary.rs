//! The demo's summary: what a job did, the credential counters and a device's diff, as
//! `job show`, `credential list` and `device diff` print them.

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
    let creds = views::credentials::list(client, views::credentials::DEFAULT_WINDOW).await?;
    Ok(views::credentials::render(&creds, Style::detect()))
}

/// `netraven device diff` of the first of `devices` that has two versions to compare (a
/// device that drifted but failed its backup has one).
pub async fn first_diff(client: &deadpool_postgres::Client, devices: &[&str]) -> Result<String> {
    for name in devices {
        match views::diff::between(client, name, None, None, 3).await {
            Ok(diff) => {
                return Ok(format!(
                    "$ netraven device diff {name}\n{}",
                    views::diff::render(&diff, Style::detect())
                ))
            }
            Err(e) if e.is::<views::history::Missing>() => continue,
            Err(e) => return Err(e),
        }
    }
    Ok("no device that changed was backed up\n".into())
}
