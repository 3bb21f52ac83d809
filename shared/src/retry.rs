//! The one backoff every retry in the fleet uses: exponential, capped, with jitter.
//!
//! Built on `backon`, so the arithmetic (doubling, the cap, the jitter) is a maintained
//! crate's, not ours. Each delay is the previous one doubled, up to the cap, then
//! stretched by a random 0–100 %: replicas that lost the broker or Postgres at the same
//! moment do not come back in lockstep. A retry never gives up on its own: what bounds it
//! is the caller's deadline (a device's) or the shutdown signal.
//!
//! Two ways to use it:
//! - [`Backoff::retry`] runs an operation again while its error [is
//!   transient](crate::Transient), and returns the first permanent error;
//! - [`Backoff::delays`] gives the waits to a loop that drives itself (reconnecting,
//!   resubscribing) and must also watch the shutdown signal: [`Delays::wait`].

use crate::Transient;
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder, Retryable};
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// An exponential backoff between `min` and `max` (before jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// Reaching a service again after losing it: the broker, Postgres, a consumer.
    pub const RECONNECT: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    /// A write that must land while a device's deadline runs: short waits, so a database
    /// that comes back is used at once.
    pub const DATABASE_WRITE: Backoff =
        Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    /// Opening one database connection again, within its connect timeout: a failover or
    /// a restart is over in a second or two, and is waited out in short steps.
    pub const CONNECT: Backoff =
        Backoff::new(Duration::from_millis(50), Duration::from_millis(500));

    pub const fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max }
    }

    /// The wait before retry `n` (from 1) of a device: `min` doubled `n - 1` times, capped
    /// at `max`, stretched by the same random 0–100 % as every other wait.
    pub fn nth_delay(&self, n: u32) -> Duration {
        let mut delays = self.delays();
        let mut wait = delays.next_delay();
        for _ in 1..n.min(64) {
            wait = delays.next_delay();
        }
        wait
    }

    /// The endless sequence of waits.
    pub fn delays(&self) -> Delays {
        Delays(self.builder().build())
    }

    /// Runs `op` until it succeeds or fails with an error that is not transient, waiting
    /// between tries and logging each retry once (`what` names the operation).
    pub async fn retry<T, E, F, Fut>(&self, what: &str, op: F) -> Result<T, E>
    where
        E: Transient + Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        op.retry(self.builder())
            .sleep(tokio::time::sleep)
            .when(|e: &E| e.is_transient())
            .notify(|e: &E, wait: Duration| {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64,
                    "{what}: retrying");
            })
            .await
    }

    fn builder(&self) -> ExponentialBuilder {
        ExponentialBuilder::new()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_jitter()
            .without_max_times()
    }
}

/// The waits of one run of retries.
#[derive(Debug)]
pub struct Delays(ExponentialBackoff);

impl Delays {
    /// The next wait (the sequence is endless; the cap holds it at the maximum).
    pub fn next_delay(&mut self) -> Duration {
        self.0.next().unwrap_or(Duration::from_secs(1))
    }

    /// Waits the next delay; `true` when `shutdown` fired first.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let wait = self.next_delay();
        tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tokio::time::sleep(wait) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_at_most_double_jitter() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let mut d = b.delays();
        let waits: Vec<Duration> = (0..8).map(|_| d.next_delay()).collect();
        let floors = [100u64, 200, 400, 800, 800, 800, 800, 800];
        for (w, floor) in waits.iter().zip(floors) {
            let floor = Duration::from_millis(floor);
            assert!(
                *w >= floor && *w < floor * 2,
                "{w:?} outside [{floor:?}, 2×)"
            );
        }
    }

    #[test]
    fn the_nth_delay_is_the_nth_of_the_sequence() {
        let b = Backoff::new(Duration::from_millis(200), Duration::from_millis(1_600));
        for (n, floor) in [(1, 200u64), (2, 400), (3, 800), (4, 1_600), (9, 1_600)] {
            let w = b.nth_delay(n);
            let floor = Duration::from_millis(floor);
            assert!(w >= floor && w < floor * 2, "retry {n}: {w:?}");
        }
    }

    #[derive(Debug)]
    struct Flaky(bool);
    impl Transient for Flaky {
        fn is_transient(&self) -> bool {
            self.0
        }
    }
    impl Display for Flaky {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(if self.0 { "flaky" } else { "broken" })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_waits_out_transient_errors_and_stops_at_a_permanent_one() {
        let mut tries = 0;
        let started = tokio::time::Instant::now();
        let r: Result<u32, Flaky> = Backoff::DATABASE_WRITE
            .retry("test", || {
                tries += 1;
                let n = tries;
                async move {
                    if n < 3 {
                        Err(Flaky(true))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(r.ok(), Some(3));
        // Two waits: ≥ 100 ms + 200 ms of (paused) time.
        assert!(started.elapsed() >= Duration::from_millis(300));

        let mut tries = 0;
        let r: Result<(), Flaky> = Backoff::DATABASE_WRITE
            .retry("test", || {
                tries += 1;
                async { Err(Flaky(false)) }
            })
            .await;
        assert_eq!(r.expect_err("permanent").to_string(), "broken");
        assert_eq!(tries, 1, "a permanent error is not retried");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_early_at_shutdown() {
        let shutdown = CancellationToken::new();
        let mut d = Backoff::RECONNECT.delays();
        assert!(!d.wait(&shutdown).await);
        shutdown.cancel();
        assert!(d.wait(&shutdown).await);
    }
}
