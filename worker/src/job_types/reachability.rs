//! `reachability`: can a TCP connection to the device's SSH port be made? No credential.

use crate::budget::DeviceBudget;
use crate::outcome::DeviceFailure;
use crate::report::JobDone;
use netraven_shared::domain::{JobType, Outcome};
use netraven_shared::messages::DeviceTask;
use std::time::Instant;

/// The job type's wire name.
pub const NAME: &str = JobType::Reachability.as_str();

pub async fn run(task: &DeviceTask, budget: &DeviceBudget) -> Result<JobDone, DeviceFailure> {
    let started = Instant::now();
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
