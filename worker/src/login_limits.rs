//! Protecting AAA servers. Thousands of devices share a few credentials; without caps, a
//! large job turns into a login storm that TACACS and RADIUS servers answer with lockouts.
//!
//! Two budgets, both per credential:
//! - the worker's own (`worker.max_concurrent_logins_per_credential`,
//!   `max_logins_per_second_per_credential`): what one replica may send, in memory;
//! - the fleet's (the credential's `max_concurrent_logins`, `max_logins_per_second`, carried
//!   in the signed task): what every worker together may send, held in Postgres as one
//!   lease per login ([`crate::persist::take_login`]). A lease expires after the login's own
//!   timeout and a margin, so a worker that dies keeps no share.
//!
//! A login waits for the worker's budget first, then the fleet's. Within a worker, at most
//! [`ASKERS`] logins per credential ask Postgres at a time (the others queue behind them in
//! memory, in order), so a job of 50,000 devices waiting on a cap costs each worker a few
//! dozen queries a second, not one per waiting device.

use crate::persist::{release_login, take_login, FleetCaps};
use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use netraven_shared::messages::TaskCredential;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

type Keyed = RateLimiter<i64, DefaultKeyedStateStore<i64>, DefaultClock>;

/// How long a lease outlives the login's own timeout: a worker that stopped (killed, or
/// cut off from Postgres) holds its share for at most the login timeout and this.
const LEASE_MARGIN: Duration = Duration::from_secs(2);

/// Logins of one credential that ask Postgres for a lease at once, per worker: enough
/// that the round trip does not bound a worker's login rate, few enough that the waiting
/// ones do not flood Postgres.
pub const ASKERS: usize = 4;

/// How long to wait before asking Postgres again when it did not answer.
const UNANSWERED_PAUSE: Duration = Duration::from_millis(250);

/// The per-credential login budgets of one worker: its own, and its part of the fleet's.
pub struct LoginLimits {
    concurrent: usize,
    semaphores: Mutex<HashMap<i64, Arc<Semaphore>>>,
    rate: Option<Keyed>,
    fleet: Option<Fleet>,
}

/// Where the fleet's budget is kept, and who asks.
struct Fleet {
    pool: deadpool_postgres::Pool,
    /// This worker's name, recorded with each lease.
    holder: String,
    /// The turns to ask, per capped credential on this worker.
    asking: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

/// Held while a login is in progress. [`LoginPermit::release`] frees both budgets at once;
/// a permit dropped without it (the device's deadline cut the login) releases its lease
/// in the background.
pub struct LoginPermit {
    #[allow(dead_code)]
    local: Option<OwnedSemaphorePermit>,
    lease: Option<(deadpool_postgres::Pool, Uuid)>,
}

impl LoginPermit {
    /// Ends the login: the next one of this credential may go, on any worker.
    pub async fn release(mut self) {
        if let Some((pool, token)) = self.lease.take() {
            if let Err(e) = release_login(&pool, token).await {
                tracing::warn!(error = %e, "login lease not released; it expires on its own");
            }
        }
    }
}

impl Drop for LoginPermit {
    fn drop(&mut self) {
        if let Some((pool, token)) = self.lease.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = release_login(&pool, token).await {
                        tracing::warn!(error = %e, "login lease not released; it expires on its own");
                    }
                });
            }
        }
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl LoginLimits {
    /// A worker's budgets: its own caps (zero is no cap) and, with a pool, the fleet's.
    pub fn new(
        max_concurrent: usize,
        max_per_second: u32,
        fleet: Option<(deadpool_postgres::Pool, String)>,
    ) -> LoginLimits {
        LoginLimits {
            concurrent: max_concurrent,
            semaphores: Mutex::new(HashMap::new()),
            rate: NonZeroU32::new(max_per_second).map(|r| RateLimiter::keyed(Quota::per_second(r))),
            fleet: fleet.map(|(pool, holder)| Fleet {
                pool,
                holder,
                asking: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Waits until `credential` may start another login, on this worker and in the fleet.
    /// `login_timeout` bounds the login: a lease not released lapses after it.
    pub async fn acquire(
        &self,
        credential: &TaskCredential,
        login_timeout: Duration,
    ) -> LoginPermit {
        let local = if self.concurrent == 0 {
            None
        } else {
            let semaphore = locked(&self.semaphores)
                .entry(credential.id)
                .or_insert_with(|| Arc::new(Semaphore::new(self.concurrent)))
                .clone();
            semaphore.acquire_owned().await.ok()
        };
        if let Some(rate) = &self.rate {
            rate.until_key_ready(&credential.id).await;
        }
        let caps = FleetCaps {
            concurrent: credential.max_concurrent_logins,
            per_second: credential.max_logins_per_second,
        };
        let lease = match &self.fleet {
            Some(fleet) if caps.concurrent.is_some() || caps.per_second.is_some() => Some(
                fleet
                    .lease(credential.id, caps, login_timeout + LEASE_MARGIN)
                    .await,
            ),
            _ => None,
        };
        LoginPermit { local, lease }
    }
}

impl Fleet {
    /// Asks Postgres for a lease until it grants one. Only the device's deadline ends the
    /// wait: while Postgres is away, no capped login goes out.
    async fn lease(
        &self,
        credential: i64,
        caps: FleetCaps,
        lease: Duration,
    ) -> (deadpool_postgres::Pool, Uuid) {
        let asker = locked(&self.asking)
            .entry(credential)
            .or_insert_with(|| Arc::new(Semaphore::new(ASKERS)))
            .clone();
        let _turn = asker.acquire().await.ok();
        let token = Uuid::new_v4();
        let mut warned = false;
        loop {
            match take_settled(&self.pool, credential, token, &self.holder, caps, lease).await {
                Ok(None) => return (self.pool.clone(), token),
                Ok(Some(wait)) => tokio::time::sleep(wait).await,
                Err(e) => {
                    if !warned {
                        tracing::warn!(credential.id = credential, error = %e,
                            "fleet login budget unreadable; the login waits for Postgres");
                        warned = true;
                    }
                    tokio::time::sleep(UNANSWERED_PAUSE).await;
                }
            }
        }
    }
}

/// One ask for the lease `token`, in a task of its own that settles it whatever becomes
/// of the caller: a take sent may commit after its caller was dropped (the device's
/// deadline) or its answer lost, and a lease no one knows of held its slot until it
/// expired. Left without a caller, the task releases what it may have taken; a caller
/// whose answer was lost asks again with the same token, which is granted the lease it
/// holds (migration V24).
async fn take_settled(
    pool: &deadpool_postgres::Pool,
    credential: i64,
    token: Uuid,
    holder: &str,
    caps: FleetCaps,
    lease: Duration,
) -> Result<Option<Duration>, crate::error::WorkerError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (pool, holder) = (pool.clone(), holder.to_string());
    tokio::spawn(async move {
        let taken = take_login(&pool, credential, token, &holder, caps, lease).await;
        if let Err(taken) = tx.send(taken) {
            // Granted, or perhaps granted: nobody will log in under it.
            if !matches!(taken, Ok(Some(_))) {
                if let Err(e) = release_login(&pool, token).await {
                    tracing::warn!(error = %e, "abandoned login lease not released; it expires on its own");
                }
            }
        }
    });
    rx.await
        .unwrap_or(Err(crate::error::WorkerError::LeaseAskLost))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const AUTH: Duration = Duration::from_secs(10);

    fn credential(id: i64) -> TaskCredential {
        TaskCredential {
            id,
            name: format!("c{id}"),
            username: "u".into(),
            sealed_secret: Some("nrv1:k:x".into()),
            sealed_key: None,
            sealed_key_passphrase: None,
            sealed_enable: None,
            max_concurrent_logins: Some(1),
            max_logins_per_second: None,
        }
    }

    #[tokio::test]
    async fn concurrent_logins_of_one_credential_wait_for_a_permit() {
        let limits = LoginLimits::new(2, 0, None);
        let (one, two) = (credential(1), credential(2));
        let a = limits.acquire(&one, AUTH).await;
        let _b = limits.acquire(&one, AUTH).await;
        // Another credential is not held up.
        let _other = limits.acquire(&two, AUTH).await;
        let third =
            tokio::time::timeout(Duration::from_millis(50), limits.acquire(&one, AUTH)).await;
        assert!(third.is_err(), "a third login of credential 1 must wait");
        drop(a);
        let third =
            tokio::time::timeout(Duration::from_millis(50), limits.acquire(&one, AUTH)).await;
        assert!(third.is_ok(), "and goes once one finishes");
    }

    #[tokio::test]
    async fn logins_per_second_are_capped_per_credential() {
        let limits = LoginLimits::new(0, 20, None);
        let started = Instant::now();
        for _ in 0..30 {
            drop(limits.acquire(&credential(7), AUTH).await);
        }
        // A burst of 20, then 10 more at 20/s: at least ~0.45 s.
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
        let rate = limits.rate.as_ref().expect("a rate is set");
        assert!(
            rate.check_key(&7).is_err(),
            "credential 7 has spent its budget"
        );
        assert!(
            rate.check_key(&8).is_ok(),
            "another credential has its own budget"
        );
    }
}
