//! Health that tells the truth: a result Postgres refuses is dead-lettered and the
//! aggregator goes on (`poison`); `/readyz` and the `netraven_role_*` gauges report an
//! unreachable database (`database`) and an aggregator whose statements hang (`stalled`).

mod database;
mod poison;
mod stalled;

use crate::operations::probes::get;
use anyhow::{bail, Result};
use lapin::types::AMQPValue;
use lapin::BasicProperties;
use netraven_shared::broker::{self, Outgoing, Publisher, RESULT_KEY};
use netraven_shared::config::Settings;
use netraven_shared::messages::{self, TaskResult};
use netraven_shared::signing::{Purpose, SIGNATURE_HEADER};
use netraven_tests::TestEnv;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Generous: the checks run every half second here; a loaded machine may take far longer.
const NOTICE: Duration = Duration::from_secs(30);

/// Health settings for tests: the database checked twice a second, stalls after 2 s.
fn quick_health(settings: &mut Settings) {
    settings.health.database_check_interval_ms = 500;
    settings.health.database_check_timeout_ms = 400;
    settings.health.aggregator_stall_after_ms = 2_000;
    settings.health.dispatcher_stall_after_ms = 2_000;
}

/// One role running in-process, stopped when dropped.
struct Running {
    stop: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    fn aggregator(settings: &Settings) -> Running {
        let (s, stop) = (settings.clone(), CancellationToken::new());
        let t = stop.clone();
        let handle = tokio::spawn(async move {
            netraven_dispatcher::run_aggregator(s, t)
                .await
                .map_err(anyhow::Error::from)
        });
        Running {
            stop,
            handle: Some(handle),
        }
    }

    fn dispatcher(settings: &Settings) -> Running {
        let (s, stop) = (settings.clone(), CancellationToken::new());
        let t = stop.clone();
        let handle = tokio::spawn(async move {
            netraven_dispatcher::run_dispatcher(s, t)
                .await
                .map_err(anyhow::Error::from)
        });
        Running {
            stop,
            handle: Some(handle),
        }
    }

    fn worker(settings: &Settings) -> Running {
        let (s, stop) = (settings.clone(), CancellationToken::new());
        let t = stop.clone();
        let handle = tokio::spawn(async move {
            netraven_worker::run(s, t)
                .await
                .map_err(anyhow::Error::from)
        });
        Running {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the role and checks it returned cleanly.
    async fn stop(mut self) -> Result<()> {
        self.stop.cancel();
        let Some(handle) = self.handle.take() else {
            return Ok(());
        };
        match tokio::time::timeout(Duration::from_secs(60), handle).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => bail!("the role failed: {e:#}"),
            Ok(Err(e)) => bail!("the role panicked: {e}"),
            Err(_) => bail!("the role did not stop within 60 s"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Polls `addr`'s `/readyz` until `want` holds for its status and body.
async fn readyz_until(
    addr: &str,
    what: &str,
    want: impl Fn(u16, &str) -> bool,
) -> Result<(u16, String)> {
    let until = Instant::now() + NOTICE;
    let mut last = None;
    loop {
        if let Ok((status, body)) = get(addr, "/readyz").await {
            if want(status, &body) {
                return Ok((status, body));
            }
            last = Some((status, body));
        }
        if Instant::now() > until {
            bail!("{addr}/readyz never showed {what} within {NOTICE:?}; last: {last:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of one sample line (`name{labels}`) of `addr`'s `/metrics`.
async fn sample(addr: &str, series: &str) -> Result<Option<f64>> {
    let (_, text) = get(addr, "/metrics").await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()))
}

/// A device's result, as a worker would report it.
fn result(job_id: uuid::Uuid, device_id: i64, name: &str, reason: &str) -> TaskResult {
    TaskResult {
        version: messages::RESULT_VERSION,
        job_id,
        device_id,
        device_name: name.into(),
        outcome: netraven_shared::domain::Outcome::Success,
        reason: reason.into(),
        credential_id: None,
        attempts: 1,
        duration_ms: 5,
        config_sha256: None,
        config: None,
        worker: "test-worker".into(),
        finished_at: chrono::Utc::now(),
        try_number: None,
    }
}

/// Publishes `body` on the results exchange, signed with the test's worker key as a
/// worker signs its results (`batch`: a `task-results` batch rather than one result).
async fn publish_signed(
    env: &TestEnv,
    publisher: &Publisher,
    body: Vec<u8>,
    batch: bool,
) -> Result<()> {
    let signature = env.signer(Purpose::TaskResults)?.sign(&body);
    let mut headers = lapin::types::FieldTable::default();
    headers.insert(
        SIGNATURE_HEADER.into(),
        AMQPValue::LongString(signature.into()),
    );
    let mut properties: BasicProperties = broker::json_properties().with_headers(headers);
    if batch {
        properties = properties.with_type(messages::RESULTS_BATCH_TYPE.into());
    }
    publisher
        .publish(Outgoing {
            exchange: env.names.results_exchange(),
            routing_key: RESULT_KEY.into(),
            body,
            properties,
            mandatory: true,
        })
        .await?;
    Ok(())
}
