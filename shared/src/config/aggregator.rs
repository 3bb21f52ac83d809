//! The `[aggregator]` section: batching, sweeps, pruning, and the freshness gauges.

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
    /// How often the backup freshness and schedule gauges are computed from Postgres.
    pub freshness_interval_ms: u64,
    /// An enabled device whose last good backup (or, never backed up, whose creation) is
    /// older than this counts as stale (`netraven_backup_stale_devices`). 26 hours: a
    /// nightly backup may run late once without alerting.
    pub backup_stale_after_ms: u64,
    /// Tag values `netraven_backup_stale_devices` exports at most (the tags with the most
    /// stale devices); the others are summed under `tag="_other"`.
    pub freshness_max_tags: u32,
    /// Schedules the schedule gauges export at most (by name); past it the others are
    /// left out and a warning says so.
    pub freshness_max_schedules: u32,
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
            freshness_interval_ms: 60_000,
            backup_stale_after_ms: 93_600_000,
            freshness_max_tags: 100,
            freshness_max_schedules: 500,
        }
    }
}
