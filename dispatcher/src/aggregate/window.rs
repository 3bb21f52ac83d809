//! The batch window: after a batch's first delivery, how long it waits for more and how
//! full it may get. A full batch goes at once; a quiet queue delays a result by the linger
//! at most.

use futures::{Stream, StreamExt};
use std::time::Duration;
use tokio::time::Instant;

/// How a batch is filled.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    /// How long after the first delivery the batch still takes more.
    pub(super) linger: Duration,
    /// At most this many deliveries, and at most this many results (a message may carry
    /// hundreds).
    pub(super) max: usize,
}

impl Window {
    /// Fills `batch`, which holds its first delivery: takes what `more` brings while the
    /// batch has room, until the linger has passed or `more` has ended. `results` says how
    /// many results a delivery stands for.
    pub(super) async fn fill<T>(
        &self,
        batch: &mut Vec<T>,
        mut more: impl Stream<Item = T> + Unpin,
        results: impl Fn(&T) -> usize,
    ) {
        let until = Instant::now() + self.linger;
        let mut counted: usize = batch.iter().map(&results).sum();
        while batch.len() < self.max && counted < self.max {
            match tokio::time::timeout_at(until, more.next()).await {
                Ok(Some(item)) => {
                    counted += results(&item);
                    batch.push(item);
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;
    use std::pin::pin;
    use tokio::sync::mpsc;

    /// A queue bringing deliveries at `(ms from start, results it stands for)`.
    fn queue(arrivals: &[(u64, usize)]) -> mpsc::Receiver<usize> {
        let (tx, rx) = mpsc::channel(64);
        let arrivals = arrivals.to_vec();
        tokio::spawn(async move {
            let start = Instant::now();
            for (at, results) in arrivals {
                tokio::time::sleep_until(start + Duration::from_millis(at)).await;
                if tx.send(results).await.is_err() {
                    return;
                }
            }
        });
        rx
    }

    /// Fills a batch whose first delivery stood for one result; returns what it took
    /// after that one.
    async fn fill(window: Window, rx: &mut mpsc::Receiver<usize>) -> Vec<usize> {
        let mut batch = vec![1];
        let more = stream::unfold(rx, |rx| async { Some((rx.recv().await?, rx)) });
        window.fill(&mut batch, pin!(more), |&n| n).await;
        batch.split_off(1)
    }

    const WINDOW: Window = Window {
        linger: Duration::from_millis(50),
        max: 10,
    };

    #[tokio::test(start_paused = true)]
    async fn the_batch_takes_what_comes_within_the_linger_and_then_goes() {
        let mut rx = queue(&[(10, 1), (30, 1), (70, 1)]);
        let started = Instant::now();
        assert_eq!(fill(WINDOW, &mut rx).await, [1, 1]);
        assert_eq!(started.elapsed(), WINDOW.linger);
        // The late delivery opens the next batch.
        assert_eq!(rx.recv().await, Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_goes_without_waiting_out_the_linger() {
        let mut rx = queue(&[(0, 1); 20]);
        let started = Instant::now();
        assert_eq!(fill(WINDOW, &mut rx).await.len(), 9, "ten with the first");
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn results_fill_a_batch_as_deliveries_do() {
        // A worker's batch of 8 results: 9 of 10 with the first; the next one fills it.
        let mut rx = queue(&[(5, 8), (10, 3), (15, 1)]);
        let started = Instant::now();
        assert_eq!(fill(WINDOW, &mut rx).await, [8, 3]);
        assert_eq!(started.elapsed(), Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_queue_that_ends_ends_the_batch() {
        let mut rx = queue(&[(5, 1)]);
        let started = Instant::now();
        assert_eq!(fill(WINDOW, &mut rx).await, [1]);
        assert_eq!(started.elapsed(), Duration::from_millis(5));
    }
}
