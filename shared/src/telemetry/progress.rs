//! Whether a role that has work in hand makes progress on it.
//!
//! A role counts what it takes (a delivery, a request, a device task) and what it gets
//! done. It is *stalled* while it holds work and has made no progress for longer than its
//! limit: a result batch that never commits, a request that never finishes, devices that
//! never end. An idle role is never stalled, and the clock starts again when work arrives
//! in an idle role, so a quiet night does not count against the first delivery of the day.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Work in hand and the time of the last progress on it.
#[derive(Debug)]
pub struct Progress {
    epoch: Instant,
    /// Items taken and not yet done (or given back).
    in_hand: AtomicU64,
    /// Milliseconds from `epoch` to the last progress, or to the moment work arrived in
    /// an idle role.
    last: AtomicU64,
    /// No progress for longer than this, with work in hand, is a stall.
    stall_after: Duration,
    /// A monotonic count whose every move is progress too (work done deep inside a
    /// request, such as a large job's tasks being confirmed), with the value last seen.
    counter: Option<fn() -> u64>,
    seen: AtomicU64,
}

/// A stall: how much work waits, and for how long nothing moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    pub in_hand: u64,
    pub since: Duration,
    pub limit: Duration,
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stalled: {} in hand and no progress for {} s (limit {} s)",
            self.in_hand,
            self.since.as_secs(),
            self.limit.as_secs()
        )
    }
}

impl Progress {
    pub fn new(stall_after: Duration) -> Progress {
        Progress {
            epoch: Instant::now(),
            in_hand: AtomicU64::new(0),
            last: AtomicU64::new(0),
            stall_after,
            counter: None,
            seen: AtomicU64::new(0),
        }
    }

    /// Also counts as progress every move of `counter` (read when health is asked).
    pub fn also_counting(mut self, counter: fn() -> u64) -> Progress {
        self.seen = AtomicU64::new(counter());
        self.counter = Some(counter);
        self
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Progress was made, whether or not work left the role's hands.
    pub fn touch(&self) {
        self.last.store(self.now_ms(), Ordering::Relaxed);
    }

    /// `n` items arrived. An idle role starts its clock now.
    pub fn took(&self, n: u64) {
        if self.in_hand.fetch_add(n, Ordering::Relaxed) == 0 {
            self.touch();
        }
    }

    /// `n` items are done: progress.
    pub fn done(&self, n: u64) {
        self.give_back(n);
        self.touch();
    }

    /// `n` items left the role's hands without being done (returned to the queue).
    pub fn give_back(&self, n: u64) {
        let _ = self
            .in_hand
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }

    /// One item taken now, done when the guard drops (however its handling ends).
    pub fn hold(self: &Arc<Self>) -> Held {
        self.took(1);
        Held(self.clone())
    }

    pub fn in_hand(&self) -> u64 {
        self.in_hand.load(Ordering::Relaxed)
    }

    /// Time since the last progress while work is in hand; zero when idle.
    pub fn waiting(&self) -> Duration {
        if let Some(counter) = self.counter {
            let now = counter();
            if self.seen.swap(now, Ordering::Relaxed) != now {
                self.touch();
            }
        }
        if self.in_hand() == 0 {
            return Duration::ZERO;
        }
        let last = self.last.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(last))
    }

    /// The stall, if the role holds work and made no progress within its limit.
    pub fn stalled(&self) -> Option<Stall> {
        let since = self.waiting();
        (since > self.stall_after).then(|| Stall {
            in_hand: self.in_hand(),
            since,
            limit: self.stall_after,
        })
    }
}

/// One item in hand; done when dropped.
#[derive(Debug)]
pub struct Held(Arc<Progress>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.done(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(50);

    #[test]
    fn an_idle_role_is_never_stalled() {
        let p = Progress::new(LIMIT);
        std::thread::sleep(LIMIT * 2);
        assert_eq!(p.stalled(), None);
        assert_eq!(p.waiting(), Duration::ZERO);
    }

    #[test]
    fn work_held_past_the_limit_without_progress_is_a_stall_and_progress_ends_it() {
        let p = Arc::new(Progress::new(LIMIT));
        // A long idle time before the work came does not count against it.
        std::thread::sleep(LIMIT * 2);
        let held = p.hold();
        assert_eq!(p.stalled(), None, "the clock starts when work arrives");
        std::thread::sleep(LIMIT * 2);
        let stall = p.stalled().expect("stalled");
        assert_eq!(stall.in_hand, 1);
        assert!(
            stall.to_string().starts_with("stalled: 1 in hand"),
            "{stall}"
        );
        p.touch();
        assert_eq!(p.stalled(), None, "progress without finishing counts");
        drop(held);
        assert_eq!(p.in_hand(), 0);
    }

    #[test]
    fn a_counter_that_moves_is_progress() {
        use std::sync::atomic::AtomicU64;
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let p = Progress::new(LIMIT).also_counting(|| COUNT.load(Ordering::Relaxed));
        p.took(1);
        std::thread::sleep(LIMIT * 2);
        COUNT.fetch_add(1, Ordering::Relaxed);
        assert_eq!(p.stalled(), None);
        std::thread::sleep(LIMIT * 2);
        assert!(p.stalled().is_some());
        p.give_back(1);
        assert_eq!(p.stalled(), None);
    }
}
