//! The credentials health page and the schedules list (read-only; the REST schedule
//! endpoints are elsewhere). This module owns the console's schedule query.

use super::session::Session;
use super::view::{self, Chrome};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use netraven_reads::credentials::{self, DEFAULT_WINDOW};
use netraven_reads::page::Page;
use serde::Deserialize;
use std::sync::Arc;

type Shared = State<Arc<AppState>>;

pub struct CredentialView {
    pub name: String,
    pub username: String,
    pub login: String,
    pub priority: i32,
    pub enabled: bool,
    pub tags: String,
    pub lifetime: String,
    pub recent: String,
    pub class: &'static str,
    pub dropped: bool,
    pub devices: i64,
    pub last_success: String,
    pub last_failure: String,
}

#[derive(Template)]
#[template(path = "console/credentials.html")]
struct CredentialsPage {
    chrome: Chrome,
    credentials: Vec<CredentialView>,
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "—".into(), |r| format!("{:.0} %", r * 100.0))
}

/// Every credential's health: recent and lifetime success rates (never a secret).
pub async fn credentials(session: Session, State(s): Shared) -> view::Answer {
    let client = s.pool.get().await.map_err(view::internal)?;
    let list = credentials::list(&client, DEFAULT_WINDOW)
        .await
        .map_err(view::read_failed)?;
    Ok(view::page(&CredentialsPage {
        chrome: Chrome::new(&session, "credentials", "Credentials"),
        credentials: list
            .iter()
            .map(|c| CredentialView {
                name: c.name.clone(),
                username: c.username.clone(),
                login: c.login.clone(),
                priority: c.priority,
                enabled: c.enabled,
                tags: c.tags.join(", "),
                lifetime: rate(c.success_rate),
                recent: format!(
                    "{} ({} of {})",
                    rate(c.recent.success_rate),
                    c.recent.successes,
                    c.recent.attempts
                ),
                class: match (c.dropped, c.recent.success_rate.or(c.success_rate)) {
                    (true, _) => "fail",
                    (_, None) => "idle",
                    (_, Some(r)) if r >= 0.95 => "ok",
                    (_, Some(r)) if r > 0.0 => "warn",
                    _ => "fail",
                },
                dropped: c.dropped,
                devices: c.affinity_devices,
                last_success: view::time_opt(c.last_success_at),
                last_failure: view::time_opt(c.last_failure_at),
            })
            .collect(),
    }))
}

pub struct ScheduleView {
    pub name: String,
    pub description: String,
    pub cron: String,
    pub time_zone: String,
    pub job_type: String,
    pub targets: String,
    pub paused: bool,
    pub next_tick: String,
    pub last_run: String,
    pub last_class: &'static str,
}

#[derive(Template)]
#[template(path = "console/schedules.html")]
struct SchedulesPage {
    chrome: Chrome,
    schedules: Vec<ScheduleView>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
}

/// The schedules by name, a page at a time, with each one's latest run.
pub async fn schedules(
    session: Session,
    State(s): Shared,
    Query(q): Query<ListQuery>,
) -> view::Answer {
    let after = view::cursor::<String>(q.cursor)?;
    let limit = s.settings.default_page_size as usize;
    let client = s.pool.get().await.map_err(view::internal)?;
    let rows = netraven_schedules::view::list(&client, after.as_deref(), Some(limit as i64 + 1))
        .await
        .map_err(view::internal)?;
    let rows: Vec<ScheduleView> = rows
        .into_iter()
        .map(|v| {
            let last = v.last_run.flatten();
            ScheduleView {
                targets: serde_json::to_string(&v.targets).unwrap_or_default(),
                name: v.name,
                description: v.description,
                cron: v.cron,
                time_zone: v.time_zone,
                job_type: v.job_type,
                paused: v.paused,
                next_tick: view::time_opt(v.next_tick_at),
                last_class: match last.as_ref().map(|l| l.outcome.as_str()) {
                    Some("FIRED") => "ok",
                    Some("SKIPPED") => "warn",
                    Some(_) => "fail",
                    None => "idle",
                },
                last_run: last.map_or_else(
                    || "never".into(),
                    |l| format!("{} at {}", l.outcome, view::time(l.tick_at)),
                ),
            }
        })
        .collect();
    let page = Page::of(rows, limit, |s| s.name.clone());
    Ok(view::page(&SchedulesPage {
        chrome: Chrome::new(&session, "schedules", "Schedules"),
        schedules: page.items,
        next: page.next_cursor,
    }))
}
