//! The REST API under `/api`, its OpenAPI 3.1 document (`/api/openapi.json`, generated
//! from these handlers and types), and the router that serves both.

pub mod credentials;
pub mod dead_letters;
pub mod devices;
pub mod jobs;
pub mod outputs;
pub mod schedules;

use crate::problem::{self, Problem};
use crate::state::AppState;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "NetRaven fleet API", description = "Jobs, devices, configuration history, credential health, schedules and dead letters of a NetRaven fleet. Every endpoint needs an API token (`netraven token create`) as `Authorization: Bearer nrv_…`; errors are RFC 9457 problem details."),
    paths(
        jobs::list, jobs::submit, jobs::show, jobs::results, jobs::logs, jobs::cancel,
        outputs::device,
        devices::list, devices::show, devices::results, devices::configs, devices::config, devices::diff,
        credentials::list,
        dead_letters::list, dead_letters::replay,
        schedules::list, schedules::add, schedules::show, schedules::put, schedules::pause,
        schedules::resume, schedules::remove,
    ),
    components(schemas(Problem)),
    modifiers(&Token),
    tags((name = "jobs"), (name = "devices"), (name = "credentials"), (name = "dead-letters"), (name = "schedules")),
)]
pub struct ApiDoc;

struct Token;

impl Modify for Token {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document as served and as checked into docs/openapi.json.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| panic!("the OpenAPI document does not serialise: {e}"))
        + "\n"
}

/// `limit` and `cursor`: the query of a list that only pages.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Rows a page (default `api.default_page_size`, at most `api.max_page_size`).
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// A page cursor back to its key: a 400 when it is not one this API gave.
pub(crate) fn cursor<K: serde::de::DeserializeOwned>(
    c: Option<&str>,
) -> Result<Option<K>, Problem> {
    c.map(|c| {
        netraven_reads::page::decode(c)
            .ok_or_else(|| Problem::bad_request("cursor is not one this API gave"))
    })
    .transpose()
}

/// The document itself: like every endpoint, for a token holder.
async fn openapi(_: crate::auth::Read) -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The `/api` routes; every other path under it is a 404 problem.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/jobs", get(jobs::list).post(jobs::submit))
        .route("/api/jobs/{id}", get(jobs::show))
        .route("/api/jobs/{id}/results", get(jobs::results))
        .route("/api/jobs/{id}/logs", get(jobs::logs))
        .route("/api/jobs/{id}/cancel", post(jobs::cancel))
        .route(
            "/api/jobs/{id}/devices/{device}/output",
            get(outputs::device),
        )
        .route("/api/devices", get(devices::list))
        .route("/api/devices/{name}", get(devices::show))
        .route("/api/devices/{name}/results", get(devices::results))
        .route("/api/devices/{name}/configs", get(devices::configs))
        .route(
            "/api/devices/{name}/configs/{version}",
            get(devices::config),
        )
        .route("/api/devices/{name}/diff", get(devices::diff))
        .route("/api/credentials", get(credentials::list))
        .route("/api/dead-letters", get(dead_letters::list))
        .route("/api/dead-letters/replay", post(dead_letters::replay))
        .route("/api/schedules", get(schedules::list).post(schedules::add))
        .route(
            "/api/schedules/{name}",
            get(schedules::show)
                .put(schedules::put)
                .delete(schedules::remove),
        )
        .route("/api/schedules/{name}/pause", post(schedules::pause))
        .route("/api/schedules/{name}/resume", post(schedules::resume))
        .fallback(problem::no_route)
}
