//! The SSH phases' durations, observed into the shared metrics.

use std::time::Instant;

/// Observes one SSH phase's duration (`connect` and `handshake` are observed by the
/// session, `auth` and `command` by the device's work).
pub fn phase_observed(phase: &str, started: Instant) {
    netraven_shared::telemetry::metrics::get()
        .phase_duration_seconds
        .with_label_values(&[phase])
        .observe(started.elapsed().as_secs_f64());
}
