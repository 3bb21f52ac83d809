//! Publishing device tasks with confirms, as the dispatcher does.

use super::scratch::Scratch;
use super::Figure;
use anyhow::Result;
use chrono::Utc;
use netraven_dispatcher::dispatch::plan::TaskPlan;
use netraven_dispatcher::dispatch::publish::publish_tasks;
use netraven_dispatcher::dispatch::resolve::ResolvedDevice;
use netraven_shared::broker::{self, Publisher};
use netraven_shared::domain::{HostKeyPolicy, JobType, Lane};
use netraven_shared::messages::{TaskCredential, TaskDevice};
use netraven_shared::signing::{Issuer, Purpose, SigningKeys};
use std::sync::Arc;
use std::time::Instant;

/// Publishes `count` realistic tasks (three sealed credentials each) and measures the
/// rate at which the broker confirms them. The queue is purged afterwards.
pub async fn measure(scratch: &Scratch, count: usize) -> Result<Figure> {
    let names = scratch.names();
    let conn = broker::connect(&scratch.settings.amqp, "bench-publish").await?;
    let ch = conn.create_channel().await?;
    broker::declare_topology(&ch, &names, &scratch.settings.amqp).await?;
    let publisher = Publisher::new(&conn, scratch.settings.amqp.publish_window).await?;
    let devices = devices(count);
    let refs: Vec<&ResolvedDevice> = devices.iter().collect();
    let plan = plan();
    let signer = SigningKeys::parse(&SigningKeys::generate_line(Issuer::Dispatcher)?)?
        .signer(Purpose::DeviceTask, &names.namespace)?;
    let started = Instant::now();
    let confirmed = publish_tasks(&publisher, &names, &signer, &plan, Lane::Bulk, &refs, 0).await?;
    let took = started.elapsed();
    anyhow::ensure!(confirmed == count, "{confirmed} of {count} confirmed");
    let _ = ch
        .queue_purge(
            names.tasks_queue().into(),
            lapin::options::QueuePurgeOptions::default(),
        )
        .await;
    let _ = conn.close(200, "ok".into()).await;
    Ok(Figure::rate(
        "tasks_published_per_second",
        count,
        took,
        "tasks/s",
        format!(
            "{count} persistent tasks to a quorum queue, confirms in a window of {}",
            scratch.settings.amqp.publish_window
        ),
    ))
}

/// `count` devices as the dispatcher resolves them: three sealed credentials each.
pub(crate) fn devices(count: usize) -> Vec<ResolvedDevice> {
    let credentials: Vec<Arc<TaskCredential>> = (1..=3)
        .map(|i| {
            Arc::new(TaskCredential {
                id: i,
                name: format!("cred-{i}"),
                username: format!("user{i}"),
                sealed_secret: Some(format!("nrv1:k20260101000000-abcd:{}", "A".repeat(60))),
                sealed_key: None,
                sealed_key_passphrase: None,
                sealed_enable: None,
                max_concurrent_logins: None,
                max_logins_per_second: None,
            })
        })
        .collect();
    (0..count as i64)
        .map(|i| ResolvedDevice {
            device: TaskDevice {
                id: i,
                name: format!("dev-{i:06}"),
                host: "10.0.0.1".into(),
                port: 22,
                platform: "cisco_ios".into(),
            },
            credentials: credentials.clone(),
            pinned_host_key: None,
            jump: Arc::from(Vec::new()),
            try_number: None,
        })
        .collect()
}

/// A config_backup job's plan.
pub(crate) fn plan() -> TaskPlan {
    TaskPlan {
        job_id: uuid::Uuid::now_v7(),
        job_type: JobType::ConfigBackup,
        commands: Vec::new(),
        device_deadline_ms: 60_000,
        timeouts: Default::default(),
        host_key_policy: HostKeyPolicy::AcceptNew,
        job_deadline: Utc::now() + chrono::Duration::hours(1),
    }
}
