//! The clock of the periodic tasks (the aggregator's sweeper and retention, the
//! dispatcher's schedule poll).

use std::time::Duration;
use tokio::time::{interval, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Ticks at once, then every period. A run that outlasts the period delays the next tick
/// instead of making up the missed ones back to back.
pub(crate) struct Periodic(Interval);

impl Periodic {
    pub(crate) fn every(period: Duration) -> Periodic {
        let mut ticks = interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Periodic(ticks)
    }

    /// Waits for the next tick: `true` when it is time to run, `false` once `stop` fired.
    pub(crate) async fn tick(&mut self, stop: &CancellationToken) -> bool {
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = self.0.tick() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn ticks_at_once_then_every_period_after_a_late_run_and_stops_on_request() {
        let stop = CancellationToken::new();
        let start = Instant::now();
        let mut clock = Periodic::every(Duration::from_secs(10));
        assert!(clock.tick(&stop).await);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(clock.tick(&stop).await);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // A run of 25 s: the next tick comes at once, then a full period later.
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert!(clock.tick(&stop).await);
        assert_eq!(start.elapsed(), Duration::from_secs(35));
        assert!(clock.tick(&stop).await);
        assert_eq!(start.elapsed(), Duration::from_secs(45));
        stop.cancel();
        assert!(!clock.tick(&stop).await);
        assert_eq!(start.elapsed(), Duration::from_secs(45));
    }
}
