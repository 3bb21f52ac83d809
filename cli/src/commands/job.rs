//! `netraven job ...`: publishing a request or a cancel, and reading jobs back from Postgres.

use super::connect::connect;
use crate::args::{JobCommand, SubmitArgs};
use crate::exit::Exit;
use crate::views::{self, watch, Style};
use crate::{client, say};
use anyhow::{bail, Context, Result};
use netraven_shared::config::Settings;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{self, CancelAnswer, JobRequest, Targets};
use std::time::Duration;

pub async fn run(settings: &Settings, cmd: JobCommand) -> Result<Exit> {
    match cmd {
        JobCommand::Submit(args) => return submit(settings, args).await,
        JobCommand::Cancel {
            id,
            reason,
            timeout_secs,
        } => return cancel(settings, id, reason, timeout_secs).await,
        JobCommand::Show {
            id,
            devices,
            limit,
            summary,
            out,
        } => {
            let client = connect(settings).await?;
            // The text lists devices only when asked; JSON keeps every result unless
            // --summary, as scripts read it.
            let with_results = if out.json { !summary } else { devices };
            let detail = views::job_show::show(&client, id, with_results).await?;
            let rows = (limit > 0).then_some(limit);
            out.print(&detail, |d, s| views::job_show::render(d, rows, s))?;
        }
        JobCommand::Watch {
            id,
            timeout_secs,
            interval_ms,
            json,
        } => {
            use std::io::IsTerminal;
            let client = connect(settings).await?;
            let how = watch::Watch {
                every: Duration::from_millis(interval_ms.max(10)),
                timeout: Duration::from_secs(timeout_secs),
                // Progress goes to stderr: redraw in place only when a person watches it.
                live: std::io::stderr().is_terminal(),
                json,
                style: Style::detect(),
                progress_style: Style::for_stderr(),
            };
            return watch::watch(&client, id, how).await;
        }
        JobCommand::List { status, limit, out } => {
            let client = connect(settings).await?;
            let jobs = views::jobs::list(
                &client,
                &views::jobs::JobFilter {
                    status,
                    ..Default::default()
                },
                i64::from(limit),
            )
            .await?;
            out.print(&jobs, |j, s| views::jobs::render_list(j, s))?;
        }
        JobCommand::Results { id, outcomes, out } => {
            let client = connect(settings).await?;
            let results = views::jobs::results(
                &client,
                id,
                &netraven_dispatcher::job_rows::ResultsPage {
                    outcomes,
                    ..Default::default()
                },
            )
            .await?;
            out.print(&results, |r, s| views::jobs::render_results(r, s))?;
        }
        JobCommand::Outputs { id, device, out } => {
            let client = connect(settings).await?;
            let outputs = views::history::command_outputs(&client, id, device.as_deref()).await?;
            out.print(&outputs, |o, s| views::outputs::render(o, s))?;
        }
        JobCommand::Rerun {
            id,
            failed: _,
            request_id,
            wait,
            timeout_secs,
        } => {
            let client = connect(settings).await?;
            let rerun = views::rerun::failed(&client, id, request_id).await?;
            if rerun.left_out > 0 {
                crate::note!(
                    "{} of the {} devices that did not succeed are no longer in the inventory (or are disabled): not rerun",
                    rerun.left_out,
                    rerun.failed
                );
            }
            let Some(request) = rerun.request else {
                crate::note!(
                    "nothing to rerun: no device of job {id} that did not succeed is left to run"
                );
                return Ok(Exit::NoDevices);
            };
            crate::note!(
                "rerunning {} devices of job {id} (request {})",
                request.targets.device_ids.len(),
                request.request_id
            );
            return publish(settings, &request, wait, timeout_secs).await;
        }
        JobCommand::Logs { id, device, out } => {
            let client = connect(settings).await?;
            let lines = views::jobs::logs(&client, id, device.as_deref(), None, None).await?;
            out.print(&lines, |l, s| views::jobs::render_logs(l, s))?;
        }
    }
    Ok(Exit::Success)
}

/// `job submit`: the job id on stdout; with `--wait`, the final status on stderr and an
/// exit code that says it.
async fn submit(settings: &Settings, args: SubmitArgs) -> Result<Exit> {
    if args.tags.is_empty() && args.devices.is_empty() {
        bail!("name the targets: --tag TAG and/or --device NAME");
    }
    let request = JobRequest {
        version: messages::VERSION,
        request_id: args
            .request_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        job_type: args.job_type,
        targets: Targets {
            devices: args.devices,
            device_ids: Vec::new(),
            tags: args.tags,
        },
        commands: args.commands,
        limits: Default::default(),
        // The submitter is the broker user (the request's user_id), not a body field.
        submitted_by: None,
        priority: args.priority,
    };
    publish(settings, &request, args.wait, args.timeout_secs).await
}

/// Publishes `request` and prints its job id; with `wait`, the final status on stderr and
/// an exit code that says it.
async fn publish(
    settings: &Settings,
    request: &JobRequest,
    wait: bool,
    timeout_secs: u64,
) -> Result<Exit> {
    let done = client::submit(
        &settings.amqp,
        request,
        wait,
        Duration::from_secs(timeout_secs),
    )
    .await?;
    let job_id = done.reply.job_id.context("the reply names no job")?;
    say!("{job_id}")?;
    if let (Some(status), Some(error)) = (done.reply.status, &done.reply.error) {
        // The job ended at the dispatcher (not permitted, invalid, …): say why.
        crate::note!("{status}: {}", crate::views::shown(error));
        return Ok(Exit::for_status(status));
    }
    if !wait {
        return Ok(Exit::Success);
    }
    let status = done
        .completed
        .map(|e| e.status)
        .or(done.reply.status)
        .unwrap_or(JobStatus::FailedUnexpected);
    crate::note!("{status}");
    Ok(Exit::for_status(status))
}

/// `job cancel`: the dispatcher's answer on stdout (`cancelled <status>`, `already_final
/// <status>`), a refusal on stderr; the exit code says which (`CANCEL_EXIT_CODES`).
async fn cancel(
    settings: &Settings,
    job_id: uuid::Uuid,
    reason: Option<String>,
    timeout_secs: u64,
) -> Result<Exit> {
    let request = messages::JobCancel {
        version: messages::VERSION,
        job_id,
        reason,
    };
    let reply = client::cancel(&settings.amqp, &request, Duration::from_secs(timeout_secs)).await?;
    let status = reply.status.map(|s| s.to_string()).unwrap_or_default();
    match reply.answer {
        CancelAnswer::Cancelled => {
            say!("cancelled {status}")?;
            Ok(Exit::Success)
        }
        CancelAnswer::AlreadyFinal => {
            say!("already_final {status}")?;
            Ok(reply.status.map_or(Exit::Error, Exit::for_status))
        }
        refused => {
            let why = reply.error.unwrap_or_default();
            bail!(
                "cancel refused ({}): {}",
                refused.as_str(),
                crate::views::shown(&why)
            )
        }
    }
}
