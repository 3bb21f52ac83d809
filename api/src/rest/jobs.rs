//! `/api/jobs`: submit (through the dispatchers, as the token's submitter), list, show,
//! results, logs, cancel.

use crate::auth::{Caller, Read, Submit};
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use netraven_dispatcher::job_rows::{DeviceResult, ResultsPage};
use netraven_reads::jobs::{self, JobFilter, JobSummary, LogLine};
use netraven_reads::page::Page;
use netraven_shared::domain::{JobStatus, Outcome, Priority};
use netraven_shared::messages::{
    CancelAnswer, CancelReply, JobCancel, JobRequest, Limits, Targets,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

type Shared = State<Arc<AppState>>;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    pub status: Option<JobStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub job_type: Option<String>,
    pub submitter: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Jobs, newest first.
#[utoipa::path(operation_id = "job_list", get, path = "/api/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, body = Page<JobSummary>)))]
pub async fn list(
    _: Read,
    State(s): Shared,
    q: Result<Query<JobQuery>, QueryRejection>,
) -> Result<Json<Page<JobSummary>>, Problem> {
    let Query(q) = q?;
    let limit = s.page_size(q.limit)?;
    let filter = JobFilter {
        status: q.status,
        job_type: q.job_type,
        submitter: q.submitter,
        since: q.since,
        before: super::cursor(q.cursor.as_deref())?,
    };
    let client = s.pool.get().await.map_err(Problem::internal)?;
    let rows = jobs::list(&client, &filter, limit as i64 + 1).await?;
    Ok(Json(Page::of(rows, limit, |j| (j.created_at, j.id))))
}

/// One job: status, counters, devices per outcome.
#[utoipa::path(operation_id = "job_show", get, path = "/api/jobs/{id}", tag = "jobs", params(("id" = Uuid, Path)),
    responses((status = 200, body = JobSummary), (status = 404, description = "no such job")))]
pub async fn show(
    _: Read,
    State(s): Shared,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
) -> Result<Json<JobSummary>, Problem> {
    let Path(id) = id?;
    let client = s.pool.get().await.map_err(Problem::internal)?;
    Ok(Json(jobs::summary(&client, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultQuery {
    /// Only these outcomes, comma-separated (`TIMEOUT,UNREACHABLE`).
    pub outcome: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A job's per-device results, by device name.
#[utoipa::path(operation_id = "job_results", get, path = "/api/jobs/{id}/results", tag = "jobs", params(("id" = Uuid, Path), ResultQuery),
    responses((status = 200, body = Page<DeviceResult>), (status = 404, description = "no such job")))]
pub async fn results(
    _: Read,
    State(s): Shared,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
    q: Result<Query<ResultQuery>, QueryRejection>,
) -> Result<Json<Page<DeviceResult>>, Problem> {
    let (Path(id), Query(q)) = (id?, q?);
    let limit = s.page_size(q.limit)?;
    let outcomes = q
        .outcome
        .as_deref()
        .map(|o| {
            o.split(',')
                .map(|o| o.trim().parse::<Outcome>())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(Problem::bad_request)?
        .unwrap_or_default();
    let page = ResultsPage {
        outcomes,
        after: super::cursor(q.cursor.as_deref())?,
        limit: Some(limit as i64 + 1),
    };
    let client = s.pool.get().await.map_err(Problem::internal)?;
    let rows = jobs::results(&client, id, &page).await?;
    Ok(Json(Page::of(rows, limit, |r| r.device_name.clone())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Only this device's lines.
    pub device: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A job's log lines, in order.
#[utoipa::path(operation_id = "job_logs", get, path = "/api/jobs/{id}/logs", tag = "jobs", params(("id" = Uuid, Path), LogQuery),
    responses((status = 200, body = Page<LogLine>), (status = 404, description = "no such job")))]
pub async fn logs(
    _: Read,
    State(s): Shared,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Page<LogLine>>, Problem> {
    let (Path(id), Query(q)) = (id?, q?);
    let limit = s.page_size(q.limit)?;
    let after: Option<i64> = super::cursor(q.cursor.as_deref())?;
    let client = s.pool.get().await.map_err(Problem::internal)?;
    let rows = jobs::logs(
        &client,
        id,
        q.device.as_deref(),
        after,
        Some(limit as i64 + 1),
    )
    .await?;
    Ok(Json(Page::of(rows, limit, |l| l.id)))
}

/// A job to submit: the job request's fields; `request_id` is made when absent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitJob {
    /// Idempotency key: the same id twice is the same job. Default: a new UUID.
    pub request_id: Option<String>,
    /// `config_backup`, `command` or `reachability`.
    pub job_type: String,
    #[schema(value_type = Object)]
    pub targets: Option<serde_json::Value>,
    #[serde(default)]
    pub commands: Vec<String>,
    #[schema(value_type = Object)]
    pub limits: Option<serde_json::Value>,
    pub priority: Option<Priority>,
}

/// What the dispatcher made of a submitted job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobAccepted {
    pub job_id: Uuid,
    pub request_id: String,
    /// The job's status when dispatch ended: `RUNNING`, or a final status.
    pub status: Option<JobStatus>,
}

/// Submits a job as the token's submitter, through the dispatchers and their rules.
#[utoipa::path(operation_id = "job_submit", post, path = "/api/jobs", tag = "jobs", request_body = SubmitJob,
    responses((status = 202, body = JobAccepted),
        (status = 403, description = "a read token, or the submitter may not run this job (recorded `FAILED_NOT_PERMITTED`; `job_id` names it)"),
        (status = 422, description = "not a job request the dispatchers take (recorded `FAILED_INVALID_REQUEST` when they refused it)"),
        (status = 503)))]
pub async fn submit(
    Caller(holder): Submit,
    State(s): Shared,
    body: Result<Json<SubmitJob>, JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let Json(body) = body?;
    let request = request_of(body)?;
    let reply = s
        .gateway
        .submit(&request, &holder.submitter)
        .await
        .map_err(|e| Problem::unavailable(e.to_string()))?;
    let Some(job_id) = reply.job_id else {
        return Err(Problem::bad_request(reply.error.unwrap_or_default()));
    };
    match reply.status {
        Some(JobStatus::FailedNotPermitted) => Err(Problem::forbidden(
            reply.error.unwrap_or_else(|| "not permitted".into()),
        )
        .with_job(job_id)),
        Some(JobStatus::FailedInvalidRequest) => {
            Err(Problem::unprocessable(reply.error.unwrap_or_default()).with_job(job_id))
        }
        status => Ok((
            StatusCode::ACCEPTED,
            [(header::LOCATION, format!("/api/jobs/{job_id}"))],
            Json(JobAccepted {
                job_id,
                request_id: request.request_id,
                status,
            }),
        )),
    }
}

/// The job request `body` stands for, checked as the dispatcher checks a message.
fn request_of(body: SubmitJob) -> Result<JobRequest, Problem> {
    let targets: Targets =
        serde_json::from_value(body.targets.unwrap_or_else(|| serde_json::json!({})))
            .map_err(|e| Problem::unprocessable(format!("targets: {e}")))?;
    let limits: Limits =
        serde_json::from_value(body.limits.unwrap_or_else(|| serde_json::json!({})))
            .map_err(|e| Problem::unprocessable(format!("limits: {e}")))?;
    let request = JobRequest {
        version: netraven_shared::messages::VERSION,
        request_id: body
            .request_id
            .unwrap_or_else(|| format!("api:{}", Uuid::new_v4())),
        job_type: body.job_type,
        targets,
        commands: body.commands,
        limits,
        submitted_by: None,
        priority: body.priority,
    };
    // The same decoder as the dispatcher's: what passes here is well-formed there.
    let bytes = serde_json::to_vec(&request).map_err(Problem::internal)?;
    JobRequest::decode(&bytes).map_err(Problem::unprocessable)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelJob {
    pub reason: Option<String>,
}

/// Cancels a job as the token's submitter: its own jobs, or any with `cancel_any_job`.
#[utoipa::path(operation_id = "job_cancel", post, path = "/api/jobs/{id}/cancel", tag = "jobs", params(("id" = Uuid, Path)), request_body = CancelJob,
    responses((status = 200, body = CancelReply, description = "cancelled: devices not started are skipped, the job ends `CANCELLED`"),
        (status = 403, description = "a read token, or another submitter's job and this one may not cancel any job"),
        (status = 404, description = "no such job"), (status = 409, description = "the job is final already"),
        (status = 422, description = "not a cancel the dispatchers take (a reason too long, or not one line)"), (status = 503)))]
pub async fn cancel(
    Caller(holder): Submit,
    State(s): Shared,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
    body: Result<Option<Json<CancelJob>>, JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let Path(job_id) = id?;
    // No body (no `Content-Type`) is a cancel without a reason; a body must be one.
    let reason = body?.and_then(|Json(b)| b.reason);
    let cancel = JobCancel {
        version: netraven_shared::messages::VERSION,
        job_id,
        reason,
    };
    let reply = s
        .gateway
        .cancel(&cancel, &holder.submitter)
        .await
        .map_err(|e| Problem::unavailable(e.to_string()))?;
    let detail = reply.error.clone().unwrap_or_default();
    match reply.answer {
        CancelAnswer::Cancelled => Ok(Json(reply)),
        CancelAnswer::AlreadyFinal => Err(Problem::conflict(format!(
            "the job is final already: {}",
            reply.status.map_or("", |s| s.as_str())
        ))
        .with_job(job_id)),
        CancelAnswer::NoSuchJob => Err(Problem::not_found(format!("no job {job_id}"))),
        CancelAnswer::NotPermitted => Err(Problem::forbidden(detail).with_job(job_id)),
        CancelAnswer::Invalid => Err(Problem::unprocessable(detail)),
    }
}
