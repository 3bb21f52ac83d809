//! The `[worker]` section: concurrency, per-phase timeouts, output bounds and key reloads.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    pub metrics_addr: String,
    /// Devices handled at once by this worker (also the broker prefetch). A device that
    /// waits (a silent or slow one, until its timeout) holds its place, so this is set by
    /// what a waiting device costs — its task and connection, ~92 KiB — not by the largest output
    /// one may send, which `output_allowance_bytes` and `large_outputs` bound.
    pub max_in_flight: u16,
    /// Devices of the interactive lane (`<ns>.tasks.interactive`: small and high-priority
    /// jobs) handled at once, on top of `max_in_flight` (also that consumer's prefetch):
    /// an interactive task starts even when every bulk slot waits on a slow device.
    pub interactive_in_flight: u16,
    pub connect_timeout_ms: u64,
    pub handshake_timeout_ms: u64,
    pub auth_timeout_ms: u64,
    /// A command fails when no output arrives for this long.
    pub command_idle_timeout_ms: u64,
    /// Credential counters and attempts are written at most this often.
    pub flush_interval_ms: u64,
    /// On SIGTERM, in-flight devices get this long to finish before they are returned.
    pub shutdown_grace_ms: u64,
    /// Most output read from one device for one task (all its commands together); past it
    /// the device fails (`COMMAND_FAILED`, "output exceeded N bytes") and reading stops. It
    /// bounds what a device that streams without end costs the fleet: every byte read is
    /// decrypted and parsed on the worker's cores.
    pub max_output_bytes: usize,
    /// Output every device may hold without a large-output turn (never more than
    /// `max_output_bytes`: a smaller limit is the allowance).
    pub output_allowance_bytes: usize,
    /// Devices that may hold more than `output_allowance_bytes` of output at once; the others
    /// wait for a turn, reading nothing, within their deadline. A worker's output memory is
    /// at most `(max_in_flight + interactive_in_flight) × (output_allowance_bytes + 128 KiB) + large_outputs ×
    /// max_output_bytes` (the 128 KiB: the packets russh holds for a reader that waits;
    /// 512 MiB with the defaults), plus each shell's banner (≤ 64 KiB), plus up to 512 KiB
    /// for each device behind a jump host that waits (its jump channel holds what its
    /// 256 KiB window lets through).
    pub large_outputs: u32,
    /// Redact secret-bearing lines from stored configurations.
    pub redact_secrets: bool,
    /// A folder of extra platform profiles (`*.toml`); built-ins are always loaded.
    pub profiles_dir: Option<PathBuf>,
    /// Logins one credential may have in progress at once on this worker (0: no cap).
    pub max_concurrent_logins_per_credential: u32,
    /// Logins per second one credential may start on this worker (0: no cap).
    pub max_logins_per_second_per_credential: u32,
    /// How often the worker looks at `secrets.key_file` and reloads the ring when the file
    /// changed (a read of a small file; a Kubernetes Secret update counts).
    pub key_file_poll_interval_ms: u64,
    /// How often the worker reports the key ids it holds to Postgres (also at start and
    /// after each reload). A worker not heard from for three intervals is not counted as
    /// running by `netraven secrets reseal`.
    pub key_report_interval_ms: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            metrics_addr: "127.0.0.1:9465".into(),
            max_in_flight: 1024,
            interactive_in_flight: 8,
            connect_timeout_ms: 5_000,
            handshake_timeout_ms: 10_000,
            auth_timeout_ms: 10_000,
            command_idle_timeout_ms: 30_000,
            flush_interval_ms: 100,
            shutdown_grace_ms: 30_000,
            max_output_bytes: 4 * 1024 * 1024,
            output_allowance_bytes: 256 * 1024,
            large_outputs: 32,
            redact_secrets: true,
            profiles_dir: None,
            max_concurrent_logins_per_credential: 128,
            max_logins_per_second_per_credential: 0,
            key_file_poll_interval_ms: 2_000,
            key_report_interval_ms: 10_000,
        }
    }
}
