//! `/api/dead-letters`: what sits in the dead-letter queue (ids and names only, never a
//! body) and sending it back where it came from, as `netraven dead list` and `dead
//! replay` do with the same code. A replayed job request is sent for the token's
//! submitter.
//!
//! Both need an admin token. Reading a quorum queue is no peek: a listing takes every
//! message and publishes it again to the tail (see `netraven_dead_letters`), so it is work
//! on the broker a read token must not be able to repeat at will. One replica goes round
//! the queue once at a time.

use crate::auth::Admin;
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::Json;
use netraven_dead_letters::{self as dead, Filter, Listing, Replay, Replayed};
use netraven_shared::broker::Names;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// The broker connection's name for these requests.
const CLIENT: &str = "api-dead";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeadQuery {
    /// Only these: `tasks` (bulk lane), `interactive`, `requests`, `results`, or a queue name.
    pub source: Option<String>,
    /// Skip this many of those the filter picks (default 0).
    pub offset: Option<usize>,
    pub limit: Option<u32>,
}

/// The dead letters, in queue order, read without losing or reordering any (an admin
/// token: a listing republishes every message).
#[utoipa::path(operation_id = "dead_letter_list", get, path = "/api/dead-letters", tag = "dead-letters", params(DeadQuery),
    responses((status = 200, body = Listing), (status = 403, description = "the token is not an admin's")))]
pub async fn list(
    _: Admin,
    State(s): State<Arc<AppState>>,
    q: Result<Query<DeadQuery>, QueryRejection>,
) -> Result<Json<Listing>, Problem> {
    let Query(q) = q?;
    let filter = Filter {
        source: q.source,
        offset: q.offset.unwrap_or(0),
        limit: s.page_size(q.limit)?,
    };
    let _round = s.dead_letters.lock().await;
    Ok(Json(dead::list(s.gateway.amqp(), CLIENT, &filter).await?))
}

/// What to replay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Only these: `tasks`, `interactive`, `requests`, `results`, or one of their queues.
    pub source: Option<String>,
    /// At most this many (default 1000).
    pub limit: Option<usize>,
}

/// Sends dead letters back to the exchange and routing key they came from, each acked
/// only once the broker confirmed its replay. Job requests go again for this token's
/// submitter.
#[utoipa::path(operation_id = "dead_letter_replay", post, path = "/api/dead-letters/replay", tag = "dead-letters", request_body = ReplayRequest,
    responses((status = 200, body = Replayed), (status = 400, description = "a `source` no dead letter can go back to, or a body that does not parse"), (status = 403)))]
pub async fn replay(
    caller: Admin,
    State(s): State<Arc<AppState>>,
    body: Result<Json<ReplayRequest>, JsonRejection>,
) -> Result<Json<Replayed>, Problem> {
    let Json(body) = body?;
    let amqp = s.gateway.amqp();
    if let Some(source) = &body.source {
        let names = Names::new(&amqp.namespace);
        let queue = dead::source_queue(&names, source);
        if dead::destination(&names, &queue).is_none() {
            return Err(Problem::bad_request(format!(
                "cannot replay to {queue}: name tasks, interactive, requests, results or one of their queues"
            )));
        }
    }
    let what = Replay {
        source: body.source,
        limit: body.limit.unwrap_or(1000),
        on_behalf: Some(caller.0.submitter),
    };
    let _round = s.dead_letters.lock().await;
    Ok(Json(dead::replay(amqp, CLIENT, &what).await?))
}
