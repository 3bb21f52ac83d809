//! Request validation, in one place: a [`JobRequest`] becomes a typed [`JobPlan`] (what
//! every task of the job shares) or the [`InvalidRequest`] reason the job is refused for.

use crate::dispatch::resolve::ResolvedDevice;
use chrono::{DateTime, Utc};
use netraven_shared::config::{DeadlineFit, DispatcherSettings};
use netraven_shared::domain::{HostKeyPolicy, JobType};
use netraven_shared::messages::{self, DeviceTask, JobRequest, Limits, PhaseTimeouts};
use std::fmt;
use uuid::Uuid;

/// Longest accepted job deadline (seven days). The longest device deadline is the
/// broker's to say ([`DeadlineFit`]): one hour at most.
const MAX_JOB_DEADLINE_MS: u64 = 7 * 24 * 3_600_000;
/// The most credentials a job may try per device (`limits.max_credentials_per_device`).
pub const MAX_CREDENTIALS_PER_DEVICE: u32 = 32;
/// Longest accepted per-phase timeout override (ten minutes).
const MAX_PHASE_TIMEOUT_MS: u64 = 600_000;
/// Shortest accepted deadline and per-phase timeout.
const MIN_DEADLINE_MS: u64 = 1_000;
const MIN_PHASE_TIMEOUT_MS: u64 = 100;
/// The range of `limits.retry_backoff_ms`: a tenth of a second to an hour.
const MIN_RETRY_BACKOFF_MS: u64 = 100;
const MAX_RETRY_BACKOFF_MS: u64 = 3_600_000;

/// What every task of one job shares.
#[derive(Debug, Clone)]
pub struct TaskPlan {
    pub job_id: Uuid,
    pub job_type: JobType,
    pub commands: Vec<String>,
    pub device_deadline_ms: u64,
    pub timeouts: PhaseTimeouts,
    pub host_key_policy: HostKeyPolicy,
    pub job_deadline: DateTime<Utc>,
}

impl TaskPlan {
    pub fn task(&self, d: &ResolvedDevice) -> DeviceTask {
        DeviceTask {
            version: messages::VERSION,
            job_id: self.job_id,
            job_type: self.job_type,
            device: d.device.clone(),
            credentials: d.credentials.iter().map(|c| (**c).clone()).collect(),
            commands: self.commands.clone(),
            device_deadline_ms: self.device_deadline_ms,
            timeouts: self.timeouts,
            host_key_policy: self.host_key_policy,
            pinned_host_key: d.pinned_host_key.clone(),
            job_deadline: self.job_deadline,
            jump: d.jump.to_vec(),
            try_number: d.try_number.filter(|&n| n > 1),
        }
    }

    /// Whether a device with no matching credential can still run: only a reachability
    /// check needs none.
    pub fn needs_credentials(&self) -> bool {
        self.job_type != JobType::Reachability
    }
}

/// A request that can run: its tasks' plan, and how to resolve its devices.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub tasks: TaskPlan,
    /// Credentials tried per device at most.
    pub max_credentials: usize,
    /// Retries of a device that ends `TIMEOUT` or `UNREACHABLE`.
    pub max_retries: u32,
    /// The wait before a first retry (doubled for each later one).
    pub retry_backoff_ms: u64,
}

impl JobPlan {
    /// Checks what the schema cannot (the job type, the commands it takes, the ranges of
    /// the limits) and fills what the request left out from the operator's `defaults`.
    /// The device deadline must `fit` inside the broker's consumer timeout, or the broker
    /// would hand the task to another worker while the first is still on the device.
    pub fn new(
        job_id: Uuid,
        request: &JobRequest,
        defaults: &DispatcherSettings,
        fit: &DeadlineFit,
        now: DateTime<Utc>,
    ) -> Result<JobPlan, InvalidRequest> {
        // `JobRequest.job_type` is a string on the wire on purpose: a request naming a type
        // this dispatcher does not know still decodes, gets a job row and ends
        // FAILED_INVALID_REQUEST with this reason, instead of being dead-lettered as an
        // undecodable message. This is the one place it is parsed.
        let job_type: JobType = request
            .job_type
            .parse()
            .map_err(InvalidRequest::UnknownJobType)?;
        match (job_type, request.commands.is_empty()) {
            (JobType::Command, true) => return Err(InvalidRequest::NoCommands),
            (JobType::ConfigBackup | JobType::Reachability, false) => {
                return Err(InvalidRequest::CommandsNotTaken(job_type))
            }
            _ => {}
        }
        let limits = &request.limits;
        let device_deadline_ms = limits
            .device_deadline_ms
            .unwrap_or(defaults.default_device_deadline_ms);
        if device_deadline_ms < MIN_DEADLINE_MS {
            return Err(InvalidRequest::DeviceDeadline {
                longest: fit.longest_ms(),
            });
        }
        fit.check(device_deadline_ms)
            .map_err(InvalidRequest::DeviceDeadlineOverBroker)?;
        if limits
            .job_deadline_ms
            .is_some_and(|ms| !job_deadline_ok(ms))
        {
            return Err(InvalidRequest::JobDeadline);
        }
        if let Some(n) = limits.max_credentials_per_device {
            if !(1..=MAX_CREDENTIALS_PER_DEVICE).contains(&n) {
                return Err(InvalidRequest::MaxCredentials);
            }
        }
        for (name, value) in limits.timeouts().named() {
            if value.is_some_and(|ms| !(MIN_PHASE_TIMEOUT_MS..=MAX_PHASE_TIMEOUT_MS).contains(&ms))
            {
                return Err(InvalidRequest::PhaseTimeout(name));
            }
        }
        if limits
            .max_retries
            .is_some_and(|n| n > messages::MAX_RETRIES)
        {
            return Err(InvalidRequest::MaxRetries);
        }
        if limits
            .retry_backoff_ms
            .is_some_and(|ms| !(MIN_RETRY_BACKOFF_MS..=MAX_RETRY_BACKOFF_MS).contains(&ms))
        {
            return Err(InvalidRequest::RetryBackoff);
        }
        let max_credentials = limits
            .max_credentials_per_device
            .unwrap_or(defaults.max_credentials_per_device);
        Ok(JobPlan {
            tasks: TaskPlan {
                job_id,
                job_type,
                commands: request.commands.clone(),
                device_deadline_ms,
                timeouts: limits.timeouts(),
                host_key_policy: limits
                    .host_key_policy
                    .unwrap_or(defaults.default_host_key_policy),
                job_deadline: job_deadline(limits, defaults, now),
            },
            max_credentials: max_credentials as usize,
            max_retries: limits.max_retries.unwrap_or(defaults.max_retries),
            retry_backoff_ms: limits.retry_backoff_ms.unwrap_or(defaults.retry_backoff_ms),
        })
    }
}

/// The job's deadline from `now`: the request's when it is in range, else the default.
/// The job row gets it before the request is checked, so an out-of-range one falls back
/// to the default there (and the plan refuses it).
pub fn job_deadline(
    limits: &Limits,
    defaults: &DispatcherSettings,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let ms = limits
        .job_deadline_ms
        .filter(|&ms| job_deadline_ok(ms))
        .unwrap_or(defaults.default_job_deadline_ms);
    now + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn job_deadline_ok(ms: u64) -> bool {
    (MIN_DEADLINE_MS..=MAX_JOB_DEADLINE_MS).contains(&ms)
}

/// Why a well-formed request cannot run: its job ends `FAILED_INVALID_REQUEST` with this
/// text as the reason, in the job row and in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidRequest {
    /// The job type is none of ours; holds the parser's message, which names the types.
    UnknownJobType(String),
    /// A `command` job without commands.
    NoCommands,
    /// Commands for a job type that runs none.
    CommandsNotTaken(JobType),
    /// Below the shortest; `longest` is the longest that fits the broker.
    DeviceDeadline {
        longest: u64,
    },
    /// Longer than the broker's consumer timeout allows: why, naming both numbers.
    DeviceDeadlineOverBroker(String),
    JobDeadline,
    MaxCredentials,
    /// A per-phase timeout out of range, by its field name.
    PhaseTimeout(&'static str),
    MaxRetries,
    RetryBackoff,
}

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidRequest::UnknownJobType(message) => f.write_str(message),
            InvalidRequest::NoCommands => {
                f.write_str("job type command needs at least one command")
            }
            InvalidRequest::CommandsNotTaken(t) => write!(f, "job type {t} takes no commands"),
            InvalidRequest::DeviceDeadline { longest } => write!(
                f,
                "limits.device_deadline_ms must be {MIN_DEADLINE_MS} to {longest}"
            ),
            InvalidRequest::DeviceDeadlineOverBroker(why) => {
                write!(f, "limits.device_deadline_ms {why}")
            }
            InvalidRequest::JobDeadline => write!(
                f,
                "limits.job_deadline_ms must be {MIN_DEADLINE_MS} to {MAX_JOB_DEADLINE_MS}"
            ),
            InvalidRequest::MaxCredentials => write!(
                f,
                "limits.max_credentials_per_device must be 1 to {MAX_CREDENTIALS_PER_DEVICE}"
            ),
            InvalidRequest::PhaseTimeout(name) => write!(
                f,
                "limits.{name} must be {MIN_PHASE_TIMEOUT_MS} to {MAX_PHASE_TIMEOUT_MS}"
            ),
            InvalidRequest::MaxRetries => write!(
                f,
                "limits.max_retries must be 0 to {}",
                messages::MAX_RETRIES
            ),
            InvalidRequest::RetryBackoff => write!(
                f,
                "limits.retry_backoff_ms must be {MIN_RETRY_BACKOFF_MS} to {MAX_RETRY_BACKOFF_MS}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use netraven_shared::config::{Settings, MAX_DEVICE_DEADLINE_MS};

    /// The fit of the default settings: RabbitMQ's default consumer timeout.
    fn fit() -> DeadlineFit {
        DeadlineFit::of(&Settings::default())
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    /// `now()` plus `ms`.
    fn after(ms: u64) -> DateTime<Utc> {
        now() + chrono::Duration::milliseconds(i64::try_from(ms).expect("a test deadline"))
    }

    fn request(job_type: &str, commands: &[&str]) -> JobRequest {
        JobRequest {
            version: messages::VERSION,
            request_id: "r-1".into(),
            job_type: job_type.into(),
            targets: Default::default(),
            commands: commands.iter().map(|c| c.to_string()).collect(),
            limits: Limits::default(),
            submitted_by: None,
            priority: None,
        }
    }

    fn plan(request: &JobRequest) -> Result<JobPlan, InvalidRequest> {
        JobPlan::new(
            Uuid::nil(),
            request,
            &DispatcherSettings::default(),
            &fit(),
            now(),
        )
    }

    fn refusal(request: &JobRequest) -> String {
        plan(request).expect_err("refused").to_string()
    }

    #[test]
    fn each_job_type_is_accepted_in_its_shape_with_the_defaults_filled_in() {
        let defaults = DispatcherSettings::default();
        for (job_type, commands) in [
            ("config_backup", &[][..]),
            ("reachability", &[][..]),
            ("command", &["show version", "show clock"][..]),
        ] {
            let p = plan(&request(job_type, commands)).expect(job_type);
            assert_eq!(p.tasks.job_type.as_str(), job_type);
            assert_eq!(p.tasks.commands, commands);
            assert_eq!(
                p.tasks.device_deadline_ms,
                defaults.default_device_deadline_ms
            );
            assert_eq!(p.tasks.host_key_policy, defaults.default_host_key_policy);
            assert!(p.tasks.timeouts.is_empty());
            assert_eq!(
                p.tasks.job_deadline,
                after(defaults.default_job_deadline_ms)
            );
            assert_eq!(
                p.max_credentials,
                defaults.max_credentials_per_device as usize
            );
            assert_eq!(p.tasks.needs_credentials(), job_type != "reachability");
            assert_eq!(p.max_retries, defaults.max_retries);
            assert_eq!(p.retry_backoff_ms, defaults.retry_backoff_ms);
        }
    }

    #[test]
    fn the_request_limits_win_over_the_defaults_up_to_their_bounds() {
        for at_max in [false, true] {
            let pick = |min: u64, max: u64| if at_max { max } else { min };
            let mut r = request("config_backup", &[]);
            r.limits = Limits {
                device_deadline_ms: Some(pick(1_000, fit().longest_ms())),
                job_deadline_ms: Some(pick(1_000, MAX_JOB_DEADLINE_MS)),
                max_credentials_per_device: Some(if at_max { 32 } else { 1 }),
                host_key_policy: Some(HostKeyPolicy::Strict),
                connect_timeout_ms: Some(pick(100, 600_000)),
                handshake_timeout_ms: Some(pick(100, 600_000)),
                auth_timeout_ms: Some(pick(100, 600_000)),
                command_idle_timeout_ms: Some(pick(100, 600_000)),
                max_retries: Some(if at_max { 10 } else { 0 }),
                retry_backoff_ms: Some(pick(100, 3_600_000)),
            };
            let p = plan(&r).expect("in range");
            assert_eq!(p.tasks.device_deadline_ms, pick(1_000, fit().longest_ms()));
            assert_eq!(
                p.tasks.job_deadline,
                after(pick(1_000, MAX_JOB_DEADLINE_MS))
            );
            assert_eq!(p.max_credentials, if at_max { 32 } else { 1 });
            assert_eq!(p.tasks.host_key_policy, HostKeyPolicy::Strict);
            assert_eq!(p.tasks.timeouts, r.limits.timeouts());
            assert_eq!(p.max_retries, if at_max { 10 } else { 0 });
            assert_eq!(p.retry_backoff_ms, pick(100, 3_600_000));
        }
    }

    #[test]
    fn a_job_type_refuses_the_commands_it_does_not_take() {
        let unknown = refusal(&request("firmware_upgrade", &[]));
        assert!(
            unknown.contains("unknown JobType \"firmware_upgrade\""),
            "{unknown}"
        );
        assert!(
            unknown.contains("config_backup, command, reachability"),
            "{unknown}"
        );
        assert_eq!(
            refusal(&request("command", &[])),
            "job type command needs at least one command"
        );
        for job_type in ["config_backup", "reachability"] {
            assert_eq!(
                refusal(&request(job_type, &["show version"])),
                format!("job type {job_type} takes no commands")
            );
        }
    }

    #[test]
    fn every_limit_out_of_range_is_refused_by_name() {
        type Case = (fn(&mut Limits), &'static str);
        let cases: [Case; 13] = [
            (
                |l| l.max_retries = Some(11),
                "limits.max_retries must be 0 to 10",
            ),
            (
                |l| l.retry_backoff_ms = Some(99),
                "limits.retry_backoff_ms must be 100 to 3600000",
            ),
            (
                |l| l.retry_backoff_ms = Some(3_600_001),
                "limits.retry_backoff_ms",
            ),
            (
                |l| l.device_deadline_ms = Some(999),
                "limits.device_deadline_ms must be 1000 to 1739900",
            ),
            (
                |l| l.device_deadline_ms = Some(MAX_DEVICE_DEADLINE_MS + 1),
                "limits.device_deadline_ms 3600001 ms does not fit the broker's consumer timeout",
            ),
            (
                |l| l.job_deadline_ms = Some(999),
                "limits.job_deadline_ms must be 1000 to 604800000",
            ),
            (
                |l| l.job_deadline_ms = Some(MAX_JOB_DEADLINE_MS + 1),
                "limits.job_deadline_ms",
            ),
            (
                |l| l.max_credentials_per_device = Some(0),
                "limits.max_credentials_per_device must be 1 to 32",
            ),
            (
                |l| l.max_credentials_per_device = Some(33),
                "limits.max_credentials_per_device",
            ),
            (
                |l| l.connect_timeout_ms = Some(99),
                "limits.connect_timeout_ms must be 100 to 600000",
            ),
            (
                |l| l.handshake_timeout_ms = Some(600_001),
                "limits.handshake_timeout_ms",
            ),
            (|l| l.auth_timeout_ms = Some(0), "limits.auth_timeout_ms"),
            (
                |l| l.command_idle_timeout_ms = Some(u64::MAX),
                "limits.command_idle_timeout_ms",
            ),
        ];
        for (set, expected) in cases {
            let mut r = request("config_backup", &[]);
            set(&mut r.limits);
            let reason = refusal(&r);
            assert!(
                reason.starts_with(expected),
                "{reason:?} should start {expected:?}"
            );
        }
    }

    #[test]
    fn a_default_device_deadline_out_of_range_is_refused_too() {
        let defaults = DispatcherSettings {
            default_device_deadline_ms: 10 * MAX_DEVICE_DEADLINE_MS,
            ..DispatcherSettings::default()
        };
        let r = request("config_backup", &[]);
        let refused = JobPlan::new(Uuid::nil(), &r, &defaults, &fit(), now()).expect_err("default");
        assert!(
            matches!(refused, InvalidRequest::DeviceDeadlineOverBroker(_)),
            "{refused:?}"
        );
    }

    #[test]
    fn a_device_deadline_must_fit_the_brokers_consumer_timeout_named_with_both_numbers() {
        let longest = fit().longest_ms();
        let mut r = request("config_backup", &[]);
        r.limits.device_deadline_ms = Some(longest);
        assert_eq!(plan(&r).expect("fits").tasks.device_deadline_ms, longest);
        r.limits.device_deadline_ms = Some(1_800_000);
        let reason = refusal(&r);
        assert!(
            reason.starts_with("limits.device_deadline_ms 1800000 ms does not fit"),
            "{reason}"
        );
        assert!(
            reason.contains("amqp.consumer_timeout_ms is 1800000 ms"),
            "{reason}"
        );
        assert!(
            reason.contains(&format!("the longest device deadline is {longest} ms")),
            "{reason}"
        );
        // With the broker's timeout raised (and the setting with it), the hour fits.
        let mut settings = Settings::default();
        settings.amqp.consumer_timeout_ms = 2 * MAX_DEVICE_DEADLINE_MS;
        let raised = DeadlineFit::of(&settings);
        r.limits.device_deadline_ms = Some(MAX_DEVICE_DEADLINE_MS);
        let p = JobPlan::new(Uuid::nil(), &r, &settings.dispatcher, &raised, now());
        assert_eq!(
            p.expect("fits").tasks.device_deadline_ms,
            MAX_DEVICE_DEADLINE_MS
        );
    }

    #[test]
    fn the_job_row_deadline_falls_back_to_the_default_when_the_request_is_out_of_range() {
        let defaults = DispatcherSettings::default();
        let default_ms = defaults.default_job_deadline_ms;
        let mut limits = Limits::default();
        for (asked, expected_ms) in [
            (None, default_ms),
            (Some(999), default_ms),
            (Some(MAX_JOB_DEADLINE_MS + 1), default_ms),
            (Some(5_000), 5_000),
        ] {
            limits.job_deadline_ms = asked;
            assert_eq!(
                job_deadline(&limits, &defaults, now()),
                after(expected_ms),
                "{asked:?}"
            );
        }
    }
}
