//! The roles in-process ([`Roles`]) and a worker that crashes on every task ([`CrashingWorker`]).

use crate::TestEnv;
use anyhow::{bail, Result};
use netraven_dispatcher::job_rows::JobView;
use netraven_shared::broker::{self};
use netraven_shared::config::Settings;
use netraven_shared::messages::JobRequest;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The roles, running in-process on their own tasks until dropped or stopped.
pub struct Roles {
    shutdown: CancellationToken,
    handles: Vec<(String, tokio::task::JoinHandle<Result<()>>)>,
}

impl Roles {
    pub fn start(settings: &Settings, workers: usize) -> Roles {
        Roles::start_each(settings, settings, settings, workers)
    }

    /// Each role with settings of its own (its own broker account, say).
    pub fn start_each(
        dispatcher: &Settings,
        aggregator: &Settings,
        worker: &Settings,
        workers: usize,
    ) -> Roles {
        let shutdown = CancellationToken::new();
        let mut handles = Vec::new();
        let (s, t) = (dispatcher.clone(), shutdown.clone());
        handles.push((
            "dispatcher".to_string(),
            tokio::spawn(async move {
                netraven_dispatcher::run_dispatcher(s, t)
                    .await
                    .map_err(anyhow::Error::from)
            }),
        ));
        let (s, t) = (aggregator.clone(), shutdown.clone());
        handles.push((
            "aggregator".to_string(),
            tokio::spawn(async move {
                netraven_dispatcher::run_aggregator(s, t)
                    .await
                    .map_err(anyhow::Error::from)
            }),
        ));
        for i in 0..workers {
            let (s, t) = (worker.clone(), shutdown.clone());
            handles.push((
                format!("worker-{i}"),
                tokio::spawn(async move {
                    netraven_worker::run(s, t)
                        .await
                        .map_err(anyhow::Error::from)
                }),
            ));
        }
        Roles { shutdown, handles }
    }

    /// The dispatcher and the aggregator only: tasks wait in the queue.
    pub fn start_without_workers(settings: &Settings) -> Roles {
        Roles::start(settings, 0)
    }

    /// Signals shutdown and checks every role returned cleanly.
    pub async fn stop(mut self) -> Result<()> {
        self.shutdown.cancel();
        for (name, handle) in std::mem::take(&mut self.handles) {
            match tokio::time::timeout(Duration::from_secs(30), handle).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => bail!("{name} failed: {e:#}"),
                Ok(Err(e)) => bail!("{name} panicked: {e}"),
                Err(_) => bail!("{name} did not stop within 30 s of shutdown"),
            }
        }
        Ok(())
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A worker that dies on every task: it takes each one and hands it back, until the
/// broker's delivery limit dead-letters it.
pub struct CrashingWorker {
    connection: lapin::Connection,
    consuming: tokio::task::JoinHandle<()>,
}

impl CrashingWorker {
    pub async fn start(env: &TestEnv) -> Result<CrashingWorker> {
        CrashingWorker::start_on(env, &env.names.tasks_queue()).await
    }

    /// One that takes the tasks of `queue` (a lane's task queue).
    pub async fn start_on(env: &TestEnv, queue: &str) -> Result<CrashingWorker> {
        use futures::StreamExt;
        let connection = broker::connect(&env.settings.amqp, "test-crashing-worker").await?;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(10, lapin::options::BasicQosOptions::default())
            .await?;
        let mut tasks = channel
            .basic_consume(
                queue.into(),
                "crashing".into(),
                lapin::options::BasicConsumeOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await?;
        let consuming = tokio::spawn(async move {
            while let Some(Ok(d)) = tasks.next().await {
                let requeue = lapin::options::BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                let _ = d.acker.nack(requeue).await;
            }
        });
        Ok(CrashingWorker {
            connection,
            consuming,
        })
    }

    /// Publishes `request` with a crashing worker as the only one taking tasks (of
    /// `queue`), and waits for the job's final status (every task dead-lettered at the
    /// delivery limit).
    pub async fn run_job_on(
        env: &TestEnv,
        queue: &str,
        request: &JobRequest,
        timeout: Duration,
    ) -> Result<JobView> {
        env.publish(request).await?;
        let crashing = CrashingWorker::start_on(env, queue).await?;
        let id = env.job_id(&request.request_id, timeout).await?;
        let job = env.wait_final(id, timeout).await?;
        crashing.stop().await;
        Ok(job)
    }

    /// [`CrashingWorker::run_job_on`] the bulk lane's queue.
    pub async fn run_job(
        env: &TestEnv,
        request: &JobRequest,
        timeout: Duration,
    ) -> Result<JobView> {
        CrashingWorker::run_job_on(env, &env.names.tasks_queue(), request, timeout).await
    }

    pub async fn stop(self) {
        self.consuming.abort();
        let _ = self
            .connection
            .close(200, "crashing worker gone".into())
            .await;
    }
}

/// A config_backup job of `devices` healthy devices (tag `fleet`) whose every task dies
/// with a [`CrashingWorker`] until the broker dead-letters it at a delivery limit of 2:
/// where the dead-letter tests start. The fleet and the roles (no workers) keep running
/// for the test to use and stop.
pub struct DeadLetteredJob {
    pub fleet: netraven_simulator::Fleet,
    pub roles: Roles,
    pub job: JobView,
    pub results: Vec<netraven_dispatcher::job_rows::DeviceResult>,
}

impl DeadLetteredJob {
    pub async fn run(
        env: &mut TestEnv,
        devices: usize,
        seed: u64,
        timeout: Duration,
    ) -> Result<DeadLetteredJob> {
        env.settings.amqp.delivery_limit = 2;
        let fleet = crate::FleetBuilder::scenario("all-good", devices, seed)?
            .start()
            .await?;
        env.import(&fleet).await?;
        let roles = Roles::start_without_workers(&env.settings);
        let request = crate::request("config_backup", &["fleet"], &[]);
        let job = CrashingWorker::run_job(env, &request, timeout).await?;
        let client = env.pool.get().await?;
        let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
        Ok(DeadLetteredJob {
            fleet,
            roles,
            job,
            results,
        })
    }
}

impl Drop for CrashingWorker {
    fn drop(&mut self) {
        // Its connection closes when dropped; the task would otherwise outlive the test.
        self.consuming.abort();
    }
}
