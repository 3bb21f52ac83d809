//! `/api/credentials`: every credential's health (counters, recent and lifetime success
//! rates); never a secret, nor where one was read from.

use crate::auth::Read;
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use netraven_reads::credentials::{self, CredentialStats, DEFAULT_WINDOW};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CredentialQuery {
    /// The recent window, in seconds (default a day; 1 to ten years).
    pub window_s: Option<u64>,
}

/// The longest recent window asked for: ten years, in seconds.
const MAX_WINDOW_S: u64 = 10 * 365 * 86_400;

/// Every credential with its health figures.
#[utoipa::path(operation_id = "credential_list", get, path = "/api/credentials", tag = "credentials", params(CredentialQuery),
    responses((status = 200, body = Vec<CredentialStats>), (status = 400, description = "a query that does not parse, or `window_s` out of range")))]
pub async fn list(
    _: Read,
    State(s): State<Arc<AppState>>,
    q: Result<Query<CredentialQuery>, QueryRejection>,
) -> Result<Json<Vec<CredentialStats>>, Problem> {
    let Query(q) = q?;
    let window = match q.window_s {
        None => DEFAULT_WINDOW,
        Some(secs @ 1..=MAX_WINDOW_S) => Duration::from_secs(secs),
        Some(secs) => {
            return Err(Problem::bad_request(format!(
                "window_s must be 1 to {MAX_WINDOW_S} seconds, not {secs}"
            )))
        }
    };
    let client = s.pool.get().await.map_err(Problem::internal)?;
    Ok(Json(credentials::list(&client, window).await?))
}
