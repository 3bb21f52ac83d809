//! What `/readyz` and the `netraven_role_*` gauges say: whether a role's connections are
//! up and usable, and whether the work it holds moves.

use super::metrics;
use super::progress::Progress;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One reason a role is not ready: its label on `netraven_role_not_ready{reason}`.
const BROKER_DOWN: &str = "broker_down";
const BROKER_BLOCKED: &str = "broker_blocked";
const DATABASE_DOWN: &str = "database_down";
const STALLED: &str = "stalled";
/// Every reason, so that each gauge is exported (at 0) before it is ever needed.
const REASONS: [&str; 4] = [BROKER_DOWN, BROKER_BLOCKED, DATABASE_DOWN, STALLED];

/// Whether a role's connections are up and usable, and its work moving, for `/readyz`.
#[derive(Debug)]
pub struct Readiness {
    /// The role's name on its gauges; empty exports none.
    role: String,
    broker: AtomicBool,
    database: AtomicBool,
    /// The broker has blocked this connection's publishes (a memory or disk alarm).
    broker_blocked: AtomicBool,
    progress: Arc<Progress>,
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness {
            role: String::new(),
            broker: AtomicBool::new(false),
            database: AtomicBool::new(false),
            broker_blocked: AtomicBool::new(false),
            // Never stalled: a readiness without a role has no work to judge.
            progress: Arc::new(Progress::new(Duration::MAX)),
        }
    }
}

impl Readiness {
    pub fn new() -> Arc<Readiness> {
        Arc::new(Readiness::default())
    }
    /// A role's readiness, its gauges labelled `role`, judged stalled by `progress`.
    pub fn for_role(role: &str, progress: Progress) -> Arc<Readiness> {
        Arc::new(Readiness {
            role: role.to_string(),
            progress: Arc::new(progress),
            ..Readiness::default()
        })
    }
    pub fn set_broker(&self, up: bool) {
        self.broker.store(up, Ordering::Relaxed);
    }
    pub fn set_database(&self, up: bool) {
        self.database.store(up, Ordering::Relaxed);
    }
    pub fn database_up(&self) -> bool {
        self.database.load(Ordering::Relaxed)
    }
    /// The broker blocked (`true`) or unblocked (`false`) this connection's publishes.
    pub fn set_broker_blocked(&self, blocked: bool) {
        self.broker_blocked.store(blocked, Ordering::Relaxed);
    }
    /// The role's work: what it takes and what it gets done.
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }
    pub fn is_ready(&self) -> bool {
        self.not_ready().is_empty()
    }
    /// Why the role is not ready, one reason per item; empty when it is.
    pub fn not_ready(&self) -> Vec<String> {
        self.reasons().into_iter().map(|(_, why)| why).collect()
    }

    /// Each reason with its gauge label.
    fn reasons(&self) -> Vec<(&'static str, String)> {
        let mut why = Vec::new();
        if !self.broker.load(Ordering::Relaxed) {
            why.push((BROKER_DOWN, "broker down".to_string()));
        }
        if self.broker_blocked.load(Ordering::Relaxed) {
            why.push((
                BROKER_BLOCKED,
                "broker blocked publishing (memory or disk alarm)".to_string(),
            ));
        }
        if !self.database.load(Ordering::Relaxed) {
            why.push((DATABASE_DOWN, "database down".to_string()));
        }
        if let Some(stall) = self.progress.stalled() {
            why.push((STALLED, stall.to_string()));
        }
        why
    }

    /// Sets the role's gauges from what is true now; returns the reasons it is not ready,
    /// each with its gauge label.
    pub fn export(&self) -> Vec<(&'static str, String)> {
        let reasons = self.reasons();
        if self.role.is_empty() {
            return reasons;
        }
        let m = metrics::get();
        let role = self.role.as_str();
        m.role_ready
            .with_label_values(&[role])
            .set(i64::from(reasons.is_empty()));
        for label in REASONS {
            let on = reasons.iter().any(|(l, _)| *l == label);
            m.role_not_ready
                .with_label_values(&[role, label])
                .set(i64::from(on));
        }
        let stalled = reasons.iter().any(|(l, _)| *l == STALLED);
        m.role_stalled
            .with_label_values(&[role])
            .set(i64::from(stalled));
        m.work_in_hand
            .with_label_values(&[role])
            .set(i64::try_from(self.progress.in_hand()).unwrap_or(i64::MAX));
        m.seconds_since_progress
            .with_label_values(&[role])
            .set(self.progress.waiting().as_secs_f64());
        reasons
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_is_named_and_exported_under_the_role() {
        let r = Readiness::for_role("unit-test-role", Progress::new(Duration::ZERO));
        r.set_broker(true);
        r.set_database(true);
        assert!(r.is_ready());
        r.set_database(false);
        r.set_broker_blocked(true);
        r.progress().took(2);
        std::thread::sleep(Duration::from_millis(5));
        let why = r.export();
        assert_eq!(why.len(), 3, "{why:?}");
        assert_eq!(why[2].0, "stalled");
        assert!(why[2].1.starts_with("stalled: 2 in hand"), "{why:?}");
        let text = metrics::render().expect("renders");
        for line in [
            "netraven_role_ready{role=\"unit-test-role\"} 0",
            "netraven_role_not_ready{reason=\"database_down\",role=\"unit-test-role\"} 1",
            "netraven_role_not_ready{reason=\"broker_down\",role=\"unit-test-role\"} 0",
            "netraven_role_stalled{role=\"unit-test-role\"} 1",
            "netraven_work_in_hand{role=\"unit-test-role\"} 2",
        ] {
            assert!(text.contains(line), "missing {line}");
        }
    }
}
