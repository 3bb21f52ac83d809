//! One device: connect, check the host key, try the credentials in order, run the job —
//! all within the device's deadline — and say exactly what happened.

use crate::budget::DeviceBudget;
use crate::context::WorkerContext;
use crate::job_types::{self, reachability, Device, LoggedInJob, Work};
use crate::jump;
use crate::outcome::DeviceFailure;
use crate::report::{Attempt, AttemptOutcome, DeviceReport, JobDone};
use crate::ssh::{
    phase_observed, AuthOutcome, HostKeyCheck, OpenedCredential, OutputAllowance, Phase, Session,
    SshError, SshOptions, SshTimeouts,
};
use chrono::{DateTime, Utc};
use netraven_shared::domain::{HostKeyPolicy, Outcome};
use netraven_shared::messages::{DeviceTask, TaskCredential};
use secrecy::SecretString;
use std::time::Instant;

/// A server that hangs up mid-authentication without judging the secret (MaxAuthTries,
/// a change of username) gets this many fresh connections for the same credential.
const MAX_RECONNECTS: usize = 3;

/// Where the work stood, readable after the deadline cut it short.
struct Progress {
    phase: &'static str,
    /// `through jump host bastion-1 (10.0.0.1:22)` while the device is reached through one.
    via: Option<String>,
    attempts: Vec<Attempt>,
    /// The login in progress: recorded as an `ERROR` attempt if the deadline cuts it.
    login: Option<(i64, String, Instant, DateTime<Utc>)>,
    /// What the device's output may take of the worker's memory.
    output: OutputAllowance,
}

/// Works on one device until done or its budget's deadline runs out.
pub async fn run(ctx: &WorkerContext, task: &DeviceTask, budget: &DeviceBudget) -> DeviceReport {
    let started = Instant::now();
    let deadline = budget.deadline;
    let mut progress = Progress {
        phase: "start",
        via: None,
        attempts: Vec::new(),
        login: None,
        output: ctx.output.allowance(),
    };
    let worked = tokio::time::timeout(deadline, work(ctx, task, budget, &mut progress)).await;
    let (outcome, reason, credential_id, config) = match worked {
        Ok(Ok((credential_id, done))) => {
            (Outcome::Success, done.summary, credential_id, done.config)
        }
        Ok(Err(f)) => (f.outcome, f.reason, None, None),
        Err(_) => {
            if let Some((credential_id, credential_name, t0, at)) = progress.login.take() {
                // A secret was sent and never judged: still an attempt.
                progress.attempts.push(Attempt {
                    credential_id,
                    credential_name,
                    outcome: AttemptOutcome::Error,
                    duration_ms: i32::try_from(t0.elapsed().as_millis()).unwrap_or(i32::MAX),
                    at,
                });
            }
            (
                Outcome::Timeout,
                match &progress.via {
                    None => format!(
                        "device deadline of {} ms exceeded during {}",
                        deadline.as_millis(),
                        progress.phase
                    ),
                    Some(via) => format!(
                        "device deadline of {} ms exceeded during {} {via}",
                        deadline.as_millis(),
                        progress.phase
                    ),
                },
                None,
                None,
            )
        }
    };
    // Only a configuration stays in memory until the result is recorded; a failure's output
    // is gone, and a command job's outputs are stored already.
    let output_turn = config
        .is_some()
        .then(|| progress.output.into_turn())
        .flatten();
    DeviceReport {
        outcome,
        reason,
        credential_id,
        attempts: progress.attempts,
        config,
        duration: started.elapsed(),
        output_turn,
    }
}

async fn work(
    ctx: &WorkerContext,
    task: &DeviceTask,
    budget: &DeviceBudget,
    progress: &mut Progress,
) -> Result<(Option<i64>, JobDone), DeviceFailure> {
    let job = match Work::from(task.job_type) {
        Work::Reachability => {
            progress.phase = "connect";
            return reachability::run(ctx, task, budget)
                .await
                .map(|done| (None, done));
        }
        Work::LoggedIn(job) => job,
    };
    logged_in(ctx, task, budget, job, progress).await
}

/// Logs in with the task's credentials in order, then runs `job`.
async fn logged_in(
    ctx: &WorkerContext,
    task: &DeviceTask,
    budget: &DeviceBudget,
    job: LoggedInJob,
    progress: &mut Progress,
) -> Result<(Option<i64>, JobDone), DeviceFailure> {
    let timeouts = budget.timeouts;
    let profile = ctx.profiles.get(&task.device.platform).ok_or_else(|| {
        DeviceFailure::new(
            Outcome::InternalError,
            format!(
                "no platform profile named {:?} on this worker",
                task.device.platform
            ),
        )
    })?;
    if task.credentials.is_empty() {
        return Err(DeviceFailure::new(
            Outcome::NoCredentials,
            "the task carries no credential",
        ));
    }
    // The dispatcher looked the pin up with the rest of the device; a key pinned since
    // (by another worker) is caught when this worker tries to pin its own. Once pinned
    // here, later connections (another username) check against it in memory.
    let mut pinned = match task.host_key_policy {
        HostKeyPolicy::Off => None,
        _ => task.pinned_host_key.clone(),
    };
    let options = SshOptions {
        legacy_algorithms: profile.legacy_algorithms,
        allow_ssh_rsa_sha1: profile.allow_ssh_rsa_sha1,
        // A device behind a jump host gets a smaller window: what it may send while its
        // session is not reading is held by the jump channel's reader (jump.rs).
        window: (!task.jump.is_empty()).then_some(jump::JUMP_WINDOW),
    };
    let mut session: Option<Session> = None;
    let mut unopenable = Vec::new();
    // Credentials that logged in but whose enable secret the device refused.
    let mut enable_refused: Vec<&str> = Vec::new();
    let mut reconnects = 0;
    let mut index = 0;
    while let Some(credential) = task.credentials.get(index) {
        let (opened, enable) = match open(ctx, credential).await {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(credential.id = credential.id, error = %e, "credential skipped");
                unopenable.push(credential.name.as_str());
                index += 1;
                continue;
            }
        };
        if !session
            .as_ref()
            .is_some_and(|s| s.can_try_username(&credential.username))
        {
            if let Some(old) = session.take() {
                old.close().await;
            }
            progress.phase = "connect";
            let check = host_key_check(task.host_key_policy, pinned.clone());
            let s = connect(ctx, task, &timeouts, check, &options, progress).await?;
            if task.host_key_policy == HostKeyPolicy::AcceptNew && pinned.is_none() {
                pinned = Some(pin(ctx, task, budget, &s).await?);
            }
            session = Some(s);
        }
        let Some(s) = session.as_mut() else { continue };
        progress.phase = "waiting for a login slot";
        let waited = Instant::now();
        let permit = ctx.logins.acquire(credential, timeouts.auth).await;
        phase_observed("login_wait", waited);
        progress.phase = "authentication";
        let at = Utc::now();
        let t0 = Instant::now();
        progress.login = Some((credential.id, credential.name.clone(), t0, at));
        let auth = s.authenticate_credential(&opened).await;
        phase_observed("auth", t0);
        progress.login = None;
        permit.release().await;
        let record = |o: AttemptOutcome| attempt(credential, o, t0, at);
        match auth {
            Ok(AuthOutcome::Accepted) => {
                progress.attempts.push(record(AttemptOutcome::Success));
                progress.phase = "command";
                let t1 = Instant::now();
                let mut device = Device {
                    profile: &profile,
                    session: s,
                    enable_secret: enable.as_ref().or(opened.password.as_ref()),
                    timeouts,
                    output: &mut progress.output,
                };
                let done = job_types::run_logged_in(job, ctx, task, &mut device).await;
                phase_observed("command", t1);
                if let Some(s) = session.take() {
                    s.close().await;
                }
                match done {
                    Err(f) if f.enable_refused => {
                        // In, but not privileged: the next credential may be both, on a
                        // connection of its own.
                        if let Some(last) = progress.attempts.last_mut() {
                            last.outcome = AttemptOutcome::EnableRefused;
                        }
                        enable_refused.push(credential.name.as_str());
                        index += 1;
                        continue;
                    }
                    done => return done.map(|d| (Some(credential.id), d)),
                }
            }
            Ok(AuthOutcome::Rejected) => {
                progress.attempts.push(record(AttemptOutcome::Rejected));
                index += 1;
            }
            Err(SshError::Disconnected(Phase::Auth, _)) if reconnects < MAX_RECONNECTS => {
                // Hung up without judging the secret: same credential, new connection.
                reconnects += 1;
                session = None;
            }
            Err(e) => {
                progress.attempts.push(record(AttemptOutcome::Error));
                return Err(DeviceFailure::ssh(&e, &timeouts));
            }
        }
    }
    if let Some(s) = session.take() {
        s.close().await;
    }
    if !enable_refused.is_empty() {
        let rejected = progress.attempts.len() - enable_refused.len();
        let mut reason = format!(
            "enable refused: the device accepted the login of {} but not {} enable secret",
            enable_refused.join(", "),
            if enable_refused.len() == 1 {
                "its"
            } else {
                "their"
            }
        );
        if rejected > 0 {
            reason.push_str(&format!("; {rejected} other credentials were rejected"));
        }
        if !unopenable.is_empty() {
            reason.push_str(&format!(
                "; {} could not be opened: {}",
                unopenable.len(),
                unopenable.join(", ")
            ));
        }
        return Err(DeviceFailure::new(Outcome::AuthFailed, reason));
    }
    let rejected = progress.attempts.len();
    match (rejected, unopenable.is_empty()) {
        (0, false) => Err(DeviceFailure::new(
            Outcome::InternalError,
            format!(
                "no credential could be opened by this worker (its key ring, or a private key \
                 it cannot use): {}",
                unopenable.join(", ")
            ),
        )),
        (_, true) => Err(DeviceFailure::new(
            Outcome::AuthFailed,
            format!("all {rejected} credentials were rejected"),
        )),
        (_, false) => Err(DeviceFailure::new(
            Outcome::AuthFailed,
            format!(
                "{rejected} credentials were rejected; {} could not be opened: {}",
                unopenable.len(),
                unopenable.join(", ")
            ),
        )),
    }
}

/// Connects to the device: directly, or over a channel through its jump hosts (the
/// worker's shared connection to them, under their cap). A failure through a jump host
/// says so; a failure of a jump host itself names it.
async fn connect(
    ctx: &WorkerContext,
    task: &DeviceTask,
    timeouts: &SshTimeouts,
    check: HostKeyCheck,
    options: &SshOptions,
    progress: &mut Progress,
) -> Result<Session, DeviceFailure> {
    let Some(last) = task.jump.last() else {
        return Session::connect_with(
            &task.device.host,
            task.device.port,
            timeouts,
            check,
            options,
        )
        .await
        .map_err(|e| DeviceFailure::ssh(&e, timeouts));
    };
    let via = format!("through jump host {}", jump::label(last));
    progress.via = Some(via.clone());
    progress.phase = "waiting for a jump host channel slot or connection";
    let channel = ctx
        .jumps
        .open(
            ctx.opener(),
            &task.jump,
            &task.device.host,
            task.device.port,
            timeouts,
        )
        .await
        .map_err(|e| DeviceFailure::new(e.outcome, e.reason))?;
    progress.phase = "handshake";
    Session::over_stream(channel, timeouts, check, options)
        .await
        .map_err(|e| {
            let f = DeviceFailure::ssh(&e, timeouts);
            DeviceFailure::new(f.outcome, format!("{} ({via})", f.reason))
        })
}

/// Opens what `credential` holds ([`Opener`]) and its enable secret.
async fn open(
    ctx: &WorkerContext,
    credential: &TaskCredential,
) -> Result<(OpenedCredential, Option<SecretString>), String> {
    let opened = ctx.opener().open(credential).await?;
    let enable = credential
        .sealed_enable
        .as_deref()
        .map(|sealed| ctx.keys.open(sealed))
        .transpose()
        .map_err(|e| format!("enable secret: {e}"))?;
    Ok((opened, enable))
}

fn attempt(
    c: &TaskCredential,
    outcome: AttemptOutcome,
    started: Instant,
    at: DateTime<Utc>,
) -> Attempt {
    Attempt {
        credential_id: c.id,
        credential_name: c.name.clone(),
        outcome,
        duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
        at,
    }
}

fn host_key_check(policy: HostKeyPolicy, pinned: Option<String>) -> HostKeyCheck {
    match policy {
        HostKeyPolicy::AcceptNew => HostKeyCheck::AcceptNew { pinned },
        HostKeyPolicy::Strict => HostKeyCheck::Strict { pinned },
        HostKeyPolicy::Off => HostKeyCheck::Off,
    }
}

/// Pins the key a device presented on first contact; if another worker pinned a different
/// key in the meantime, the device fails before any secret is sent.
async fn pin(
    ctx: &WorkerContext,
    task: &DeviceTask,
    budget: &DeviceBudget,
    s: &Session,
) -> Result<String, DeviceFailure> {
    let presented = s.presented_key();
    let pinned = ctx
        .pins
        .pin(task.device.id, presented)
        .await
        .map_err(|e| DeviceFailure::new(Outcome::InternalError, e.to_string()))?;
    // The pin may be another worker's key, or an operator's pin by key or fingerprint.
    if let Err(e) = crate::ssh::pin_accepts(&pinned, presented) {
        return Err(DeviceFailure::ssh(&e, &budget.timeouts));
    }
    tracing::info!(device.id = task.device.id, fingerprint = %presented.fingerprint, "host key pinned on first contact");
    Ok(pinned)
}
