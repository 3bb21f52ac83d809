//! What devices' output may take of a worker's memory.
//!
//! Every device may hold a small output (up to [`OutputBudget`]'s `allowance`, enough for
//! nearly every configuration) without asking. Past it a device needs one of the worker's
//! few *large-output turns*, and waits for one — reading nothing meanwhile, so its SSH
//! window fills and it stops sending — within its own deadline. A turn is held until the
//! device's result is recorded. Whatever the devices send, a worker's output memory stays
//! within `max_in_flight × (allowance + 128 KiB) + turns × max_output_bytes` (the 128 KiB:
//! the packets russh holds for a reader that waits, `algorithms.rs`), so the number of devices
//! in flight is bounded by what a device costs while it waits (its connection), not by the
//! largest output one might send.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::SshError;

/// A worker's output budget, shared by all its devices.
#[derive(Debug, Clone)]
pub struct OutputBudget {
    turns: Arc<Semaphore>,
    allowance: usize,
    limit: usize,
}

impl OutputBudget {
    /// `limit`: most output read from one device for one task; `allowance`: what a device
    /// may hold without a turn; `turns`: devices that may hold more at once (at least one).
    pub fn new(limit: usize, allowance: usize, turns: usize) -> OutputBudget {
        OutputBudget {
            turns: Arc::new(Semaphore::new(turns.max(1))),
            allowance: allowance.min(limit),
            limit,
        }
    }

    /// One device task's share.
    pub fn allowance(&self) -> OutputAllowance {
        OutputAllowance {
            turns: Some(Arc::clone(&self.turns)),
            allowance: self.allowance,
            limit: self.limit,
            read: 0,
            turn: None,
        }
    }
}

/// What one device may still read: counts every byte of its commands' output together.
#[derive(Debug)]
pub struct OutputAllowance {
    turns: Option<Arc<Semaphore>>,
    allowance: usize,
    limit: usize,
    read: usize,
    turn: Option<OutputTurn>,
}

impl OutputAllowance {
    /// Up to `limit` bytes, never waiting for a turn (set-up commands, whose output is
    /// small and dropped at once; tools and tests).
    pub fn upto(limit: usize) -> OutputAllowance {
        OutputAllowance {
            turns: None,
            allowance: limit,
            limit,
            read: 0,
            turn: None,
        }
    }

    /// Counts `n` more bytes read. Fails past the limit; waits for a large-output turn
    /// when they first pass the allowance.
    pub async fn admit(&mut self, n: usize) -> Result<(), SshError> {
        self.read = self.read.saturating_add(n);
        if self.read > self.limit {
            return Err(SshError::OutputTooLarge { limit: self.limit });
        }
        if self.read > self.allowance && self.turn.is_none() {
            if let Some(turns) = &self.turns {
                let metrics = netraven_shared::telemetry::metrics::get();
                if turns.available_permits() == 0 {
                    metrics.output_turn_waits_total.inc();
                }
                let permit = Arc::clone(turns)
                    .acquire_owned()
                    .await
                    .unwrap_or_else(|_| unreachable!("the budget's semaphore is never closed"));
                metrics.output_turns_total.inc();
                metrics.large_outputs.inc();
                self.turn = Some(OutputTurn { _permit: permit });
            }
        }
        Ok(())
    }

    /// The turn this device holds, if its output needed one: kept with its result until
    /// the result is recorded, then dropped.
    pub fn into_turn(self) -> Option<OutputTurn> {
        self.turn
    }
}

/// One large-output turn; given back when dropped.
#[derive(Debug)]
pub struct OutputTurn {
    _permit: OwnedSemaphorePermit,
}

impl Drop for OutputTurn {
    fn drop(&mut self) {
        netraven_shared::telemetry::metrics::get()
            .large_outputs
            .dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn small_outputs_need_no_turn_and_large_ones_wait_for_one() {
        let budget = OutputBudget::new(1000, 100, 1);
        let mut small = budget.allowance();
        small.admit(100).await.expect("within the allowance");
        assert!(small.turn.is_none());

        let mut first = budget.allowance();
        first.admit(101).await.expect("takes the one turn");
        assert!(first.turn.is_some());

        let mut second = budget.allowance();
        second.admit(50).await.expect("within the allowance");
        let waited = tokio::time::timeout(Duration::from_millis(50), second.admit(51)).await;
        assert!(
            waited.is_err(),
            "the only turn is taken: the second large output waits"
        );

        let turn = first.into_turn();
        let mut third = budget.allowance();
        let blocked = tokio::time::timeout(Duration::from_millis(50), third.admit(200)).await;
        assert!(
            blocked.is_err(),
            "the turn is kept until the result is recorded"
        );
        drop(turn);
        tokio::time::timeout(Duration::from_secs(5), third.admit(0))
            .await
            .expect("the turn came back")
            .expect("within the limit");
        assert!(third.turn.is_some());
    }

    #[tokio::test]
    async fn the_limit_counts_every_command_of_a_task() {
        let budget = OutputBudget::new(1000, 100, 4);
        let mut a = budget.allowance();
        a.admit(600).await.expect("first command");
        let err = a
            .admit(401)
            .await
            .expect_err("the task's output passed the limit");
        assert!(
            matches!(err, SshError::OutputTooLarge { limit: 1000 }),
            "{err}"
        );
        let mut fixed = OutputAllowance::upto(10);
        fixed.admit(10).await.expect("at the limit");
        assert!(fixed.turn.is_none(), "a fixed allowance never takes a turn");
        assert!(fixed.admit(1).await.is_err());
    }
}
