//! Device claims ([`Claimer`], migration V8): which copy of a device's task this worker
//! is working on. A task published twice contacts its device once, and a worker that was
//! paused past its broker connection (SIGSTOP, a long freeze) cannot record a device that
//! another worker has taken over since.
//!
//! The claim also reads whether the device's job was cancelled (migration V16): a device
//! claimed after its job's cancel is recorded `CANCELLED` without being contacted, however
//! its task was queued.
//!
//! Claims are taken in group commit, as pins are: the devices one worker starts within
//! [`CLAIM_WINDOW`] share one statement. A claim needs no flush of its own to disk: a
//! claim lost in a Postgres crash only lets a second copy of the task contact the device
//! again, which is what happened before claims existed.

use super::connection::retrying;
use crate::batcher::Batcher;
use crate::error::WorkerError;
use deadpool_postgres::{GenericClient, Pool};
use netraven_shared::messages::TaskResult;
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Claims a batch holds at most.
const MAX_CLAIMS: usize = 512;

/// How long the first claim of a batch waits for others: a device starts this much later,
/// and Postgres takes one statement for every device started meanwhile.
const CLAIM_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// What became of a claim on a device of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This delivery holds the device: work on it, and record it with this token.
    Mine(Uuid),
    /// This delivery holds the device, but its job was cancelled (by this broker user):
    /// record it `CANCELLED` with this token, contact nothing.
    Cancelled(Uuid, String),
    /// The device is recorded already: report this result again, contact nothing.
    Done(Box<TaskResult>),
    /// Another copy of the task holds the device, and this one is a first delivery: the
    /// holder reports the device (or, if the holder dies, its redelivered copy does).
    HeldElsewhere,
    /// A later try of the device has taken the claim: this copy of an earlier try is late
    /// and must neither contact the device nor report it.
    Superseded,
    /// The device is recorded already, but its stored result does not read back (written
    /// by a newer worker, say): this copy goes back to the queue, alone, and at the delivery
    /// limit to the dead letters. The reason says why.
    Unreadable(String),
}

/// One delivery's claim on a device of a job.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRow {
    pub job_id: Uuid,
    pub device_id: i64,
    /// This delivery's own token: the claim is this delivery's while it holds the token.
    pub token: Uuid,
    pub redelivered: bool,
    /// Which try of the device the task is (from 1).
    pub try_number: i32,
}

struct ClaimRequest {
    row: ClaimRow,
    reply: oneshot::Sender<Result<Claim, WorkerError>>,
}

/// Device claims in group commit.
#[derive(Clone)]
pub struct Claimer {
    requests: mpsc::Sender<ClaimRequest>,
}

impl Claimer {
    /// Starts the claiming task; it ends once every handle is dropped.
    pub fn start(pool: Pool) -> Claimer {
        let (requests, rx) = mpsc::channel(MAX_CLAIMS * 2);
        tokio::spawn(run_claims(pool, rx));
        Claimer { requests }
    }

    /// Claims `device_id` of `job_id` for one delivery of try `try_number` of its task.
    /// A first delivery (`redelivered` false) never takes a claim another copy of the same
    /// try holds; a redelivery does, because its broker channel, and so the worker that
    /// held it, is gone. A later try always takes the claim of an earlier one (whose result
    /// is recorded: that is why it was retried).
    pub async fn claim(
        &self,
        job_id: Uuid,
        device_id: i64,
        redelivered: bool,
        try_number: u32,
    ) -> Result<Claim, WorkerError> {
        let (reply, answer) = oneshot::channel();
        let request = ClaimRequest {
            row: ClaimRow {
                job_id,
                device_id,
                token: Uuid::new_v4(),
                redelivered,
                try_number: i32::try_from(try_number).unwrap_or(i32::MAX),
            },
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| WorkerError::ClaimingStopped)?;
        answer.await.map_err(|_| WorkerError::ClaimingStopped)?
    }
}

async fn run_claims(pool: Pool, rx: mpsc::Receiver<ClaimRequest>) {
    let mut batches = Batcher::new(rx, MAX_CLAIMS, CLAIM_WINDOW);
    while let Some(batch) = batches.next().await {
        // Retried while Postgres is away; a device whose deadline passes meanwhile stops
        // waiting for its answer.
        match retrying("claiming devices", || claims_once(&pool, &batch)).await {
            Ok(answers) => {
                for r in batch {
                    let answer = answers
                        .get(&r.row.token)
                        .cloned()
                        .unwrap_or(Claim::HeldElsewhere);
                    let _ = r.reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, devices = batch.len(), "claiming devices failed");
                let reason = e.to_string();
                for r in batch {
                    let _ = r.reply.send(Err(WorkerError::Claim(reason.clone())));
                }
            }
        }
    }
}

/// One try at claiming a batch; the answer of each request, by its token.
async fn claims_once(
    pool: &Pool,
    batch: &[ClaimRequest],
) -> Result<HashMap<Uuid, Claim>, WorkerError> {
    // One row per job and device: a second copy of a task in the same batch is answered
    // as held elsewhere. The copy kept is of the latest try, a redelivered one first: it
    // may take over the claim of a holder that is gone, which a first delivery may not, so
    // keeping a first delivery instead would leave both copies answered "held elsewhere"
    // and the device to nobody. Among equals, whichever came first.
    let mut seen = HashSet::new();
    let mut latest_first: Vec<&ClaimRequest> = batch.iter().collect();
    latest_first.sort_by_key(|r| {
        (
            std::cmp::Reverse(r.row.try_number),
            std::cmp::Reverse(r.row.redelivered),
        )
    });
    let rows: Vec<ClaimRow> = latest_first
        .into_iter()
        .filter(|r| !r.reply.is_closed() && seen.insert((r.row.job_id, r.row.device_id)))
        .map(|r| r.row)
        .collect();
    claim_rows(pool, &rows).await
}

/// Claims devices in one statement (one row per job and device); the answer of each row,
/// by its token. Safe to run again with the same rows: a row whose token holds the claim
/// already is answered [`Claim::Mine`] — the retry of a statement that committed but
/// whose answer was lost (a connection cut or timed out mid-reply) keeps its claim
/// instead of taking it for another holder's and leaving the device to nobody.
pub async fn claim_rows(
    pool: &Pool,
    rows: &[ClaimRow],
) -> Result<HashMap<Uuid, Claim>, WorkerError> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let jobs: Vec<Uuid> = rows.iter().map(|r| r.job_id).collect();
    let devices: Vec<i64> = rows.iter().map(|r| r.device_id).collect();
    let tokens: Vec<Uuid> = rows.iter().map(|r| r.token).collect();
    let redelivered: Vec<bool> = rows.iter().map(|r| r.redelivered).collect();
    let tries: Vec<i32> = rows.iter().map(|r| r.try_number).collect();
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            // The final SELECT sees device_claims as it was before the INSERT (one
            // snapshot for the whole statement): a claim this statement took comes back
            // through `taken`, and a claim it did not take with whatever result it held, and
            // whether a later try holds it. A claim that holds this row's token was taken by
            // an earlier run of this very statement, whose answer was lost: it is this row's.
            "WITH req AS (
                 SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::bool[],
                                      $5::int[])
                     AS r(job_id, device_id, token, redelivered, try)
             ), taken AS (
                 INSERT INTO device_claims AS c (job_id, device_id, token, redelivered, try)
                 SELECT job_id, device_id, token, redelivered, try FROM req
                 ON CONFLICT (job_id, device_id) DO UPDATE
                 SET token = EXCLUDED.token, claimed_at = now(), try = EXCLUDED.try,
                     redelivered = EXCLUDED.redelivered OR c.try = EXCLUDED.try,
                     result = CASE WHEN EXCLUDED.try > c.try THEN NULL ELSE c.result END
                 WHERE EXCLUDED.try > c.try
                    OR (EXCLUDED.try = c.try AND EXCLUDED.redelivered AND c.result IS NULL)
                 RETURNING c.token
             )
             SELECT r.token, t.token IS NOT NULL OR c.token = r.token, c.result,
                    COALESCE(c.try > r.try, false),
                    j.cancelled_by
             FROM req r
             LEFT JOIN taken t ON t.token = r.token
             LEFT JOIN device_claims c ON c.job_id = r.job_id AND c.device_id = r.device_id
             LEFT JOIN jobs j ON j.id = r.job_id",
        )
        .await?;
    let found = client
        .query(
            &statement,
            &[&jobs, &devices, &tokens, &redelivered, &tries],
        )
        .await?;
    Ok(found
        .iter()
        .map(|row| {
            let token: Uuid = row.get(0);
            let mine: bool = row.get(1);
            let result: Option<String> = row.get(2);
            if !mine && row.get::<_, bool>(3) {
                return (token, Claim::Superseded);
            }
            let cancelled_by: Option<String> = row.get(4);
            let answer = match (answer(token, mine, result.as_deref()), cancelled_by) {
                (Claim::Mine(token), Some(by)) => Claim::Cancelled(token, by),
                (answer, _) => answer,
            };
            (token, answer)
        })
        .collect())
}

/// What one row of the claim statement means. A stored result that does not read back
/// is that device's answer alone: the other claims of the batch are answered as usual.
fn answer(token: Uuid, mine: bool, stored: Option<&str>) -> Claim {
    if mine {
        return Claim::Mine(token);
    }
    match stored {
        None => Claim::HeldElsewhere,
        Some(json) => match serde_json::from_str(json) {
            Ok(r) => Claim::Done(Box::new(r)),
            Err(e) => Claim::Unreadable(format!("its stored result does not read back: {e}")),
        },
    }
}

/// Stores in each claim the result it will report (a redelivery reports it again) and
/// answers the claims that still carry the token they were worked under. A device not
/// returned was taken over by another worker while this one was away: it must not be
/// recorded, nor reported, by this one, so a batch that finds one is rolled back and
/// written again without it ([`super::results`]). Run inside the batch's transaction,
/// last but for the counters, so the claims stay locked from here until it commits; a batch
/// written again (a commit whose outcome was unknown) finds its own tokens and changes
/// nothing twice. One row update per device: the claim is written once, with the
/// configuration's version already in its result.
pub async fn store_results(
    tx: &deadpool_postgres::Transaction<'_>,
    claims: &[(std::borrow::Cow<'_, TaskResult>, Uuid)],
) -> Result<HashSet<Uuid>, WorkerError> {
    if claims.is_empty() {
        return Ok(HashSet::new());
    }
    let jobs: Vec<Uuid> = claims.iter().map(|(r, _)| r.job_id).collect();
    let devices: Vec<i64> = claims.iter().map(|(r, _)| r.device_id).collect();
    let tokens: Vec<Uuid> = claims.iter().map(|(_, t)| *t).collect();
    let results = claims
        .iter()
        .map(|(r, _)| serde_json::to_string(r.as_ref()))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| WorkerError::Claim(format!("a result does not encode: {e}")))?;
    let statement = tx
        .prepare_cached(
            "UPDATE device_claims c SET result = r.result
             FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[])
                 AS r(job_id, device_id, token, result)
             WHERE c.job_id = r.job_id AND c.device_id = r.device_id AND c.token = r.token
             RETURNING c.token",
        )
        .await?;
    let held = tx
        .query(&statement, &[&jobs, &devices, &tokens, &results])
        .await?;
    Ok(held.iter().map(|row| row.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_not_taken_is_a_stored_result_or_another_holder() {
        let token = Uuid::new_v4();
        assert_eq!(answer(token, true, None), Claim::Mine(token));
        assert_eq!(answer(token, false, None), Claim::HeldElsewhere);
        let stored = r#"{"version":1,"job_id":"7f1c0b1e-7c1a-4a57-9d1e-3b8f2f6a8e01","device_id":3,"device_name":"r3","outcome":"SUCCESS","reason":"","attempts":1,"duration_ms":5,"worker":"w:1","finished_at":"2026-12-05T10:00:00Z"}"#;
        match answer(token, false, Some(stored)) {
            Claim::Done(r) => assert_eq!(r.device_id, 3),
            other => panic!("expected a stored result, got {other:?}"),
        }
        assert!(matches!(
            answer(token, false, Some("{not json")),
            Claim::Unreadable(why) if why.starts_with("its stored result does not read back")
        ));
    }
}
