//! Protecting AAA servers: per worker and per credential, at most `N` logins at once and
//! at most `R` logins per second. Thousands of devices share a few credentials; without
//! this, a large job turns into a login storm that TACACS and RADIUS servers answer with
//! lockouts.

use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Keyed = RateLimiter<i64, DefaultKeyedStateStore<i64>, DefaultClock>;

/// The per-credential login limits of one worker. Zero means unlimited.
pub struct LoginLimits {
    concurrent: usize,
    semaphores: Mutex<HashMap<i64, Arc<Semaphore>>>,
    rate: Option<Keyed>,
}

/// Held while a login is in progress; dropping it lets the next login of that credential go.
pub struct LoginPermit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl LoginLimits {
    pub fn new(max_concurrent: usize, max_per_second: u32) -> LoginLimits {
        LoginLimits {
            concurrent: max_concurrent,
            semaphores: Mutex::new(HashMap::new()),
            rate: NonZeroU32::new(max_per_second).map(|r| RateLimiter::keyed(Quota::per_second(r))),
        }
    }

    /// Waits until `credential` may start another login on this worker.
    pub async fn acquire(&self, credential: i64) -> LoginPermit {
        let permit = if self.concurrent == 0 {
            None
        } else {
            let semaphore = {
                let mut map = match self.semaphores.lock() {
                    Ok(m) => m,
                    Err(poisoned) => poisoned.into_inner(),
                };
                map.entry(credential)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.concurrent)))
                    .clone()
            };
            semaphore.acquire_owned().await.ok()
        };
        if let Some(rate) = &self.rate {
            rate.until_key_ready(&credential).await;
        }
        LoginPermit(permit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn concurrent_logins_of_one_credential_wait_for_a_permit() {
        let limits = LoginLimits::new(2, 0);
        let a = limits.acquire(1).await;
        let _b = limits.acquire(1).await;
        // Another credential is not held up.
        let _other = limits.acquire(2).await;
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire(1)).await;
        assert!(third.is_err(), "a third login of credential 1 must wait");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire(1)).await;
        assert!(third.is_ok(), "and goes once one finishes");
    }

    #[tokio::test]
    async fn logins_per_second_are_capped_per_credential() {
        let limits = LoginLimits::new(0, 20);
        let started = Instant::now();
        for _ in 0..30 {
            drop(limits.acquire(7).await);
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
