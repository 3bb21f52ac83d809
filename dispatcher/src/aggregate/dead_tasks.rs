//! Dead-lettered device tasks: a task the broker gave up on (the delivery limit reached,
//! every worker that took it died or refused it) becomes its device's `DEAD_LETTERED`
//! result, so the job finishes without waiting for its deadline.

use chrono::Utc;
use lapin::message::Delivery;
use netraven_shared::broker::{self, Names, FIRST_DEATH_QUEUE_HEADER, FIRST_DEATH_REASON_HEADER};
use netraven_shared::domain::Outcome;
use netraven_shared::messages::{self, DeviceTask, TaskResult};
use netraven_shared::signing::{Verifier, REFUSED_TASK};

/// The result a dead letter stands for, if it is a device task of ours: one the
/// dispatcher signed (`tasks`). A forged task a worker refused stays in the dead queue for
/// people, and marks no device.
pub fn result_of(names: &Names, tasks: &Verifier, delivery: &Delivery) -> Option<TaskResult> {
    let props = &delivery.properties;
    let source = broker::header(props, broker::SOURCE_HEADER)
        .or_else(|| broker::header(props, FIRST_DEATH_QUEUE_HEADER))?;
    // From either lane's task queue.
    names.lane_of(&source)?;
    // A task a worker refused for its signature (say, signed with a dispatcher key the
    // worker was not given yet) stays in the dead queue to be replayed, device untouched.
    let why = broker::header(props, broker::REASON_HEADER);
    if why.as_deref().is_some_and(|r| r.starts_with(REFUSED_TASK)) {
        return None;
    }
    if let Err(rejected) = broker::verify(tasks, &delivery.data, props) {
        tracing::warn!(reason = %rejected, "dead-lettered task not signed by the dispatcher: no device result made of it");
        return None;
    }
    // A task that does not decode names no device: it stays in the dead queue for people.
    let task = DeviceTask::decode(&delivery.data).ok()?;
    let try_number = task.try_number;
    let why = why
        .or_else(|| broker::header(props, FIRST_DEATH_REASON_HEADER))
        .unwrap_or_else(|| "unknown".into());
    Some(TaskResult {
        version: messages::RESULT_VERSION,
        job_id: task.job_id,
        device_id: task.device.id,
        device_name: task.device.name,
        outcome: Outcome::DeadLettered,
        reason: format!("the broker dead-lettered the task ({why}): no worker could finish it"),
        credential_id: None,
        attempts: 0,
        duration_ms: 0,
        config_sha256: None,
        config: None,
        worker: "aggregator".into(),
        finished_at: Utc::now(),
        try_number,
    })
}
