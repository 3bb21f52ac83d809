//! `/api/jobs/{id}/devices/{device}/output`: what one device of a `command` job answered,
//! per command, as `netraven job outputs JOB --device NAME` shows it.

use crate::auth::Read;
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use netraven_reads::history::{self, CommandOutput};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// One device's answers to a job's commands, in the order they ran.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceOutput {
    pub job_id: Uuid,
    pub device: String,
    /// Empty for a device that stored none (only `command` jobs store outputs).
    pub outputs: Vec<CommandOutput>,
}

/// A device's command outputs in a job: the exact bytes in `output_base64` when they are
/// not plain UTF-8 text.
#[utoipa::path(operation_id = "job_device_output", get, path = "/api/jobs/{id}/devices/{device}/output", tag = "jobs",
    params(("id" = Uuid, Path), ("device" = String, Path)),
    responses((status = 200, body = DeviceOutput), (status = 404, description = "no such job, or the device is not in it")))]
pub async fn device(
    _: Read,
    State(s): State<Arc<AppState>>,
    path: Result<Path<(Uuid, String)>, PathRejection>,
) -> Result<Json<DeviceOutput>, Problem> {
    let Path((job_id, device)) = path?;
    let client = s.pool.get().await.map_err(Problem::internal)?;
    let outputs = history::command_outputs(&client, job_id, Some(&device)).await?;
    if outputs.is_empty() && !history::job_has_device(&client, job_id, &device).await? {
        return Err(Problem::not_found(format!(
            "device {device:?} is not in job {job_id}"
        )));
    }
    Ok(Json(DeviceOutput {
        job_id,
        device,
        outputs,
    }))
}
