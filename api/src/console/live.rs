//! Live progress as server-sent events: `/console/live?jobs=<id>,<id>` sends a `job`
//! event whenever one of those jobs' status or counters change (read from Postgres once a
//! second, so any replica serves any browser), and `end` once all are final. The stream
//! stops when the session ends (logout, its token revoked).

use super::session::{self, Session};
use super::view;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use netraven_shared::domain::{JobStatus, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How often the jobs are read again.
const EVERY: Duration = Duration::from_secs(1);
/// Jobs one stream follows at most (a page of the list).
const MAX_JOBS: usize = 500;
/// A stream ends after this long; the script opens it again if it still wants it.
const MAX_TICKS: u32 = 3600;
/// Streams one session may have open at once: a browser opens one per page it shows.
/// Each reads Postgres every second; more are refused with 429 until one closes.
pub const MAX_STREAMS_PER_SESSION: usize = 8;

/// One open stream of a session, counted in [`AppState::live_streams`] until dropped
/// (the stream ended, or its client went away).
struct StreamSlot {
    state: Arc<AppState>,
    key: Vec<u8>,
}

impl StreamSlot {
    fn take(state: &Arc<AppState>, session: &Session) -> Option<StreamSlot> {
        let mut open = state.live_streams.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(session.key().to_vec()).or_default();
        if *n >= MAX_STREAMS_PER_SESSION {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            state: Arc::clone(state),
            key: session.key().to_vec(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .state
            .live_streams
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    #[serde(default)]
    jobs: String,
}

/// What the page updates for one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Progress {
    id: Uuid,
    status: &'static str,
    class: &'static str,
    #[serde(rename = "final")]
    is_final: bool,
    completed: i64,
    total: i64,
    succeeded: i64,
    percent: i64,
    /// Devices per outcome, for a single job's page.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcomes: Option<BTreeMap<Outcome, i64>>,
}

async fn read(
    s: &AppState,
    session: &Session,
    ids: &[Uuid],
) -> Result<Option<Vec<Progress>>, String> {
    let client = s.pool.get().await.map_err(|e| e.to_string())?;
    if !session::alive(&client, session)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT id, status, completed_devices, total_devices, succeeded_devices
             FROM jobs WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let status: JobStatus = r
            .get::<_, &str>("status")
            .parse()
            .unwrap_or(JobStatus::FailedUnexpected);
        let (completed, total) = (
            i64::from(r.get::<_, i32>("completed_devices")),
            i64::from(r.get::<_, i32>("total_devices")),
        );
        let id: Uuid = r.get("id");
        let outcomes = if ids.len() == 1 {
            Some(
                netraven_reads::jobs::outcomes(&client, id)
                    .await
                    .map_err(|e| format!("{e:#}"))?,
            )
        } else {
            None
        };
        out.push(Progress {
            id,
            status: status.as_str(),
            class: view::status_class(status),
            is_final: status.is_final(),
            completed,
            total,
            succeeded: i64::from(r.get::<_, i32>("succeeded_devices")),
            percent: view::percent(completed, total),
            outcomes,
        });
    }
    Ok(Some(out))
}

struct Follow {
    _slot: StreamSlot,
    state: Arc<AppState>,
    session: Session,
    ids: Vec<Uuid>,
    sent: HashMap<Uuid, Progress>,
    pending: Vec<Event>,
    ticks: u32,
    done: bool,
}

fn events(f: Follow) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(f, |mut f| async move {
        loop {
            if let Some(e) = f.pending.pop() {
                return Some((Ok(e), f));
            }
            if f.done || f.ticks >= MAX_TICKS {
                return None;
            }
            if f.ticks > 0 {
                tokio::time::sleep(EVERY).await;
            }
            f.ticks += 1;
            match read(&f.state, &f.session, &f.ids).await {
                Ok(None) => {
                    f.done = true;
                    f.pending
                        .push(Event::default().event("logout").data("session ended"));
                }
                Ok(Some(jobs)) => {
                    let all_final = jobs.iter().all(|j| j.is_final);
                    if all_final {
                        f.done = true;
                        f.pending
                            .push(Event::default().event("end").data("all final"));
                    }
                    for j in jobs {
                        if f.sent.get(&j.id) != Some(&j) {
                            if let Ok(e) = Event::default().event("job").json_data(&j) {
                                f.pending.push(e);
                            }
                            f.sent.insert(j.id, j);
                        }
                    }
                }
                // A database hiccup: say nothing this second, try again the next.
                Err(e) => tracing::warn!(error = %e, "console live progress cannot read jobs"),
            }
        }
    })
}

/// The event stream of the jobs named in `jobs` (comma-separated ids).
pub async fn stream(
    session: Session,
    State(s): State<Arc<AppState>>,
    Query(q): Query<LiveQuery>,
) -> Response {
    let ids: Result<Vec<Uuid>, _> = q
        .jobs
        .split(',')
        .filter(|i| !i.is_empty())
        .take(MAX_JOBS)
        .map(str::parse)
        .collect();
    let Ok(ids) = ids else {
        return view::bad_request("jobs must be job ids, comma-separated");
    };
    let Some(slot) = StreamSlot::take(&s, &session) else {
        return view::error(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "this session has {MAX_STREAMS_PER_SESSION} live progress streams open already; \
                 close a page and try again"
            ),
        );
    };
    let follow = Follow {
        _slot: slot,
        state: s,
        session,
        ids,
        sent: HashMap::new(),
        pending: Vec::new(),
        ticks: 0,
        done: false,
    };
    Sse::new(events(follow))
        .keep_alive(KeepAlive::default())
        .into_response()
}
