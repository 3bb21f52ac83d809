//! [`TestEnv`]: one test's database, broker namespace, keys and settings, gone on drop.

use crate::database::{admin, clean_up, ensure_template, url, DB_PREFIX, HOW_TO_START};
use crate::{netraven_binary, Roles};
use anyhow::{bail, Context, Result};
use deadpool_postgres::Pool;
use netraven_dispatcher::job_rows::{self as jobs, JobView};
use netraven_shared::broker::{self, Names, Outgoing, Publisher, SUBMIT_KEY};
use netraven_shared::config::{Settings, SubmitterSettings};
use netraven_shared::db;
use netraven_shared::domain::{HostKeyPolicy, JobType};
use netraven_shared::messages::JobRequest;
use netraven_shared::sealing::KeyRing;
use netraven_shared::signing::{Issuer, Purpose, Signer, SigningKeys};
use netraven_simulator::Fleet;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const RABBITMQ: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Logs of the roles under test, when `RUST_LOG` asks for them.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let filter = tracing_subscriber::EnvFilter::from_default_env();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// One test's world.
pub struct TestEnv {
    pub settings: Settings,
    pub pool: Pool,
    pub keyring: KeyRing,
    /// The key ring in key-file format, for roles started as processes.
    pub key_line: String,
    /// The dispatcher's and the workers' signing keys, in the signing key file's format
    /// (every role of a test shares one file, as on a development machine).
    pub signing_keys: String,
    pub names: Names,
    pub dir: tempfile::TempDir,
    db_name: String,
    /// The topology is declared by the first publish only, so a test can change it after.
    declared: std::sync::atomic::AtomicBool,
}

impl TestEnv {
    /// A fresh database and namespace. Fails, saying how to start them, when Postgres or
    /// RabbitMQ cannot be reached.
    pub async fn new() -> Result<TestEnv> {
        init_logging();
        let template = ensure_template().await?;
        let db_name = format!("{DB_PREFIX}{}", Uuid::new_v4().simple());
        let admin = admin().await?;
        let mut tries = 0;
        loop {
            let created = admin
                .batch_execute(&format!("CREATE DATABASE {db_name} TEMPLATE {template}"))
                .await;
            match created {
                Ok(()) => break,
                // Another test may be cloning the template this very moment.
                Err(e) if tries < 50 && e.to_string().contains("being accessed") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e).context("cannot create the test database"),
            }
        }
        let key_line = KeyRing::generate_line()?;
        let signing_keys = format!(
            "{}\n{}\n",
            SigningKeys::generate_line(Issuer::Dispatcher)?,
            SigningKeys::generate_line(Issuer::Worker)?
        );
        let mut settings = Settings::default();
        settings.database.url = url(&db_name);
        settings.database.pool_size = 8;
        settings.amqp.url =
            std::env::var("NETRAVEN_TEST_AMQP").unwrap_or_else(|_| RABBITMQ.to_string());
        settings.amqp.namespace = format!("t-{}", &Uuid::new_v4().simple().to_string()[..12]);
        // Queues of a test that dies without cleaning up vanish on their own.
        settings.amqp.queue_expires_ms = 600_000;
        settings.secrets.key = Some(key_line.clone().into());
        settings.signing.key = Some(signing_keys.clone().into());
        settings.dispatcher.metrics_addr = String::new();
        settings.worker.metrics_addr = String::new();
        settings.aggregator.metrics_addr = String::new();
        settings.api.metrics_addr = String::new();
        settings.aggregator.sweep_interval_ms = 200;
        // No retries unless a test asks (limits.max_retries): a TIMEOUT stays one try.
        settings.dispatcher.max_retries = 0;
        settings.dispatcher.retry_poll_ms = 100;
        settings.worker.flush_interval_ms = 20;
        settings.worker.connect_timeout_ms = 2_000;
        settings.worker.handshake_timeout_ms = 3_000;
        settings.worker.auth_timeout_ms = 3_000;
        settings.worker.command_idle_timeout_ms = 3_000;
        // Every job in the bulk lane unless a test asks for priority: most tests watch or
        // forge tasks on `<ns>.tasks.device`; tests/e2e/lanes.rs sets its own cap.
        settings.dispatcher.interactive_max_devices = 0;
        // The tests' broker user may submit everything they submit: command jobs (any
        // one-line command) and host-key policy off.
        settings.dispatcher.submitters.insert(
            broker::user(&settings.amqp)?,
            SubmitterSettings {
                job_types: JobType::ALL.to_vec(),
                command_patterns: vec![".*".into()],
                weakest_host_key_policy: HostKeyPolicy::Off,
                // Cancels only its own jobs: cancel::'s test of who may cancel needs it.
                cancel_any_job: false,
            },
        );
        settings.validate()?;
        let pool = db::pool(&settings.database)?;
        broker::connect(&settings.amqp, "test-probe")
            .await
            .map(drop)
            .with_context(|| {
                format!(
                    "cannot reach RabbitMQ at {}: {HOW_TO_START}",
                    settings.amqp.url
                )
            })?;
        Ok(TestEnv {
            keyring: KeyRing::parse(&key_line)?,
            names: Names::new(&settings.amqp.namespace),
            key_line,
            signing_keys,
            pool,
            settings,
            dir: tempfile::tempdir()?,
            db_name,
            declared: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The test's signer of `purpose`, for a test that plays the dispatcher or a worker.
    pub fn signer(&self, purpose: Purpose) -> Result<Signer> {
        Ok(SigningKeys::parse(&self.signing_keys)?.signer(purpose, &self.names.namespace)?)
    }

    /// How many messages wait in `queue` and how many consumers read it, as the broker
    /// answers a passive declare (which fails when the queue does not exist).
    pub async fn queue_depth(&self, queue: &str) -> Result<(u32, u32)> {
        let conn = broker::connect(&self.settings.amqp, "test-queue-depth").await?;
        let channel = conn.create_channel().await?;
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let declared = channel
            .queue_declare(queue.into(), passive, Default::default())
            .await;
        let _ = conn.close(200, "ok".into()).await;
        let declared = declared.with_context(|| format!("queue {queue}"))?;
        Ok((declared.message_count(), declared.consumer_count()))
    }

    /// Every row of every table of the test's database as text, one table after another:
    /// for a test to search for what must never be stored (a plaintext secret).
    pub async fn dump_database(&self) -> Result<String> {
        let client = self.pool.get().await?;
        let tables: Vec<String> = client
            .query(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        anyhow::ensure!(tables.len() >= 13, "the schema's tables: {tables:?}");
        let mut dump = String::new();
        for table in &tables {
            let row = client
                .query_one(
                    &format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{table}\" t"),
                    &[],
                )
                .await?;
            dump.push_str(&row.get::<_, String>(0));
            dump.push('\n');
        }
        Ok(dump)
    }

    /// Writes the fleet's inventory and imports it, as `netraven inventory import` does.
    pub async fn import(&self, fleet: &Fleet) -> Result<netraven_cli::inventory::Imported> {
        let path = self
            .dir
            .path()
            .join(format!("inventory-{}.yaml", Uuid::new_v4().simple()));
        fleet.write_inventory(&path)?;
        self.import_file(&path).await
    }

    pub async fn import_file(
        &self,
        path: &std::path::Path,
    ) -> Result<netraven_cli::inventory::Imported> {
        let mut client = self.pool.get().await?;
        let profiles = netraven_worker::platform::Profiles::load(
            self.settings.worker.profiles_dir.as_deref(),
        )?;
        netraven_cli::inventory::import(&mut client, &self.keyring, path, &profiles).await
    }

    /// The name of this test's database.
    pub fn database_name(&self) -> &str {
        &self.db_name
    }

    /// Starts the roles in-process.
    pub fn start(&self, workers: usize) -> Roles {
        Roles::start(&self.settings, workers)
    }

    /// Publishes a job request the way any client does and returns immediately.
    pub async fn publish(&self, request: &JobRequest) -> Result<()> {
        self.publish_raw(serde_json::to_vec(request)?, broker::json_properties())
            .await
    }

    /// Publishes `request` as [`TestEnv::publish`] does, then takes it off the submit queue
    /// and returns it, as a dispatcher that died with it in hand would: the next dispatcher
    /// to take it sees it redelivered. Start the dispatchers after this.
    pub async fn publish_redelivered(&self, request: &JobRequest) -> Result<()> {
        use lapin::options::{BasicGetOptions, BasicNackOptions};
        self.publish(request).await?;
        let conn = broker::connect(&self.settings.amqp, "test-died").await?;
        let ch = conn.create_channel().await?;
        let submit = self.names.submit_queue();
        let until = Instant::now() + Duration::from_secs(30);
        let taken = loop {
            if let Some(m) = ch
                .basic_get(submit.as_str().into(), BasicGetOptions::default())
                .await?
            {
                break m;
            }
            if Instant::now() > until {
                bail!("the request never reached {submit}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        taken
            .delivery
            .acker
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await?;
        let _ = conn.close(200, "ok".into()).await;
        Ok(())
    }

    /// Publishes any bytes as a job request, as the broker user `netraven job submit`
    /// would (the `user_id` property is set to it unless `properties` name one).
    pub async fn publish_raw(
        &self,
        body: Vec<u8>,
        properties: lapin::BasicProperties,
    ) -> Result<()> {
        let properties = match properties.user_id() {
            Some(_) => properties,
            None => properties.with_user_id(broker::user(&self.settings.amqp)?.into()),
        };
        self.publish_as(&self.settings.amqp, body, properties).await
    }

    /// Publishes any bytes as a job request over a connection made with `amqp` (another
    /// broker user's URL, say), with exactly these properties (no `user_id` added).
    pub async fn publish_as(
        &self,
        amqp: &netraven_shared::config::AmqpSettings,
        body: Vec<u8>,
        properties: lapin::BasicProperties,
    ) -> Result<()> {
        let conn = broker::connect(amqp, "test-client").await?;
        if amqp.declare_topology
            && !self
                .declared
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let channel = conn.create_channel().await?;
            broker::declare_topology(&channel, &self.names, amqp).await?;
        }
        let publisher = Publisher::new(&conn, 1).await?;
        publisher
            .publish(Outgoing {
                exchange: self.names.jobs_exchange(),
                routing_key: SUBMIT_KEY.into(),
                body,
                properties,
                mandatory: true,
            })
            .await?;
        let _ = conn.close(200, "ok".into()).await;
        Ok(())
    }

    /// The job made for `request_id`, once the dispatcher has created it.
    pub async fn job_id(&self, request_id: &str, timeout: Duration) -> Result<Uuid> {
        let until = Instant::now() + timeout;
        loop {
            let client = self.pool.get().await?;
            if let Some(row) = client
                .query_opt("SELECT id FROM jobs WHERE request_id = $1", &[&request_id])
                .await?
            {
                return Ok(row.get(0));
            }
            if Instant::now() > until {
                bail!("no job for request {request_id} after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the job has recorded at least `devices` devices, and answers its view
    /// then; an error if it ends first.
    pub async fn wait_recorded(
        &self,
        job_id: Uuid,
        devices: i64,
        timeout: Duration,
    ) -> Result<JobView> {
        let until = Instant::now() + timeout;
        loop {
            let client = self.pool.get().await?;
            let view = jobs::get(&client, job_id).await?.context("job vanished")?;
            let c = &view.counts;
            if c.completed_devices >= devices {
                return Ok(view);
            }
            if c.status.is_final() {
                bail!("job {job_id} ended with {devices} devices not recorded: {c:?}");
            }
            if Instant::now() > until {
                bail!("job {job_id} recorded fewer than {devices} devices in {timeout:?}: {c:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the job's final status.
    pub async fn wait_final(&self, job_id: Uuid, timeout: Duration) -> Result<JobView> {
        let until = Instant::now() + timeout;
        loop {
            let client = self.pool.get().await?;
            let view = jobs::get(&client, job_id).await?.context("job vanished")?;
            if view.counts.status.is_final() {
                return Ok(view);
            }
            if Instant::now() > until {
                bail!(
                    "job {job_id} still {:?} after {timeout:?}: {:?}",
                    view.counts.status,
                    view.counts
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Publishes `request` and waits for its job's final status.
    pub async fn run_job(&self, request: &JobRequest, timeout: Duration) -> Result<JobView> {
        self.publish(request).await?;
        let id = self.job_id(&request.request_id, timeout).await?;
        self.wait_final(id, timeout).await
    }

    /// The environment that points a `netraven` process at this test's world.
    pub fn process_env(&self) -> Vec<(String, String)> {
        let s = &self.settings;
        [
            ("NETRAVEN__DATABASE__URL", s.database.url.clone()),
            ("NETRAVEN__AMQP__URL", s.amqp.url.clone()),
            ("NETRAVEN__AMQP__NAMESPACE", s.amqp.namespace.clone()),
            (
                "NETRAVEN__AMQP__QUEUE_EXPIRES_MS",
                s.amqp.queue_expires_ms.to_string(),
            ),
            ("NETRAVEN__SECRETS__KEY", self.key_line.clone()),
            ("NETRAVEN__SIGNING__KEY", self.signing_keys.clone()),
            ("NETRAVEN__DISPATCHER__METRICS_ADDR", String::new()),
            ("NETRAVEN__WORKER__METRICS_ADDR", String::new()),
            ("NETRAVEN__AGGREGATOR__METRICS_ADDR", String::new()),
            ("NETRAVEN__API__METRICS_ADDR", String::new()),
            ("NETRAVEN__AGGREGATOR__SWEEP_INTERVAL_MS", "200".to_string()),
            (
                "NETRAVEN__DISPATCHER__MAX_RETRIES",
                s.dispatcher.max_retries.to_string(),
            ),
            (
                "NETRAVEN__DISPATCHER__RETRY_POLL_MS",
                s.dispatcher.retry_poll_ms.to_string(),
            ),
            (
                "NETRAVEN__DISPATCHER__INTERACTIVE_MAX_DEVICES",
                s.dispatcher.interactive_max_devices.to_string(),
            ),
            ("NETRAVEN__WORKER__FLUSH_INTERVAL_MS", "20".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(submitters_env(&s.dispatcher.submitters))
        .collect()
    }

    /// A `netraven` command pointed at this test's world, with no inherited config.
    pub fn command(&self) -> Result<std::process::Command> {
        let mut cmd = std::process::Command::new(netraven_binary()?);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NETRAVEN")) {
            cmd.env_remove(k);
        }
        cmd.envs(self.process_env());
        cmd.env("RUST_LOG", "warn");
        Ok(cmd)
    }
}

/// A test's database and broker namespace go when its `TestEnv` does: at the end of the
/// test, passed or failed (scripts/test drops what a killed run left behind).
impl Drop for TestEnv {
    fn drop(&mut self) {
        self.pool.close();
        let (amqp, names, db_name) = (
            self.settings.amqp.clone(),
            self.names.clone(),
            self.db_name.clone(),
        );
        // Drop cannot await, and the test's runtime may be a current-thread one that this
        // very thread drives: the clean-up gets a thread and a runtime of its own.
        let cleaned = std::thread::spawn(move || -> Result<()> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(clean_up(&amqp, &names, &db_name))
        })
        .join();
        match cleaned {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("test database {} not dropped: {e:#}", self.db_name),
            Err(_) => eprintln!("test clean-up of {} panicked", self.db_name),
        }
    }
}

/// `dispatcher.submitters` as environment variables (lists as JSON arrays).
fn submitters_env(
    submitters: &std::collections::BTreeMap<String, SubmitterSettings>,
) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    for (name, s) in submitters {
        let key = |k: &str| {
            format!(
                "NETRAVEN__DISPATCHER__SUBMITTERS__{}__{k}",
                name.to_uppercase()
            )
        };
        let json = |v: serde_json::Value| v.to_string();
        vars.push((key("JOB_TYPES"), json(serde_json::json!(s.job_types))));
        vars.push((
            key("COMMAND_PATTERNS"),
            json(serde_json::json!(s.command_patterns)),
        ));
        vars.push((
            key("WEAKEST_HOST_KEY_POLICY"),
            s.weakest_host_key_policy.to_string(),
        ));
        vars.push((key("CANCEL_ANY_JOB"), s.cancel_any_job.to_string()));
    }
    vars
}
