//! The query behind `netraven job rerun JOB --failed`: a final job's devices that did not
//! succeed, and the request that ran them, made into a new request for those devices.

use anyhow::{bail, Context, Result};
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{self, JobRequest, Targets};
use uuid::Uuid;

type Client = deadpool_postgres::Client;

/// What a rerun of a job's failed devices asks for.
#[derive(Debug)]
pub struct Rerun {
    /// The new request, `None` when every device of the job succeeded (or none that
    /// failed is still in the inventory).
    pub request: Option<JobRequest>,
    /// Devices that did not succeed.
    pub failed: usize,
    /// Of those, devices no longer in the inventory, or disabled: not rerun.
    pub left_out: usize,
}

/// The request id of the rerun of `job_id`'s failed devices: the same job's rerun twice
/// is the same request, so a repeat by mistake yields the job the first one made.
pub fn request_id(job_id: Uuid) -> String {
    format!("rerun-failed:{job_id}")
}

/// The rerun of `job_id`'s devices whose outcome is not `SUCCESS`: the same job type,
/// commands and limits, targeting those devices by id. The job must be final.
pub async fn failed(client: &Client, job_id: Uuid, request_id: Option<String>) -> Result<Rerun> {
    let row = client
        .query_opt("SELECT status, request FROM jobs WHERE id = $1", &[&job_id])
        .await?
        .with_context(|| format!("no job {job_id}"))?;
    let status: JobStatus = row
        .get::<_, &str>(0)
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    if !status.is_final() {
        bail!("job {job_id} is still {status}: rerun it once it has ended");
    }
    let original: JobRequest = serde_json::from_value(row.get(1))
        .with_context(|| format!("the request of job {job_id} does not read back"))?;
    let rows = client
        .query(
            "SELECT r.device_id, d.id IS NOT NULL AND d.enabled
             FROM job_results r LEFT JOIN devices d ON d.id = r.device_id
             WHERE r.job_id = $1 AND r.outcome <> 'SUCCESS'
             ORDER BY r.device_id",
            &[&job_id],
        )
        .await?;
    let device_ids: Vec<i64> = rows
        .iter()
        .filter(|r| r.get::<_, bool>(1))
        .map(|r| r.get(0))
        .collect();
    let rerun = Rerun {
        failed: rows.len(),
        left_out: rows.len() - device_ids.len(),
        request: None,
    };
    if device_ids.is_empty() {
        return Ok(rerun);
    }
    if device_ids.len() > messages::MAX_TARGET_DEVICES {
        bail!(
            "{} devices of job {job_id} did not succeed, more than the {} one request may \
             target by id: rerun them by tag",
            device_ids.len(),
            messages::MAX_TARGET_DEVICES
        );
    }
    Ok(Rerun {
        request: Some(JobRequest {
            version: messages::VERSION,
            request_id: request_id.unwrap_or_else(|| self::request_id(job_id)),
            job_type: original.job_type,
            targets: Targets {
                device_ids,
                ..Targets::default()
            },
            commands: original.commands,
            limits: original.limits,
            // A rerun of a high-priority job is high too; a small one is interactive anyway.
            priority: original.priority,
            // The submitter is the broker user who publishes the rerun.
            submitted_by: None,
        }),
        ..rerun
    })
}
