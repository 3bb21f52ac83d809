//! The `[health]` section: how each role checks its database, and how long work may sit
//! without progress before `/readyz` calls the role stalled.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    /// How often each role runs `SELECT 1` on a database connection of its own (not the
    /// pool's, so a pool busy with long statements does not look like a database down).
    pub database_check_interval_ms: u64,
    /// How long that `SELECT 1`, connecting included, may take before the database
    /// counts as unreachable.
    pub database_check_timeout_ms: u64,
    /// The aggregator holds results and has recorded none for this long: stalled. Its
    /// batches commit in milliseconds, so a minute is already far out of the ordinary.
    pub aggregator_stall_after_ms: u64,
    /// The dispatcher holds job requests and has finished none, nor had a task confirmed,
    /// for this long: stalled.
    pub dispatcher_stall_after_ms: u64,
    /// A worker holds device tasks and has finished none for this long: stalled. Longer
    /// than most device deadlines, so one slow device among few does not trip it.
    pub worker_stall_after_ms: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            database_check_interval_ms: 5_000,
            database_check_timeout_ms: 2_000,
            aggregator_stall_after_ms: 60_000,
            dispatcher_stall_after_ms: 300_000,
            worker_stall_after_ms: 900_000,
        }
    }
}

impl HealthSettings {
    /// The stall limit of `role` (`dispatcher`, `worker`, `aggregator`); other roles
    /// have no work to judge and are never stalled.
    pub fn stall_after(&self, role: &str) -> Duration {
        match role {
            "aggregator" => Duration::from_millis(self.aggregator_stall_after_ms),
            "dispatcher" => Duration::from_millis(self.dispatcher_stall_after_ms),
            "worker" => Duration::from_millis(self.worker_stall_after_ms),
            _ => Duration::MAX,
        }
    }

    pub fn database_check_interval(&self) -> Duration {
        Duration::from_millis(self.database_check_interval_ms)
    }

    pub fn database_check_timeout(&self) -> Duration {
        Duration::from_millis(self.database_check_timeout_ms)
    }

    /// Every value above 0, and the check's timeout within its interval (checks never
    /// pile up).
    pub(super) fn validate(&self) -> Result<()> {
        for (key, value) in [
            (
                "database_check_interval_ms",
                self.database_check_interval_ms,
            ),
            ("database_check_timeout_ms", self.database_check_timeout_ms),
            ("aggregator_stall_after_ms", self.aggregator_stall_after_ms),
            ("dispatcher_stall_after_ms", self.dispatcher_stall_after_ms),
            ("worker_stall_after_ms", self.worker_stall_after_ms),
        ] {
            if value == 0 {
                return Err(Error::setting(
                    &format!("health.{key}"),
                    "must be greater than 0",
                ));
            }
        }
        if self.database_check_timeout_ms > self.database_check_interval_ms {
            return Err(Error::setting(
                "health.database_check_timeout_ms",
                "must not exceed health.database_check_interval_ms",
            ));
        }
        Ok(())
    }
}
