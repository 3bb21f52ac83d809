//! Every Prometheus metric of every role, named in one place.
//!
//! Names are `netraven_<noun>_<unit>`; counters end in `_total`; labels take bounded values
//! (statuses, outcomes, credential names), never job or device ids.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::OnceLock;

/// The metrics, registered once per process.
pub struct Metrics {
    pub registry: Registry,
    /// Job requests taken in by the dispatcher, by result (`accepted`, `duplicate`, `malformed`).
    pub job_requests_total: IntCounterVec,
    /// Jobs that reached a final status, by status.
    pub jobs_total: IntCounterVec,
    /// Cancels taken in by the dispatcher, by answer (`cancelled`, `already_final`,
    /// `no_such_job`, `not_permitted`, `invalid`).
    pub job_cancels_total: IntCounterVec,
    /// Devices resolved by the dispatcher, by `resolved` (has credentials) or `unresolved`.
    pub devices_resolved_total: IntCounterVec,
    /// Device tasks published and confirmed.
    pub tasks_published_total: IntCounterVec,
    /// Device tasks finished by workers, by task lane (`bulk`, `interactive`) and outcome.
    pub tasks_total: IntCounterVec,
    /// Jobs whose tasks the dispatcher started publishing, by task lane.
    pub jobs_launched_total: IntCounterVec,
    /// Login attempts, by credential name and outcome (`SUCCESS`, `REJECTED`,
    /// `ENABLE_REFUSED`, `ERROR`).
    pub credential_attempts_total: IntCounterVec,
    /// Time a device took, all phases, by outcome.
    pub device_duration_seconds: HistogramVec,
    /// Time of each SSH phase (`connect`, `handshake`, `auth`, `command`).
    pub phase_duration_seconds: HistogramVec,
    /// Devices a worker is working on right now.
    pub devices_in_flight: IntGauge,
    /// Devices holding one of a worker's large-output turns (`worker.large_outputs`).
    pub large_outputs: IntGauge,
    /// Large-output turns taken.
    pub output_turns_total: IntCounter,
    /// Devices that found every large-output turn taken and waited for one.
    pub output_turn_waits_total: IntCounter,
    /// Results recorded by aggregators (first time only; duplicates are counted apart).
    pub results_recorded_total: IntCounterVec,
    /// Configuration versions recorded by aggregators: `new` (a device's first) and
    /// `changed` (a version that differs from the one before).
    pub config_changes_total: IntCounterVec,
    /// Schedule ticks taken by dispatchers, by outcome (`fired`, `skipped`: overlap,
    /// `missed`: later than the catch-up window, `passed_over`: an older tick of the same
    /// downtime).
    pub schedule_ticks_total: IntCounterVec,
    /// Enabled devices whose last good backup is older than
    /// `aggregator.backup_stale_after_ms`, by tag (capped; `_other`, `_untagged`). Set by
    /// aggregators from Postgres.
    pub backup_stale_devices: IntGaugeVec,
    /// Enabled devices whose last good backup is stale, fleet-wide.
    pub backup_stale_devices_all: IntGauge,
    /// Age of the oldest last good backup among enabled devices.
    pub backup_oldest_success_age_seconds: Gauge,
    /// Enabled devices.
    pub backup_devices: IntGauge,
    /// When each running schedule's next tick is due (its spread offset included).
    pub schedule_next_due_timestamp_seconds: GaugeVec,
    /// When each schedule's latest fired tick was taken.
    pub schedule_last_fired_timestamp_seconds: GaugeVec,
    /// 1 for the status of the job of each schedule's latest fired tick.
    pub schedule_last_job_status: IntGaugeVec,
    /// 1 for a paused schedule, 0 otherwise.
    pub schedule_paused: IntGaugeVec,
    /// Messages we dead-lettered, by source queue.
    pub dead_lettered_total: IntCounterVec,
    /// Device tasks a worker did not act on because another copy of the task holds the
    /// device (`in_flight`) or recorded it already (`recorded`: its result is reported
    /// again). A task published twice, or redelivered after its batch committed.
    pub duplicate_tasks_total: IntCounterVec,
    /// Device retries scheduled by aggregators, by the outcome of the try that failed
    /// (`TIMEOUT`, `UNREACHABLE`).
    pub retries_scheduled_total: IntCounterVec,
    /// Device retries taken by dispatchers when due, by result (`published`, `dropped`:
    /// the job was final or the device no longer resolves, `failed`: put back).
    pub retries_taken_total: IntCounterVec,
    /// Messages refused because their signature did not check out (forged, altered,
    /// unsigned, or signed by a key not trusted), by queue and reason.
    pub messages_rejected_total: IntCounterVec,
    /// Connections to RabbitMQ re-established after one was lost, by role.
    pub broker_reconnects_total: IntCounterVec,
    /// Messages the broker confirmed or refused, by stream (`tasks`, `results`) and result
    /// (`confirmed`, `failed`).
    pub publish_confirms_total: IntCounterVec,
    /// Time from handing a batch of messages to the broker to its last confirm, by stream.
    pub publish_confirm_duration_seconds: HistogramVec,
    /// Time from a device finishing to its attempts and credential counters being
    /// committed to Postgres (worker group commit).
    pub flush_lag_seconds: Histogram,
    /// Time a device task waited in the queue, from the dispatcher publishing it to a
    /// worker taking it (AMQP `timestamp`, whole seconds), by task lane.
    pub task_queue_wait_seconds: HistogramVec,
    /// 1 when the role is ready (what `/readyz` answers), by role.
    pub role_ready: IntGaugeVec,
    /// 1 for each reason the role is not ready (`broker_down`, `broker_blocked`,
    /// `database_down`, `stalled`), by role.
    pub role_not_ready: IntGaugeVec,
    /// 1 when the role holds work and made no progress within its limit, by role.
    pub role_stalled: IntGaugeVec,
    /// Items the role holds (deliveries, requests, device tasks), by role.
    pub work_in_hand: IntGaugeVec,
    /// Time since the role's last progress while it holds work (0 when idle), by role.
    pub seconds_since_progress: GaugeVec,
    /// Always 1: the version, commit and role of what runs.
    pub build_info: IntGaugeVec,
    /// HTTP requests the api role answered, by method, route template (`/api/jobs/{id}`,
    /// never a concrete path) and status code.
    pub http_requests_total: IntCounterVec,
    /// Time the api role took to answer, by method and route template.
    pub http_request_duration_seconds: HistogramVec,
    /// API requests refused at authentication or authorisation, by reason (`missing`,
    /// `malformed`, `unknown`, `revoked`, `expired`, `scope`).
    pub api_auth_failures_total: IntCounterVec,
}

const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Queue waits run from milliseconds (idle fleet) to an hour (a 10,000-device job on few
/// workers).
const WAIT_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let m = metric.unwrap_or_else(|e| panic!("metric malformed: {e}"));
    registry
        .register(Box::new(m.clone()))
        .unwrap_or_else(|e| panic!("metric registered twice: {e}"));
    m
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(registry, IntGauge::new(name, help))
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

fn float_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(registry, GaugeVec::new(Opts::new(name, help), labels))
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    c
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec()),
        labels,
    )
    .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(h.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    h
}

fn plain_histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(h.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    h
}

/// The outcomes of `netraven_schedule_ticks_total`.
pub const SCHEDULE_TICK_OUTCOMES: [&str; 4] = ["fired", "skipped", "missed", "passed_over"];

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let m = Metrics {
            job_requests_total: counter(
                &r,
                "netraven_job_requests_total",
                "Job requests taken in, by result",
                &["result"],
            ),
            jobs_total: counter(
                &r,
                "netraven_jobs_total",
                "Jobs that reached a final status, by job type",
                &["job_type", "status"],
            ),
            job_cancels_total: counter(
                &r,
                "netraven_job_cancels_total",
                "Job cancels taken in by the dispatcher, by answer",
                &["answer"],
            ),
            devices_resolved_total: counter(
                &r,
                "netraven_devices_resolved_total",
                "Devices resolved, with or without credentials",
                &["result"],
            ),
            tasks_published_total: counter(
                &r,
                "netraven_tasks_published_total",
                "Device tasks published, by result",
                &["result"],
            ),
            tasks_total: counter(
                &r,
                "netraven_tasks_total",
                "Device tasks finished by workers, by task lane and outcome",
                &["lane", "outcome"],
            ),
            jobs_launched_total: counter(
                &r,
                "netraven_jobs_launched_total",
                "Jobs whose tasks the dispatcher started publishing, by task lane",
                &["lane"],
            ),
            credential_attempts_total: counter(
                &r,
                "netraven_credential_attempts_total",
                "Login attempts by credential and outcome",
                &["credential", "outcome"],
            ),
            device_duration_seconds: histogram(
                &r,
                "netraven_device_duration_seconds",
                "Time one device took, all phases",
                &["outcome"],
            ),
            phase_duration_seconds: histogram(
                &r,
                "netraven_ssh_phase_duration_seconds",
                "Time of each SSH phase",
                &["phase"],
            ),
            devices_in_flight: gauge(
                &r,
                "netraven_devices_in_flight",
                "Devices a worker is working on now",
            ),
            large_outputs: gauge(
                &r,
                "netraven_large_outputs",
                "Devices holding one of the worker's large-output turns",
            ),
            output_turns_total: register(
                &r,
                IntCounter::new(
                    "netraven_output_turns_total",
                    "Large-output turns taken by devices",
                ),
            ),
            output_turn_waits_total: register(
                &r,
                IntCounter::new(
                    "netraven_output_turn_waits_total",
                    "Devices that waited for a large-output turn",
                ),
            ),
            results_recorded_total: counter(
                &r,
                "netraven_results_recorded_total",
                "Device results recorded by aggregators",
                &["result"],
            ),
            config_changes_total: counter(
                &r,
                "netraven_config_changes_total",
                "Configuration versions recorded, by change (new, changed)",
                &["change"],
            ),
            schedule_ticks_total: counter(
                &r,
                "netraven_schedule_ticks_total",
                "Schedule ticks taken, by outcome (fired, skipped, missed, passed_over)",
                &["outcome"],
            ),
            backup_stale_devices: gauge_vec(
                &r,
                "netraven_backup_stale_devices",
                "Enabled devices whose last good backup is older than aggregator.backup_stale_after_ms, by tag",
                &["tag"],
            ),
            backup_stale_devices_all: gauge(
                &r,
                "netraven_backup_stale_devices_all",
                "Enabled devices whose last good backup is older than aggregator.backup_stale_after_ms",
            ),
            backup_oldest_success_age_seconds: register(
                &r,
                Gauge::new(
                    "netraven_backup_oldest_success_age_seconds",
                    "Age of the oldest last good backup among enabled devices (never backed up: since created)",
                ),
            ),
            backup_devices: gauge(&r, "netraven_backup_devices", "Enabled devices"),
            schedule_next_due_timestamp_seconds: float_gauge_vec(
                &r,
                "netraven_schedule_next_due_timestamp_seconds",
                "When the schedule's next tick is due, spread offset included; absent while paused",
                &["schedule"],
            ),
            schedule_last_fired_timestamp_seconds: float_gauge_vec(
                &r,
                "netraven_schedule_last_fired_timestamp_seconds",
                "When the schedule's latest fired tick was taken",
                &["schedule"],
            ),
            schedule_last_job_status: gauge_vec(
                &r,
                "netraven_schedule_last_job_status",
                "1 for the status of the job of the schedule's latest fired tick (PENDING: no job yet)",
                &["schedule", "status"],
            ),
            schedule_paused: gauge_vec(
                &r,
                "netraven_schedule_paused",
                "1 when the schedule is paused",
                &["schedule"],
            ),
            dead_lettered_total: counter(
                &r,
                "netraven_dead_lettered_total",
                "Messages dead-lettered, by source queue",
                &["source"],
            ),
            duplicate_tasks_total: counter(
                &r,
                "netraven_duplicate_tasks_total",
                "Device tasks left alone because another copy holds the device (in_flight), recorded it (recorded), or a later try took it over (superseded)",
                &["state"],
            ),
            retries_scheduled_total: counter(
                &r,
                "netraven_retries_scheduled_total",
                "Device retries scheduled, by the outcome of the try that failed (TIMEOUT, UNREACHABLE)",
                &["outcome"],
            ),
            retries_taken_total: counter(
                &r,
                "netraven_retries_taken_total",
                "Due device retries taken by dispatchers, by result (published, dropped, failed)",
                &["result"],
            ),
            messages_rejected_total: counter(
                &r,
                "netraven_messages_rejected_total",
                "Messages refused for their signature (forged, altered, unsigned, untrusted key), by queue and reason",
                &["queue", "reason"],
            ),
            broker_reconnects_total: counter(
                &r,
                "netraven_broker_reconnects_total",
                "Connections to RabbitMQ re-established after one was lost, by role",
                &["role"],
            ),
            publish_confirms_total: counter(
                &r,
                "netraven_publish_confirms_total",
                "Messages confirmed or refused by the broker, by stream and result",
                &["stream", "result"],
            ),
            publish_confirm_duration_seconds: histogram(
                &r,
                "netraven_publish_confirm_duration_seconds",
                "Time from publishing a batch to its last broker confirm, by stream",
                &["stream"],
            ),
            flush_lag_seconds: plain_histogram(
                &r,
                "netraven_flush_lag_seconds",
                "Time from a device finishing to its attempts and credential counters being committed",
                DURATION_BUCKETS,
            ),
            task_queue_wait_seconds: register(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "netraven_task_queue_wait_seconds",
                        "Time a device task waited in its lane's queue before a worker took it",
                    )
                    .buckets(WAIT_BUCKETS.to_vec()),
                    &["lane"],
                ),
            ),
            role_ready: gauge_vec(
                &r,
                "netraven_role_ready",
                "1 when the role is ready, as /readyz answers",
                &["role"],
            ),
            role_not_ready: gauge_vec(
                &r,
                "netraven_role_not_ready",
                "1 for each reason the role is not ready",
                &["role", "reason"],
            ),
            role_stalled: gauge_vec(
                &r,
                "netraven_role_stalled",
                "1 when the role holds work and made no progress within its limit",
                &["role"],
            ),
            work_in_hand: gauge_vec(
                &r,
                "netraven_work_in_hand",
                "Items the role holds: deliveries, requests or device tasks",
                &["role"],
            ),
            seconds_since_progress: register(
                &r,
                GaugeVec::new(
                    Opts::new(
                        "netraven_seconds_since_progress",
                        "Seconds since the role's last progress while it holds work, 0 when idle",
                    ),
                    &["role"],
                ),
            ),
            build_info: gauge_vec(
                &r,
                "netraven_build_info",
                "Always 1: the version, commit and role of what runs",
                &["version", "commit", "role"],
            ),
            http_requests_total: counter(
                &r,
                "netraven_http_requests_total",
                "HTTP requests answered by the api role, by method, route template and status",
                &["method", "route", "status"],
            ),
            http_request_duration_seconds: histogram(
                &r,
                "netraven_http_request_duration_seconds",
                "Time the api role took to answer, by method and route template",
                &["method", "route"],
            ),
            api_auth_failures_total: counter(
                &r,
                "netraven_api_auth_failures_total",
                "API requests refused at authentication or authorisation, by reason",
                &["reason"],
            ),
            registry: process(r),
        };
        // At 0 from the start: Prometheus sees no increase in a series that appears at 1,
        // so a first missed tick would go unnoticed by increase(...{outcome="missed"}).
        for outcome in SCHEDULE_TICK_OUTCOMES {
            m.schedule_ticks_total.with_label_values(&[outcome]);
        }
        m
    }
}

/// The registry with the process's own metrics (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, `process_open_fds`, ...), read from `/proc` at each
/// scrape.
fn process(registry: Registry) -> Registry {
    let collector = prometheus::process_collector::ProcessCollector::for_self();
    registry
        .register(Box::new(collector))
        .unwrap_or_else(|e| panic!("process metrics registered twice: {e}"));
    registry
}

/// The commit built, when the build named one (`NETRAVEN_COMMIT` at compile time);
/// empty otherwise, which Prometheus treats as no label.
pub const COMMIT: &str = match option_env!("NETRAVEN_COMMIT") {
    Some(c) => c,
    None => "",
};

/// Exports `netraven_build_info{version, commit, role} 1` for `role`.
pub fn build_info(role: &str) {
    get()
        .build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION"), COMMIT, role])
        .set(1);
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Counts one batch's broker confirms on `stream` and observes how long they took.
pub fn confirms(stream: &str, sent: std::time::Instant, confirmed: usize, failed: usize) {
    let m = get();
    m.publish_confirm_duration_seconds
        .with_label_values(&[stream])
        .observe(sent.elapsed().as_secs_f64());
    m.publish_confirms_total
        .with_label_values(&[stream, "confirmed"])
        .inc_by(confirmed as u64);
    m.publish_confirms_total
        .with_label_values(&[stream, "failed"])
        .inc_by(failed as u64);
}

/// The Prometheus text exposition of every metric.
pub fn render() -> Result<String, String> {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&get().registry.gather(), &mut buf)
        .map_err(|e| e.to_string())?;
    String::from_utf8(buf).map_err(|e| e.to_string())
}
