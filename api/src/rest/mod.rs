//! The REST API under `/api`, its OpenAPI 3.1 document (`/api/openapi.json`, generated
//! from these handlers and types), and the router that serves both.

pub mod credentials;
pub mod dead_letters;
pub mod devices;
pub mod jobs;
pub mod outputs;
pub mod schedules;

use crate::problem::{self, Problem, PROBLEM_JSON};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
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
    security(("token" = [])),
    modifiers(&Token, &Problems),
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

/// The problems the server answers, declared once here rather than on every handler: 401
/// on every operation (each needs a token), 400 on each that takes a parameter or a body
/// (one that does not parse; a `limit`, `cursor` or version out of range), 415 and 422 on
/// each that takes a JSON body (axum's rejections), 500 on each. Handlers declare the
/// problems only some operations answer (403 below their scope, 404, 409, 422, 503).
/// Then every response of 400 and up is an `application/problem+json` [`Problem`] (RFC
/// 9457), described by its status where the handler said nothing more.
struct Problems;

impl Modify for Problems {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                declare_problems(op);
            }
        }
    }
}

fn declare_problems(op: &mut Operation) {
    let takes_input =
        op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
    let mut statuses = vec![StatusCode::UNAUTHORIZED, StatusCode::INTERNAL_SERVER_ERROR];
    if takes_input {
        statuses.push(StatusCode::BAD_REQUEST);
    }
    if op.request_body.is_some() {
        statuses.extend([
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::UNPROCESSABLE_ENTITY,
        ]);
    }
    let responses = &mut op.responses.responses;
    for status in statuses {
        responses
            .entry(status.as_str().to_string())
            .or_insert_with(|| Response::new("").into());
    }
    for (status, response) in responses.iter_mut() {
        let Some(status) = status
            .parse()
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .filter(|s| s.as_u16() >= 400)
        else {
            continue;
        };
        let RefOr::T(response) = response else {
            continue;
        };
        response.content.clear();
        response.content.insert(
            PROBLEM_JSON.to_string(),
            Content::new(Some(Ref::from_schema_name("Problem"))),
        );
        if response.description.is_empty() {
            response.description = problem_description(status).to_string();
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers.insert(
                "WWW-Authenticate".to_string(),
                Header::new(Object::with_type(Type::String)),
            );
        }
    }
}

/// What a problem of `status` means when its handler does not say.
fn problem_description(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "a path, query or body that does not parse, or a `limit`, `cursor` or version out of range",
        401 => "no token, or one that is unknown, revoked or expired",
        403 => "the token's scope does not allow this",
        404 => "not found",
        409 => "in conflict with the resource's state",
        415 => "the body is not `application/json`",
        422 => "the body is JSON but not what this operation takes",
        500 => "the request failed on the server; its log has the cause",
        503 => "the dispatchers did not answer in time, or RabbitMQ is not reachable",
        _ => status.canonical_reason().unwrap_or("a problem"),
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
        .method_not_allowed_fallback(problem::method_not_allowed)
        .fallback(problem::no_route)
}
