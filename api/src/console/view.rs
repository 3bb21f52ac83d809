//! What every page shares: the frame around it ([`Chrome`]), status colours, times, links,
//! and the error pages.

use super::session::Session;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use netraven_shared::domain::{JobStatus, Outcome};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What the frame of a page shows: who is logged in, the logout form's CSRF token, the
/// section the page belongs to.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub user: String,
    pub scope: String,
    pub csrf: String,
    pub section: &'static str,
    pub title: String,
}

impl Chrome {
    pub fn new(session: &Session, section: &'static str, title: impl Into<String>) -> Chrome {
        Chrome {
            user: session.holder.name.clone(),
            scope: session.holder.scope.to_string(),
            csrf: session.csrf.clone(),
            section,
            title: title.into(),
        }
    }

    /// `aria-current` for the navigation link of `section`.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

/// What a console handler answers: the page, or the error page that stands in for it
/// (so a handler can `?` its reads).
pub type Answer = Result<Response, Response>;

/// A template as a page; a template that fails to render is a 500 (logged).
pub fn page<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => internal(e),
    }
}

/// The colour class of a job status: green success, yellow no credentials and partial
/// failure, red failures, grey pending, cancelled and empty, blue running.
pub fn status_class(s: JobStatus) -> &'static str {
    match s {
        JobStatus::CompletedSuccess => "ok",
        JobStatus::CompletedNoCredentials | JobStatus::CompletedPartialFailure => "warn",
        JobStatus::Running => "run",
        JobStatus::Pending | JobStatus::Cancelled | JobStatus::CompletedNoDevices => "idle",
        JobStatus::FailedInvalidRequest
        | JobStatus::FailedCredentialResolution
        | JobStatus::FailedDispatcherError
        | JobStatus::CompletedFailure
        | JobStatus::FailedUnexpected
        | JobStatus::FailedNotPermitted => "fail",
    }
}

/// The colour class of a device outcome.
pub fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "ok",
        Outcome::NoCredentials => "warn",
        Outcome::Cancelled => "idle",
        _ => "fail",
    }
}

/// A job id short enough for a table: its last 8 characters (a UUIDv7 begins with the
/// time, so jobs of one minute share their first ones).
pub fn short_id(id: &uuid::Uuid) -> String {
    let text = id.to_string();
    text[text.len() - 8..].to_string()
}

/// A time as the pages show it: UTC, to the second.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn time_opt(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".to_string(), time)
}

/// A share as a whole percentage.
pub fn percent(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        0
    } else {
        (part * 100 / whole).clamp(0, 100)
    }
}

const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Text for a query string value or a path segment.
pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY).to_string()
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: &'a str,
}

/// An error as a small page of its own (no session needed to read it).
pub fn error(status: StatusCode, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = ErrorPage {
        status: status.as_u16(),
        title,
        detail,
    }
    .render()
    .unwrap_or_else(|_| detail.to_string());
    (status, Html(body)).into_response()
}

pub fn forbidden(detail: &str) -> Response {
    error(StatusCode::FORBIDDEN, detail)
}

pub fn not_found(detail: &str) -> Response {
    error(StatusCode::NOT_FOUND, detail)
}

pub fn bad_request(detail: &str) -> Response {
    error(StatusCode::BAD_REQUEST, detail)
}

/// An error we did not expect: logged here, once; the page says only that it happened.
pub fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console request failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the request failed on the server; its log has the cause",
    )
}

/// A page cursor from the query (empty is none); one this console did not give is a 400.
pub fn cursor<K: serde::de::DeserializeOwned>(c: Option<String>) -> Result<Option<K>, Response> {
    match c.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => netraven_reads::page::decode(&c)
            .map(Some)
            .ok_or_else(|| bad_request("the page cursor is not one this console gave")),
    }
}

/// A failed read: not found is a 404 page, anything else a 500.
pub fn read_failed(e: anyhow::Error) -> Response {
    if let Some(nf) = e.downcast_ref::<netraven_reads::NotFound>() {
        return not_found(&nf.0);
    }
    if let Some(m) = e.downcast_ref::<netraven_reads::history::Missing>() {
        return not_found(&m.0);
    }
    internal(format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::{outcome_class, status_class};
    use netraven_shared::domain::{JobStatus, Outcome};

    /// Every job status has the colour docs/console.md promises: green success, yellow no
    /// credentials and partial failure, red every failure, blue running, grey the rest. A
    /// status added without a colour here fails the test.
    #[test]
    fn every_job_status_has_its_colour() {
        for status in JobStatus::ALL {
            let expected = match status.as_str() {
                "COMPLETED_SUCCESS" => "ok",
                "COMPLETED_NO_CREDENTIALS" | "COMPLETED_PARTIAL_FAILURE" => "warn",
                "COMPLETED_FAILURE" => "fail",
                s if s.starts_with("FAILED_") => "fail",
                "RUNNING" => "run",
                "PENDING" | "CANCELLED" | "COMPLETED_NO_DEVICES" => "idle",
                other => panic!("{other}: no colour expected; add it to this test"),
            };
            assert_eq!(status_class(*status), expected, "{status}");
        }
        assert_eq!(status_class(JobStatus::FailedCredentialResolution), "fail");
        assert_eq!(status_class(JobStatus::CompletedNoCredentials), "warn");
    }

    /// A device's outcome: green success, yellow no credentials, grey skipped by a cancel,
    /// red every failure.
    #[test]
    fn every_outcome_has_its_colour() {
        for outcome in Outcome::ALL {
            let expected = match outcome.as_str() {
                "SUCCESS" => "ok",
                "NO_CREDENTIALS" => "warn",
                "CANCELLED" => "idle",
                "AUTH_FAILED" | "UNREACHABLE" | "TIMEOUT" | "HOST_KEY_MISMATCH"
                | "COMMAND_FAILED" | "DEAD_LETTERED" | "LOST" | "INTERNAL_ERROR" => "fail",
                other => panic!("{other}: no colour expected; add it to this test"),
            };
            assert_eq!(outcome_class(*outcome), expected, "{outcome}");
        }
    }
}
