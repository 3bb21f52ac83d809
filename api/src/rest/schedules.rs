//! `/api/schedules`: list and show (read); add, change, pause, resume and remove (admin),
//! through `netraven_schedules`, the code behind `netraven schedule`, so a schedule is
//! checked and stored by the same rules from either front end.

use super::PageQuery;
use crate::auth::{Admin, Read};
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use netraven_reads::page::Page;
use netraven_schedules::view::{self, ScheduleDetail, ScheduleView};
use netraven_schedules::{self as schedules, Action, Planned};
use netraven_shared::schedule::{ScheduleFile, ScheduleSpec};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

type Shared = State<Arc<AppState>>;

/// The schedules, by name, each with its latest run.
#[utoipa::path(operation_id = "schedule_list", get, path = "/api/schedules", tag = "schedules", params(PageQuery),
    responses((status = 200, body = Page<ScheduleView>)))]
pub async fn list(
    _: Read,
    State(s): Shared,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Page<ScheduleView>>, Problem> {
    let Query(q) = q?;
    let limit = s.page_size(q.limit)?;
    let after: Option<String> = super::cursor(q.cursor.as_deref())?;
    let client = s.pool.get().await.map_err(Problem::internal)?;
    let rows = view::list(&client, after.as_deref(), Some(limit as i64 + 1)).await?;
    Ok(Json(Page::of(rows, limit, |v| v.name.clone())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    /// How many of the latest runs (default 10, at most 1000).
    pub runs: Option<u32>,
}

async fn detail(s: &AppState, name: &str, runs: u32) -> Result<ScheduleDetail, Problem> {
    let client = s.pool.get().await.map_err(Problem::internal)?;
    Ok(view::show(&client, name, runs.min(1_000), s.schedule_spread).await?)
}

/// One schedule: when its next tick is due, its latest runs and their jobs.
#[utoipa::path(operation_id = "schedule_show", get, path = "/api/schedules/{name}", tag = "schedules",
    params(("name" = String, Path), ShowQuery),
    responses((status = 200, body = ScheduleDetail), (status = 404, description = "no such schedule")))]
pub async fn show(
    _: Read,
    State(s): Shared,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<Json<ScheduleDetail>, Problem> {
    let (Path(name), Query(q)) = (name?, q?);
    Ok(Json(detail(&s, &name, q.runs.unwrap_or(10)).await?))
}

/// Adds a schedule, as `netraven schedule add` does; a name in use is a conflict.
#[utoipa::path(operation_id = "schedule_add", post, path = "/api/schedules", tag = "schedules", request_body = ScheduleSpec,
    responses((status = 201, body = ScheduleDetail), (status = 403), (status = 409, description = "a schedule of this name exists"),
        (status = 422, description = "the schedule is not valid (cron, zone, name, targets…)")))]
pub async fn add(
    _: Admin,
    State(s): Shared,
    body: Result<Json<ScheduleSpec>, JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let Json(spec) = body?;
    let client = s.pool.get().await.map_err(Problem::internal)?;
    schedules::add(&client, &spec).await?;
    drop(client);
    let shown = detail(&s, &spec.name, 0).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/schedules/{}", spec.name))],
        Json(shown),
    ))
}

/// Makes the stored schedule `name` what the body says, as `netraven schedule apply` does
/// with a file holding it alone: created when absent, unchanged columns not written, the
/// next tick kept unless the cron or zone changed or the schedule is resumed; absent
/// `paused` leaves its state as it is.
#[utoipa::path(operation_id = "schedule_put", put, path = "/api/schedules/{name}", tag = "schedules",
    params(("name" = String, Path)), request_body = ScheduleSpec,
    responses((status = 200, body = Planned, description = "updated or unchanged"), (status = 201, body = Planned, description = "created"),
        (status = 403), (status = 422, description = "the schedule is not valid, or the body names another schedule than the path")))]
pub async fn put(
    _: Admin,
    State(s): Shared,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<ScheduleSpec>, JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let (Path(name), Json(spec)) = (name?, body?);
    if spec.name != name {
        return Err(Problem::unprocessable(format!(
            "the body names schedule {:?}, the path {name:?}",
            spec.name
        )));
    }
    let file = ScheduleFile {
        schedules: vec![spec],
    };
    let mut client = s.pool.get().await.map_err(Problem::internal)?;
    let applied = schedules::apply(&mut client, &file, false, false).await?;
    let planned = applied
        .schedules
        .into_iter()
        .next()
        .ok_or_else(|| Problem::internal("apply planned nothing for one schedule"))?;
    let status = match planned.action {
        Action::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok((status, Json(planned)))
}

/// A schedule's state after a pause or a resume.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleState {
    pub name: String,
    pub paused: bool,
    /// False when the schedule already was in the state asked for.
    pub changed: bool,
    /// A resume sets it from now: ticks that came due while paused are not run.
    pub next_tick_at: Option<DateTime<Utc>>,
}

async fn set_paused(
    s: &AppState,
    name: String,
    paused: bool,
) -> Result<Json<ScheduleState>, Problem> {
    let mut client = s.pool.get().await.map_err(Problem::internal)?;
    let c = schedules::set_paused(&mut client, &name, paused).await?;
    Ok(Json(ScheduleState {
        name,
        paused: c.paused,
        changed: c.changed,
        next_tick_at: c.next_tick_at,
    }))
}

/// Pauses a schedule: its ticks are not taken until it is resumed.
#[utoipa::path(operation_id = "schedule_pause", post, path = "/api/schedules/{name}/pause", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 200, body = ScheduleState), (status = 403), (status = 404, description = "no such schedule")))]
pub async fn pause(
    _: Admin,
    State(s): Shared,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<ScheduleState>, Problem> {
    let Path(name) = name?;
    set_paused(&s, name, true).await
}

/// Resumes a schedule from now: ticks that came due while it was paused are not run.
#[utoipa::path(operation_id = "schedule_resume", post, path = "/api/schedules/{name}/resume", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 200, body = ScheduleState), (status = 403), (status = 404, description = "no such schedule")))]
pub async fn resume(
    _: Admin,
    State(s): Shared,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<ScheduleState>, Problem> {
    let Path(name) = name?;
    set_paused(&s, name, false).await
}

/// What a removal took away.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    pub name: String,
    /// Its runs, removed with it; the jobs it started are kept.
    pub runs_removed: i64,
}

/// Removes a schedule and its runs; the jobs it started are kept.
#[utoipa::path(operation_id = "schedule_remove", delete, path = "/api/schedules/{name}", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 200, body = Removed), (status = 403), (status = 404, description = "no such schedule")))]
pub async fn remove(
    _: Admin,
    State(s): Shared,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Removed>, Problem> {
    let Path(name) = name?;
    let mut client = s.pool.get().await.map_err(Problem::internal)?;
    let runs_removed = schedules::remove(&mut client, &name).await?;
    Ok(Json(Removed { name, runs_removed }))
}
