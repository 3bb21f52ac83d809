//! The jobs pages: the list (live progress), one job (outcome counts, results by outcome,
//! logs, and a cancel button while it runs), and the submit form. Submit and cancel go
//! through the REST handlers themselves, so the scope they need, the gateway path and the
//! submitter's rules are the same.

use super::session::Session;
use super::view::{self, Chrome};
use crate::auth::Caller;
use crate::rest::jobs::{CancelJob, SubmitJob};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use netraven_dispatcher::job_rows::{DeviceResult, ResultsPage};
use netraven_reads::jobs::{self, JobFilter, JobSummary, LogLine};
use netraven_reads::page::Page;
use netraven_shared::domain::{JobStatus, Outcome};
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

type Shared = State<Arc<AppState>>;

/// Log lines a job page shows at once.
const LOG_PAGE: usize = 50;

/// A job as a row of the list or the head of its page.
pub struct JobView {
    pub id: String,
    pub short: String,
    pub job_type: String,
    pub status: &'static str,
    pub class: &'static str,
    pub is_final: bool,
    pub completed: i64,
    pub total: i64,
    pub succeeded: i64,
    pub percent: i64,
    pub created: String,
    pub finished: String,
    pub error: String,
    /// Who cancelled it, when and why; empty unless someone has.
    pub cancelled: String,
}

impl From<&JobSummary> for JobView {
    fn from(j: &JobSummary) -> JobView {
        let id = j.id.to_string();
        JobView {
            short: view::short_id(&j.id),
            id,
            job_type: j.job_type.clone(),
            status: j.status.as_str(),
            class: view::status_class(j.status),
            is_final: j.status.is_final(),
            completed: j.completed_devices,
            total: j.total_devices,
            succeeded: j.succeeded_devices,
            percent: view::percent(j.completed_devices, j.total_devices),
            created: view::time(j.created_at),
            finished: view::time_opt(j.finished_at),
            error: j.error.clone().unwrap_or_default(),
            cancelled: j.cancel.as_ref().map_or_else(String::new, |c| {
                let mut said = format!("by {} at {}", c.cancelled_by, view::time(c.requested_at));
                if let Some(reason) = &c.reason {
                    said.push_str(&format!(": {reason}"));
                }
                said
            }),
        }
    }
}

#[derive(Template)]
#[template(path = "console/jobs.html")]
struct JobsPage {
    chrome: Chrome,
    jobs: Vec<JobView>,
    statuses: Vec<(&'static str, bool)>,
    status: String,
    next: Option<String>,
    live: String,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
}

fn empty_none(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// The jobs, newest first, a page at a time.
pub async fn list(session: Session, State(s): Shared, Query(q): Query<ListQuery>) -> view::Answer {
    let status = empty_none(q.status)
        .map(|s| s.parse::<JobStatus>())
        .transpose()
        .map_err(|e| view::bad_request(&e))?;
    let before = view::cursor(q.cursor)?;
    let limit = s.settings.default_page_size as usize;
    let filter = JobFilter {
        status,
        before,
        ..JobFilter::default()
    };
    let client = s.pool.get().await.map_err(view::internal)?;
    let rows = jobs::list(&client, &filter, limit as i64 + 1)
        .await
        .map_err(view::read_failed)?;
    let page = Page::of(rows, limit, |j| (j.created_at, j.id));
    let jobs: Vec<JobView> = page.items.iter().map(JobView::from).collect();
    let live = jobs
        .iter()
        .filter(|j| !j.is_final)
        .map(|j| j.id.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let status_text = status.map_or("", JobStatus::as_str);
    Ok(view::page(&JobsPage {
        chrome: Chrome::new(&session, "jobs", "Jobs"),
        jobs,
        statuses: JobStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.as_str() == status_text))
            .collect(),
        status: view::url_encode(status_text),
        next: page.next_cursor,
        live,
    }))
}

/// One device's result as a table row.
pub struct ResultView {
    pub device: String,
    pub device_link: String,
    pub outcome: &'static str,
    pub class: &'static str,
    pub reason: String,
    pub credential: String,
    pub attempts: i32,
    pub duration_ms: i64,
    pub config: String,
}

impl From<&DeviceResult> for ResultView {
    fn from(r: &DeviceResult) -> ResultView {
        ResultView {
            device_link: view::url_encode(&r.device_name),
            device: r.device_name.clone(),
            outcome: r.outcome.as_str(),
            class: view::outcome_class(r.outcome),
            reason: r.reason.clone(),
            credential: r.credential.clone().unwrap_or_default(),
            attempts: r.attempts,
            duration_ms: r.duration_ms,
            config: match (&r.config_change, r.config_version) {
                (Some(c), Some(v)) => format!("{} (v{v})", c.to_lowercase()),
                _ => String::new(),
            },
        }
    }
}

pub struct LogView {
    pub at: String,
    pub level: String,
    pub device: String,
    pub message: String,
}

impl From<&LogLine> for LogView {
    fn from(l: &LogLine) -> LogView {
        LogView {
            at: view::time(l.at),
            level: l.level.clone(),
            device: l.device.clone().unwrap_or_default(),
            message: l.message.clone(),
        }
    }
}

/// An outcome's count, for the counts table and the filter.
pub struct OutcomeCount {
    pub outcome: &'static str,
    pub class: &'static str,
    pub count: i64,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/job.html")]
struct JobPage {
    chrome: Chrome,
    job: JobView,
    /// Whether the session's token may cancel (scope submit, as `POST /api/jobs/{id}/cancel`).
    may_cancel: bool,
    outcomes: Vec<OutcomeCount>,
    outcome: String,
    results: Vec<ResultView>,
    results_next: Option<String>,
    logs: Vec<LogView>,
    logs_next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct JobQuery {
    outcome: Option<String>,
    cursor: Option<String>,
    logs: Option<String>,
}

/// One job: its status and progress, devices per outcome, its results (filtered by
/// outcome, a page at a time) and its log.
pub async fn show(
    session: Session,
    State(s): Shared,
    Path(id): Path<String>,
    Query(q): Query<JobQuery>,
) -> view::Answer {
    let id = job_id(&id)?;
    let outcome = empty_none(q.outcome)
        .map(|o| o.parse::<Outcome>())
        .transpose()
        .map_err(|e| view::bad_request(&e))?;
    let after = view::cursor::<String>(q.cursor)?;
    let logs_after = view::cursor::<i64>(q.logs)?;
    let limit = s.settings.default_page_size as usize;
    let client = s.pool.get().await.map_err(view::internal)?;
    let summary = jobs::summary(&client, id)
        .await
        .map_err(view::read_failed)?;
    let results_page = ResultsPage {
        outcomes: outcome.into_iter().collect(),
        after,
        limit: Some(limit as i64 + 1),
    };
    let (results, logs) = tokio::try_join!(
        jobs::results(&client, id, &results_page),
        jobs::logs(&client, id, None, logs_after, Some(LOG_PAGE as i64 + 1)),
    )
    .map_err(view::read_failed)?;
    let results = Page::of(results, limit, |r| r.device_name.clone());
    let logs = Page::of(logs, LOG_PAGE, |l| l.id);
    let counts = summary.outcomes.clone().unwrap_or_default();
    let outcomes = Outcome::ALL
        .iter()
        .map(|o| OutcomeCount {
            outcome: o.as_str(),
            class: view::outcome_class(*o),
            count: counts.get(o).copied().unwrap_or(0),
            selected: Some(*o) == outcome,
        })
        .collect();
    Ok(view::page(&JobPage {
        chrome: Chrome::new(
            &session,
            "jobs",
            format!("Job {}", view::short_id(&summary.id)),
        ),
        job: JobView::from(&summary),
        may_cancel: session.may_submit(),
        outcomes,
        outcome: view::url_encode(outcome.map_or("", Outcome::as_str)),
        results: results.items.iter().map(ResultView::from).collect(),
        results_next: results.next_cursor,
        logs: logs.items.iter().map(LogView::from).collect(),
        logs_next: logs.next_cursor,
    }))
}

#[derive(Template)]
#[template(path = "console/submit.html")]
struct SubmitPage {
    chrome: Chrome,
    may_submit: bool,
    request_id: String,
    form: SubmitForm,
    error: Option<String>,
    refused_job: Option<String>,
}

/// The submit form's fields, kept to show them again with an error.
#[derive(Debug, Default, Deserialize)]
pub struct SubmitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    pub job_type: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub devices: String,
    #[serde(default)]
    pub commands: String,
    #[serde(default)]
    pub priority: String,
}

fn new_request_id() -> String {
    format!("console:{}", Uuid::new_v4())
}

fn submit_page(
    session: &Session,
    status: StatusCode,
    form: SubmitForm,
    error: Option<String>,
    refused_job: Option<String>,
) -> Response {
    let page = view::page(&SubmitPage {
        chrome: Chrome::new(session, "submit", "Submit a job"),
        may_submit: session.may_submit(),
        // A new id for each form shown: a form sent twice is one job, a new form another.
        request_id: if error.is_some() && !form.request_id.is_empty() && refused_job.is_none() {
            form.request_id.clone()
        } else {
            new_request_id()
        },
        form,
        error,
        refused_job,
    });
    (status, page).into_response()
}

/// The submit form.
pub async fn new(session: Session) -> Response {
    let form = SubmitForm {
        job_type: "config_backup".into(),
        ..SubmitForm::default()
    };
    submit_page(&session, StatusCode::OK, form, None, None)
}

fn list_of(text: &str, separators: &[char]) -> Vec<String> {
    text.split(separators)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Submits the form's job as the session token's submitter, through the REST handler.
pub async fn submit(
    session: Session,
    State(s): Shared,
    Form(form): Form<SubmitForm>,
) -> view::Answer {
    session.check_job_form(&form.csrf, "submitting")?;
    let body = SubmitJob {
        request_id: Some(form.request_id.clone()).filter(|r| r.starts_with("console:")),
        job_type: form.job_type.clone(),
        targets: Some(serde_json::json!({
            "tags": list_of(&form.tags, &[',', ' ', '\n']),
            "devices": list_of(&form.devices, &[',', ' ', '\n']),
        })),
        commands: list_of(&form.commands, &['\n']),
        limits: None,
        priority: match form.priority.as_str() {
            "" => None,
            p => match p.parse() {
                Ok(p) => Some(p),
                Err(e) => {
                    return Err(submit_page(
                        &session,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        form,
                        Some(e),
                        None,
                    ))
                }
            },
        },
    };
    let answer =
        crate::rest::jobs::submit(Caller(session.holder.clone()), State(s), Ok(Json(body))).await;
    match answer {
        Ok(accepted) => {
            let accepted = accepted.into_response();
            let job = accepted
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.rsplit('/').next())
                .unwrap_or_default()
                .to_string();
            Ok(Redirect::to(&format!("/console/jobs/{job}")).into_response())
        }
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            let refused = p.job_id.map(|j| j.to_string());
            Err(submit_page(&session, status, form, p.detail, refused))
        }
    }
}

/// The cancel form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CancelForm {
    csrf: String,
    reason: String,
}

/// Cancels a job as the session token's submitter, through the REST cancel handler: a
/// token of scope submit, and the dispatcher's rule (its submitter's own jobs, or any with
/// `cancel_any_job`). Back to the job's page, which follows it to `CANCELLED`.
pub async fn cancel(
    session: Session,
    State(s): Shared,
    Path(id): Path<String>,
    Form(form): Form<CancelForm>,
) -> view::Answer {
    session.check_job_form(&form.csrf, "cancelling")?;
    let id = job_id(&id)?;
    let body = CancelJob {
        reason: Some(form.reason.trim().to_string()).filter(|r| !r.is_empty()),
    };
    let answer = crate::rest::jobs::cancel(
        Caller(session.holder.clone()),
        State(s),
        Ok(Path(id)),
        Ok(Some(Json(body))),
    )
    .await;
    match answer {
        Ok(_) => Ok(Redirect::to(&format!("/console/jobs/{id}")).into_response()),
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            Err(view::error(
                status,
                p.detail.as_deref().unwrap_or("the job was not cancelled"),
            ))
        }
    }
}

/// A job page's id from its path; a path that is no job id is a 404 page.
fn job_id(id: &str) -> Result<Uuid, Response> {
    id.parse()
        .map_err(|_| view::not_found("no such job: not a job id"))
}
