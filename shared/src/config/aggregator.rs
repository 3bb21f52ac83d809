//! The `[aggregator]` section: batching, sweeps and pruning.

use serde::{Deserialize, Serialize};

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
    /// Jobs, their results, logs, command outputs and login attempts older than this are
    /// pruned, as are superseded config snapshots (the latest per device is always kept).
    pub retention_days: u32,
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
            prune_interval_ms: 3_600_000,
            prune_batch_size: 10_000,
        }
    }
}
