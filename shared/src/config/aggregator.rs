//! The `[aggregator]` section: batching, sweeps and pruning.

use serde::{Deserialize, Serialize};

/// The most days any retention setting may name (100 years): past it the cutoff leaves the
/// calendar Postgres can store.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregatorSettings {
    pub metrics_addr: String,
    /// Results recorded in one transaction at most.
    pub batch_size: u16,
    /// How long a partial batch waits for more results.
    pub batch_linger_ms: u64,
    /// How often overdue jobs are looked for.
    pub sweep_interval_ms: u64,
    /// Finished jobs, their results, logs and command outputs, and login attempts older
    /// than this are pruned.
    pub retention_days: u32,
    /// Each device keeps at least its this many newest configuration versions, however old.
    pub config_retention_versions: u32,
    /// Each device keeps every configuration version last seen within this many days. A
    /// version past both limits is pruned; a device's latest version never is.
    pub config_retention_days: u32,
    /// How often the aggregator prunes.
    pub prune_interval_ms: u64,
    /// Rows deleted per statement while pruning, so that no prune holds locks for long.
    pub prune_batch_size: u32,
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        AggregatorSettings {
            metrics_addr: "127.0.0.1:9466".into(),
            batch_size: 500,
            batch_linger_ms: 20,
            sweep_interval_ms: 5_000,
            retention_days: 90,
            config_retention_versions: 10,
            config_retention_days: 90,
            prune_interval_ms: 3_600_000,
            prune_batch_size: 10_000,
        }
    }
}
