//! `reachability`: can a TCP connection to the device's SSH port be made? No credential
//! for the device; through jump hosts, the last one makes the connection (a channel open).

use crate::budget::DeviceBudget;
use crate::context::WorkerContext;
use crate::outcome::DeviceFailure;
use crate::report::JobDone;
use netraven_shared::domain::{JobType, Outcome};
use netraven_shared::messages::DeviceTask;
use std::time::Instant;

/// The job type's wire name.
pub const NAME: &str = JobType::Reachability.as_str();

pub async fn run(
    ctx: &WorkerContext,
    task: &DeviceTask,
    budget: &DeviceBudget,
) -> Result<JobDone, DeviceFailure> {
    let started = Instant::now();
    if let Some(last) = task.jump.last() {
        let channel = ctx
            .jumps
            .open(
                ctx.opener(),
                &task.jump,
                &task.device.host,
                task.device.port,
                &budget.timeouts,
            )
            .await
            .map_err(|e| DeviceFailure::new(e.outcome, e.reason))?;
        drop(channel);
        return Ok(JobDone {
            summary: format!(
                "TCP port {} open from jump host {} ({} ms)",
                task.device.port,
                crate::jump::label(last),
                started.elapsed().as_millis()
            ),
            config: None,
        });
    }
    let target = (task.device.host.as_str(), task.device.port);
    match tokio::time::timeout(
        budget.timeouts.connect,
        tokio::net::TcpStream::connect(target),
    )
    .await
    {
        Ok(Ok(_stream)) => Ok(JobDone {
            summary: format!(
                "TCP port {} open ({} ms)",
                task.device.port,
                started.elapsed().as_millis()
            ),
            config: None,
        }),
        Ok(Err(e)) => Err(DeviceFailure::new(
            Outcome::Unreachable,
            format!("TCP connect: {e}"),
        )),
        Err(_) => Err(DeviceFailure::new(
            Outcome::Timeout,
            format!(
                "TCP connect timed out after {} ms",
                budget.timeouts.connect.as_millis()
            ),
        )),
    }
}
