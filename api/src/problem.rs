//! Errors as RFC 9457 problem details (`application/problem+json`): `type`, `title`,
//! `status`, `detail`, `instance`. Every error a handler returns, and axum's own
//! rejections (a body that is not JSON, a query that does not parse), answer this way.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of a problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem, as the client reads it: an RFC 9457 problem details object, served as
/// `application/problem+json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    #[schema(format = "uri-reference", default = "about:blank")]
    pub kind: String,
    /// The status's reason phrase (`Not Found`).
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What went wrong with this request, for a person to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path the problem is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri-reference")]
    pub instance: Option<String>,
    /// The job the problem concerns (a refused submission is recorded as a job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<uuid::Uuid>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            instance: None,
            job_id: None,
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, detail)
    }
    pub fn unprocessable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
    /// An error we did not expect: logged here, once, with its chain; the client learns
    /// only that it happened (the chain may name hosts or queries).
    pub fn internal(error: impl std::fmt::Display) -> Problem {
        tracing::error!(error = %error, "api request failed");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request failed on the server; its log has the cause",
        )
    }
    pub fn with_job(mut self, job_id: uuid::Uuid) -> Problem {
        self.job_id = Some(job_id);
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(PROBLEM_JSON),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"netraven\""),
            );
        }
        response
    }
}

impl From<JsonRejection> for Problem {
    fn from(r: JsonRejection) -> Problem {
        let status = match r {
            JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        Problem::new(status, r.body_text())
    }
}

impl From<QueryRejection> for Problem {
    fn from(r: QueryRejection) -> Problem {
        Problem::bad_request(r.body_text())
    }
}

impl From<PathRejection> for Problem {
    fn from(r: PathRejection) -> Problem {
        Problem::bad_request(r.body_text())
    }
}

/// A read or a change that failed: not found (a job, a device, a version, a schedule) is
/// 404, a schedule that is not valid 422, a name in use 409; anything else 500.
impl From<anyhow::Error> for Problem {
    fn from(e: anyhow::Error) -> Problem {
        let missing = e.chain().any(|c| {
            c.is::<netraven_reads::NotFound>()
                || c.is::<netraven_reads::history::Missing>()
                || c.is::<netraven_schedules::NotFound>()
        });
        if missing {
            return Problem::not_found(e.to_string());
        }
        if e.chain().any(|c| c.is::<netraven_schedules::Invalid>()) {
            return Problem::unprocessable(e.to_string());
        }
        if e.chain().any(|c| c.is::<netraven_schedules::Exists>()) {
            return Problem::conflict(e.to_string());
        }
        Problem::internal(format!("{e:#}"))
    }
}

/// `405` for a method a path of the API does not take, as a problem too; axum adds the
/// `Allow` header naming those it does.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Problem {
    let mut p = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    );
    p.instance = Some(uri.path().to_string());
    p
}

/// `404` for any path the API does not have, as a problem too.
pub async fn no_route(uri: axum::http::Uri) -> Problem {
    let mut p = Problem::not_found(format!("no such resource: {}", uri.path()));
    p.instance = Some(uri.path().to_string());
    p
}
