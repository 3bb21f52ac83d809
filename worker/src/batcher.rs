//! Group commit's batching, apart from what is committed: items from a channel gathered
//! into batches, each closed when full or when a window after its first item elapses.

use std::time::Duration;
use tokio::sync::mpsc;

/// Batches of the items a channel brings.
pub struct Batcher<T> {
    rx: mpsc::Receiver<T>,
    max: usize,
    window: Duration,
}

impl<T> Batcher<T> {
    /// Batches of at most `max` items; a batch waits at most `window` after its first.
    pub fn new(rx: mpsc::Receiver<T>, max: usize, window: Duration) -> Batcher<T> {
        Batcher {
            rx,
            max: max.max(1),
            window,
        }
    }

    /// The next batch: waits for a first item, then gathers more until the batch is full
    /// or the window after that first item has elapsed. `None` once every sender is gone
    /// and nothing is left.
    pub async fn next(&mut self) -> Option<Vec<T>> {
        self.next_while(|| true).await
    }

    /// [`Batcher::next`], but while `more_may_come` says no more items can come soon,
    /// the batch takes only what is queued already and closes at once: waiting out the
    /// window would only delay the items held.
    pub async fn next_while(&mut self, more_may_come: impl Fn() -> bool) -> Option<Vec<T>> {
        let first = self.rx.recv().await?;
        let mut batch = Vec::with_capacity(self.max);
        batch.push(first);
        let until = tokio::time::Instant::now() + self.window;
        while batch.len() < self.max {
            let next = if more_may_come() {
                tokio::time::timeout_at(until, self.rx.recv()).await
            } else {
                Ok(self.rx.try_recv().ok())
            };
            match next {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::time::Instant;

    const WINDOW: Duration = Duration::from_millis(100);

    fn batcher(max: usize) -> (mpsc::Sender<u32>, Batcher<u32>) {
        let (tx, rx) = mpsc::channel(64);
        (tx, Batcher::new(rx, max, WINDOW))
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_closes_at_once() {
        let (tx, mut b) = batcher(3);
        for n in 0..5 {
            tx.send(n).await.expect("open");
        }
        let started = Instant::now();
        assert_eq!(b.next().await, Some(vec![0, 1, 2]));
        assert_eq!(started.elapsed(), Duration::ZERO, "no window waited");
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_closes_when_the_window_after_its_first_item_elapses_not_before() {
        let (tx, mut b) = batcher(10);
        let started = Instant::now();
        let feeder = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            tx.send(1).await.expect("open");
            tokio::time::sleep(WINDOW - Duration::from_millis(1)).await;
            tx.send(2).await.expect("open");
            tokio::time::sleep(Duration::from_millis(2)).await;
            tx.send(3).await.expect("open");
            tx
        });
        // The window counts from the first item (at 30 ms), not from the call.
        assert_eq!(b.next().await, Some(vec![1, 2]));
        assert_eq!(started.elapsed(), Duration::from_millis(30) + WINDOW);
        let _tx = feeder.await.expect("feeder");
        assert_eq!(
            b.next().await,
            Some(vec![3]),
            "the late item opens the next batch"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_nothing_more_coming_a_batch_takes_what_is_queued_and_closes() {
        let (tx, mut b) = batcher(10);
        tx.send(1).await.expect("open");
        tx.send(2).await.expect("open");
        let more = AtomicBool::new(false);
        let started = Instant::now();
        assert_eq!(
            b.next_while(|| more.load(Ordering::Relaxed)).await,
            Some(vec![1, 2])
        );
        assert_eq!(started.elapsed(), Duration::ZERO);

        more.store(true, Ordering::Relaxed);
        tx.send(3).await.expect("open");
        assert_eq!(
            b.next_while(|| more.load(Ordering::Relaxed)).await,
            Some(vec![3])
        );
        assert_eq!(
            started.elapsed(),
            WINDOW,
            "more may come: the window is waited"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_channel_ends_the_batch_then_the_batches() {
        let (tx, mut b) = batcher(10);
        tx.send(1).await.expect("open");
        drop(tx);
        let started = Instant::now();
        assert_eq!(b.next().await, Some(vec![1]));
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "no sender left to wait for"
        );
        assert_eq!(b.next().await, None);
    }
}
