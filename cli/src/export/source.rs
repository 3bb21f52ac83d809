//! The export's SQL: which versions a repository lacks (a plan in a temporary table), the
//! jobs that stored them in order, and their contents in pages.
//!
//! A version is planned when its job has a final status, the repository has no commit for
//! that job, and it is newer than every version of its device already exported or planned
//! before it (jobs in order of finished_at): a device's file never goes backwards.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::Client;
use uuid::Uuid;

/// Rows of content read per query: configurations are up to `worker.max_output_bytes`
/// each, so a page holds at most a few tens of megabytes.
const PAGE: i64 = 100;

/// One job with something to commit.
#[derive(Debug, Clone)]
pub struct PlannedJob {
    pub id: Uuid,
    pub job_type: String,
    pub finished_at: DateTime<Utc>,
    pub devices: i64,
}

/// One device of a job's commit message.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub version: i32,
    pub lines_added: Option<i32>,
    pub lines_removed: Option<i32>,
}

/// One file to write: where (from the device's name, tags and platform now), and its bytes.
#[derive(Debug)]
pub struct Content {
    pub device_id: i64,
    pub version: i32,
    pub name: String,
    pub first_tag: Option<String>,
    pub platform: String,
    pub bytes: Vec<u8>,
}

/// Builds the plan for a repository that holds `exported` jobs, limited to devices with
/// one of `tags` when some are given. Returns the jobs to commit, in commit order.
pub async fn plan(client: &Client, exported: &[Uuid], tags: &[String]) -> Result<Vec<PlannedJob>> {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS pg_temp.export_done, pg_temp.export_plan;
             CREATE TEMP TABLE export_done (job_id uuid PRIMARY KEY);",
        )
        .await?;
    client
        .execute(
            "INSERT INTO export_done SELECT DISTINCT unnest($1::uuid[])",
            &[&exported],
        )
        .await
        .context("cannot record the exported jobs")?;
    client
        .execute(
            "CREATE TEMP TABLE export_plan AS
             WITH exported AS (
                 SELECT c.device_id, max(c.version) AS version
                 FROM device_configs c JOIN export_done e ON e.job_id = c.first_job_id
                 GROUP BY c.device_id
             ), candidates AS (
                 SELECT c.id AS config_id, c.device_id, c.version, c.lines_added, c.lines_removed,
                        j.id AS job_id, j.job_type, j.finished_at,
                        max(c.version) OVER (PARTITION BY c.device_id
                                             ORDER BY j.finished_at, j.id, c.version
                                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                            AS planned_before
                 FROM device_configs c
                 JOIN jobs j ON j.id = c.first_job_id
                 WHERE j.status NOT IN ('PENDING', 'RUNNING') AND j.finished_at IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM export_done e WHERE e.job_id = j.id)
             )
             SELECT k.*
             FROM candidates k
             LEFT JOIN exported e ON e.device_id = k.device_id
             WHERE k.version > greatest(coalesce(k.planned_before, 0), coalesce(e.version, 0))
               AND (cardinality($1::text[]) = 0 OR EXISTS (
                   SELECT 1 FROM device_tags dt JOIN tags t ON t.id = dt.tag_id
                   WHERE dt.device_id = k.device_id AND t.name = ANY($1::text[])))",
            &[&tags],
        )
        .await
        .context("cannot plan the export")?;
    client
        .batch_execute("CREATE INDEX ON export_plan (job_id, device_id, version)")
        .await?;
    let rows = client
        .query(
            "SELECT job_id, job_type, finished_at, count(*)
             FROM export_plan GROUP BY job_id, job_type, finished_at
             ORDER BY finished_at, job_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| PlannedJob {
            id: r.get(0),
            job_type: r.get(1),
            finished_at: r.get(2),
            devices: r.get(3),
        })
        .collect())
}

/// The first `limit` devices of a job's commit, by name.
pub async fn listing(client: &Client, job: Uuid, limit: i64) -> Result<Vec<Listed>> {
    let rows = client
        .query(
            "SELECT d.name, p.version, p.lines_added, p.lines_removed
             FROM export_plan p JOIN devices d ON d.id = p.device_id
             WHERE p.job_id = $1 ORDER BY d.name COLLATE \"C\", p.version LIMIT $2",
            &[&job, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Listed {
            name: r.get(0),
            version: r.get(1),
            lines_added: r.get(2),
            lines_removed: r.get(3),
        })
        .collect())
}

/// The next page of a job's files after `after` (device id, version), in that order.
pub async fn contents(client: &Client, job: Uuid, after: (i64, i32)) -> Result<Vec<Content>> {
    let rows = client
        .query(
            "SELECT p.device_id, p.version, d.name, d.platform,
                    (SELECT t.name FROM device_tags dt JOIN tags t ON t.id = dt.tag_id
                     WHERE dt.device_id = d.id ORDER BY t.name COLLATE \"C\" LIMIT 1),
                    coalesce(c.content_bytes, convert_to(c.content, 'UTF8'))
             FROM export_plan p
             JOIN devices d ON d.id = p.device_id
             JOIN device_configs c ON c.id = p.config_id
             WHERE p.job_id = $1 AND (p.device_id, p.version) > ($2, $3)
             ORDER BY p.device_id, p.version LIMIT $4",
            &[&job, &after.0, &after.1, &PAGE],
        )
        .await
        .context("cannot read configurations")?;
    Ok(rows
        .iter()
        .map(|r| Content {
            device_id: r.get(0),
            version: r.get(1),
            name: r.get(2),
            platform: r.get(3),
            first_tag: r.get(4),
            bytes: r.get(5),
        })
        .collect())
}
