//! `/api/devices`: the list, one device, its configuration versions, one version, a diff.

use super::PageQuery;
use crate::auth::Read;
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use netraven_reads::device_list::{self, DeviceRow, Filter};
use netraven_reads::devices::{self, DeviceDetail, DeviceJobResult, ResultKey};
use netraven_reads::diff::{self, ConfigDiff};
use netraven_reads::history::{self, DeviceVersions, VersionRef, VersionText};
use netraven_reads::page::Page;
use netraven_shared::domain::Outcome;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

type Shared = State<Arc<AppState>>;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeviceQuery {
    /// Devices with this tag.
    pub tag: Option<String>,
    pub platform: Option<String>,
    /// Devices whose last outcome is this (`NONE`: no result yet); another name is a 400.
    pub outcome: Option<String>,
    /// Devices whose name contains this, ignoring case (`edge-sw` finds `AMS1-EDGE-SW01`).
    pub name: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Devices, by name.
#[utoipa::path(operation_id = "device_list", get, path = "/api/devices", tag = "devices", params(DeviceQuery),
    responses((status = 200, body = Page<DeviceRow>)))]
pub async fn list(
    _: Read,
    State(s): Shared,
    q: Result<Query<DeviceQuery>, QueryRejection>,
) -> Result<Json<Page<DeviceRow>>, Problem> {
    let Query(q) = q?;
    let limit = s.page_size(q.limit)?;
    let after: Option<String> = super::cursor(q.cursor.as_deref())?;
    if let Some(o) = q.outcome.as_deref().filter(|o| *o != "NONE") {
        o.parse::<Outcome>()
            .map_err(|e| Problem::bad_request(format!("{e}, or NONE")))?;
    }
    let (tags, platforms, outcomes): (Vec<String>, Vec<String>, Vec<String>) = (
        q.tag.into_iter().collect(),
        q.platform.into_iter().collect(),
        q.outcome.into_iter().collect(),
    );
    let filter = Filter {
        tags: &tags,
        platforms: &platforms,
        outcomes: &outcomes,
        stale_before: None,
        removed: false,
        after,
        limit: Some(limit as i64 + 1),
    };
    let client = s.pool.get().await.map_err(Problem::internal)?;
    let rows = device_list::search(&client, &filter, q.name.as_deref()).await?;
    Ok(Json(Page::of(rows, limit, |d| d.name.clone())))
}

/// One device: inventory, last outcome, the credential that works, recent jobs.
#[utoipa::path(operation_id = "device_show", get, path = "/api/devices/{name}", tag = "devices", params(("name" = String, Path)),
    responses((status = 200, body = DeviceDetail), (status = 404, description = "no such device")))]
pub async fn show(
    _: Read,
    State(s): Shared,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<DeviceDetail>, Problem> {
    let Path(name) = name?;
    let client = s.pool.get().await.map_err(Problem::internal)?;
    Ok(Json(devices::show(&client, &name).await?))
}

/// A device's outcome history: every job that reached it, newest first.
#[utoipa::path(operation_id = "device_results", get, path = "/api/devices/{name}/results", tag = "devices", params(("name" = String, Path), PageQuery),
    responses((status = 200, body = Page<DeviceJobResult>), (status = 404, description = "no such device")))]
pub async fn results(
    _: Read,
    State(s): Shared,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Page<DeviceJobResult>>, Problem> {
    let (Path(name), Query(q)) = (name?, q?);
    let limit = s.page_size(q.limit)?;
    let after: Option<ResultKey> = super::cursor(q.cursor.as_deref())?;
    let client = s.pool.get().await.map_err(Problem::internal)?;
    Ok(Json(devices::results(&client, &name, after, limit).await?))
}

/// A device's configuration versions, newest first (without their text).
#[utoipa::path(operation_id = "device_configs", get, path = "/api/devices/{name}/configs", tag = "devices", params(("name" = String, Path)),
    responses((status = 200, body = DeviceVersions), (status = 404, description = "no such device")))]
pub async fn configs(
    _: Read,
    State(s): Shared,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<DeviceVersions>, Problem> {
    let Path(name) = name?;
    let client = s.pool.get().await.map_err(Problem::internal)?;
    Ok(Json(history::versions(&client, &name).await?))
}

fn version_ref(s: &str) -> Result<VersionRef, Problem> {
    VersionRef::parse(s).map_err(Problem::bad_request)
}

/// One configuration version with its text: a number, `latest`, or an RFC 3339 time.
#[utoipa::path(operation_id = "device_config", get, path = "/api/devices/{name}/configs/{version}", tag = "devices",
    params(("name" = String, Path), ("version" = String, Path, description = "a number, `latest`, or an RFC 3339 time")),
    responses((status = 200, body = VersionText), (status = 404, description = "no such device or version")))]
pub async fn config(
    _: Read,
    State(s): Shared,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<VersionText>, Problem> {
    let Path((name, version)) = path?;
    let which = version_ref(&version)?;
    let client = s.pool.get().await.map_err(Problem::internal)?;
    Ok(Json(history::version(&client, &name, which).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// Default: the version before `to`.
    pub from: Option<String>,
    /// Default: `latest`.
    pub to: Option<String>,
    /// Lines of context around each change (default 3).
    pub context: Option<usize>,
}

/// The line diff between two versions, as hunks.
#[utoipa::path(operation_id = "device_diff", get, path = "/api/devices/{name}/diff", tag = "devices", params(("name" = String, Path), DiffQuery),
    responses((status = 200, body = ConfigDiff), (status = 404, description = "no such device, or either version missing (one version has nothing to diff)")))]
pub async fn diff(
    _: Read,
    State(s): Shared,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<ConfigDiff>, Problem> {
    let (Path(name), Query(q)) = (name?, q?);
    let from = q.from.as_deref().map(version_ref).transpose()?;
    let to = q.to.as_deref().map(version_ref).transpose()?;
    let context = q.context.unwrap_or(3).min(1_000);
    let client = s.pool.get().await.map_err(Problem::internal)?;
    Ok(Json(
        diff::between(&client, &name, from, to, context).await?,
    ))
}
