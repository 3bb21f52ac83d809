//! Host-key pins in group commit ([`Pinner`]): a device's first key is committed before
//! any secret is sent to it. The pin is idempotent, so a redelivered task changes nothing.

use super::connection::retrying;
use crate::batcher::Batcher;
use crate::error::WorkerError;
use crate::ssh::PresentedKey;
use deadpool_postgres::{GenericClient, Pool};
use std::collections::{BTreeMap, HashMap};
use tokio::sync::{mpsc, oneshot};

/// Pins a batch holds at most.
const MAX_PINS: usize = 256;

/// How long the first pin of a batch waits for others. A first contact waits this much
/// longer before its secrets go out; Postgres does one statement and one commit for
/// every device that arrived meanwhile instead of one each.
const PIN_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

struct PinRequest {
    device_id: i64,
    key: PresentedKey,
    reply: oneshot::Sender<Result<String, WorkerError>>,
}

/// Host-key pins in group commit. A device's pin is in the database, committed, before
/// [`Pinner::pin`] returns — as with a statement of its own, so no secret is ever sent
/// to a device whose first key is not pinned, and a second worker that meets the device
/// with another key refuses it — but the devices of one worker that make first contact
/// within [`PIN_WINDOW`] share one statement.
#[derive(Clone)]
pub struct Pinner {
    requests: mpsc::Sender<PinRequest>,
}

impl Pinner {
    /// Starts the pinning task; it ends once every handle is dropped.
    pub fn start(pool: Pool) -> Pinner {
        let (requests, rx) = mpsc::channel(MAX_PINS * 4);
        tokio::spawn(run_pins(pool, rx));
        Pinner { requests }
    }

    /// Pins the first key seen for `device_id`. Returns the key pinned now, which
    /// differs from `key` when another worker (or another task of this one) pinned a
    /// different key first.
    pub async fn pin(&self, device_id: i64, key: &PresentedKey) -> Result<String, WorkerError> {
        let (reply, answer) = oneshot::channel();
        let request = PinRequest {
            device_id,
            key: key.clone(),
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| WorkerError::PinningStopped)?;
        answer.await.map_err(|_| WorkerError::PinningStopped)?
    }
}

/// The pins' batches: a batch closes when full or [`PIN_WINDOW`] after its first pin.
fn pin_batches(rx: mpsc::Receiver<PinRequest>) -> Batcher<PinRequest> {
    Batcher::new(rx, MAX_PINS, PIN_WINDOW)
}

async fn run_pins(pool: Pool, rx: mpsc::Receiver<PinRequest>) {
    let mut batches = pin_batches(rx);
    while let Some(batch) = batches.next().await {
        pin_batch(&pool, batch).await;
    }
}

/// Pins a batch and answers each request. Transient failures are retried (a waiting
/// device's deadline bounds its wait; a request nobody waits for any more is dropped);
/// a device deleted meanwhile is answered with an error of its own; any other permanent
/// failure fails only its own device: the batch is then pinned again one device at a
/// time.
async fn pin_batch(pool: &Pool, batch: Vec<PinRequest>) {
    let mut work = vec![batch];
    while let Some(batch) = work.pop() {
        match retrying("pinning host keys", || pins_once(pool, &batch)).await {
            Ok(pinned) => {
                // Every device comes back, with its pinned key or as unknown.
                for r in batch {
                    let _ = r
                        .reply
                        .send(pinned_answer(r.device_id, pinned.get(&r.device_id)));
                }
            }
            Err(e) if batch.len() > 1 => {
                tracing::warn!(error = %e, devices = batch.len(),
                    "pinning host keys in one statement failed; pinning them one by one");
                work.extend(batch.into_iter().map(|r| vec![r]));
            }
            Err(e) => {
                if let Some(r) = batch.into_iter().next() {
                    let _ = r.reply.send(Err(e));
                }
            }
        }
    }
}

/// One try at pinning the requests still waited for.
async fn pins_once(
    pool: &Pool,
    batch: &[PinRequest],
) -> Result<HashMap<i64, Option<String>>, WorkerError> {
    // One row per device: a second request for the same device is answered with whatever
    // the first pinned. A request nobody waits for any more is left out.
    let mut rows: BTreeMap<i64, &PresentedKey> = BTreeMap::new();
    for r in batch.iter().filter(|r| !r.reply.is_closed()) {
        rows.entry(r.device_id).or_insert(&r.key);
    }
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let devices: Vec<i64> = rows.keys().copied().collect();
    let algorithms: Vec<&str> = rows.values().map(|k| k.algorithm.as_str()).collect();
    let keys: Vec<&str> = rows.values().map(|k| k.public_key.as_str()).collect();
    let fingerprints: Vec<&str> = rows.values().map(|k| k.fingerprint.as_str()).collect();
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            // A device pinned already keeps its key: the update returns it (waiting for a
            // concurrent pin to commit first), and marks it seen only if this is the key
            // shown. A device no longer in the inventory gets no pin (migration V3) and
            // comes back with no key; the others are locked against deletion until the
            // pin commits. No join back into host_keys: its plan, made once per
            // connection while the table may still be empty, would scan it whole on
            // every call.
            "WITH live AS (
                 SELECT id FROM devices WHERE id = ANY($1) ORDER BY id FOR KEY SHARE
             ), input AS (
                 SELECT t.*, t.device_id IN (SELECT id FROM live) AS known
                 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
                     AS t(device_id, algorithm, public_key, fingerprint)
             ), pinned AS (
                 INSERT INTO host_keys (device_id, algorithm, public_key, fingerprint)
                 SELECT device_id, algorithm, public_key, fingerprint FROM input WHERE known
                 ON CONFLICT (device_id) DO UPDATE SET last_seen_at = CASE
                     WHEN host_keys.public_key IN (EXCLUDED.public_key, EXCLUDED.fingerprint)
                     THEN now()
                     ELSE host_keys.last_seen_at END
                 RETURNING device_id, public_key
             )
             SELECT device_id, public_key FROM pinned
             UNION ALL
             SELECT device_id, NULL FROM input WHERE NOT known",
        )
        .await?;
    let found = client
        .query(&statement, &[&devices, &algorithms, &keys, &fingerprints])
        .await?;
    Ok(found.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// The answer to one device's pin request: the key pinned, or why there is none.
fn pinned_answer(device_id: i64, pinned: Option<&Option<String>>) -> Result<String, WorkerError> {
    match pinned {
        Some(Some(key)) => Ok(key.clone()),
        Some(None) => Err(WorkerError::DeviceGone { device_id }),
        None => Err(WorkerError::NoPinAnswer { device_id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{Duration, Instant};

    fn request(device_id: i64) -> (PinRequest, oneshot::Receiver<Result<String, WorkerError>>) {
        let (reply, answer) = oneshot::channel();
        let key = PresentedKey {
            algorithm: "ssh-ed25519".into(),
            public_key: format!("ssh-ed25519 key-{device_id}"),
            fingerprint: format!("SHA256:{device_id}"),
        };
        let r = PinRequest {
            device_id,
            key,
            reply,
        };
        (r, answer)
    }

    #[tokio::test(start_paused = true)]
    async fn first_contacts_within_the_pin_window_share_one_batch() {
        let (tx, rx) = mpsc::channel(MAX_PINS * 4);
        let mut batches = pin_batches(rx);
        let started = Instant::now();
        let feeder = tokio::spawn(async move {
            let mut answers = Vec::new();
            for device_id in 0..3 {
                let (r, answer) = request(device_id);
                tx.send(r).await.expect("open");
                answers.push(answer);
                tokio::time::sleep(PIN_WINDOW / 4).await;
            }
            // After the window of the first: the next batch's.
            tokio::time::sleep(PIN_WINDOW).await;
            let (r, answer) = request(9);
            tx.send(r).await.expect("open");
            answers.push(answer);
            (tx, answers)
        });
        let first = batches.next().await.expect("a batch");
        assert_eq!(
            first.iter().map(|r| r.device_id).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(
            started.elapsed(),
            PIN_WINDOW,
            "closed by the window, not before"
        );
        let second = batches.next().await.expect("a batch");
        assert_eq!(
            second.iter().map(|r| r.device_id).collect::<Vec<_>>(),
            vec![9]
        );
        drop(feeder.await.expect("feeder"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_pin_batch_does_not_wait_out_the_window() {
        let (tx, rx) = mpsc::channel(MAX_PINS * 4);
        let mut batches = pin_batches(rx);
        let mut answers = Vec::new();
        for device_id in 0..=MAX_PINS as i64 {
            let (r, answer) = request(device_id);
            tx.send(r).await.expect("open");
            answers.push(answer);
        }
        let started = Instant::now();
        assert_eq!(batches.next().await.expect("a batch").len(), MAX_PINS);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(batches.next().await.expect("the rest").len(), 1);
        assert_eq!(started.elapsed(), PIN_WINDOW, "the rest waits for company");
    }

    #[test]
    fn a_device_missing_from_the_answer_is_told_apart_from_a_deleted_one() {
        let key = Some("ssh-ed25519 AAAA".to_string());
        assert_eq!(
            pinned_answer(1, Some(&key)).expect("pinned"),
            "ssh-ed25519 AAAA"
        );
        assert!(matches!(
            pinned_answer(2, Some(&None)),
            Err(WorkerError::DeviceGone { device_id: 2 })
        ));
        assert!(matches!(
            pinned_answer(3, None),
            Err(WorkerError::NoPinAnswer { device_id: 3 })
        ));
    }
}
