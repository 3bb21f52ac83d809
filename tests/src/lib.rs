//! The end-to-end test harness: every test gets its own Postgres database (cloned from a
//! migrated template) and its own RabbitMQ namespace, runs the real roles in-process or
//! as processes, and talks to simulated SSH devices.
//!
//! | item | what it gives a test |
//! |---|---|
//! | [`TestEnv`] | a fresh database, a broker namespace, a sealing key, settings pointing at them |
//! | [`Roles`] | dispatcher, workers and aggregator running in-process until dropped |
//! | [`request`] | a job request for tags or devices |
//! | [`tls`] | a test CA and TLS-terminating proxies in front of RabbitMQ and Postgres |
//!
//! A service that cannot be reached fails the test with the command that starts it.

use anyhow::{bail, Context, Result};
use deadpool_postgres::Pool;
use netraven_dispatcher::job_rows::{self as jobs, JobView};
use netraven_shared::broker::{self, Names, Outgoing, Publisher, SUBMIT_KEY};
use netraven_shared::config::{Settings, SubmitterSettings};
use netraven_shared::db;
use netraven_shared::domain::{HostKeyPolicy, JobType};
use netraven_shared::messages::{self, JobRequest, Targets};
use netraven_shared::sealing::KeyRing;
use netraven_shared::signing::{Issuer, Purpose, Signer, SigningKeys};
use netraven_simulator::Fleet;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub mod tls;

/// Server URL without a database name.
pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
pub const RABBITMQ: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const HOW_TO_START: &str =
    "start the services with `cargo run -p netraven-cli -- services ensure` \
                            (or run the whole suite with scripts/test, which does it)";
/// Test databases are named with this prefix; scripts/test drops leftovers.
pub const DB_PREFIX: &str = "nrt_";

fn url(db: &str) -> String {
    std::env::var("NETRAVEN_TEST_POSTGRES").unwrap_or_else(|_| POSTGRES.to_string()) + "/" + db
}

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
        settings.aggregator.sweep_interval_ms = 200;
        settings.worker.flush_interval_ms = 20;
        settings.worker.connect_timeout_ms = 2_000;
        settings.worker.handshake_timeout_ms = 3_000;
        settings.worker.auth_timeout_ms = 3_000;
        settings.worker.command_idle_timeout_ms = 3_000;
        // The tests' broker user may submit everything they submit: command jobs (any
        // one-line command) and host-key policy off.
        settings.dispatcher.submitters.insert(
            broker::user(&settings.amqp)?,
            SubmitterSettings {
                job_types: JobType::ALL.to_vec(),
                command_patterns: vec![".*".into()],
                weakest_host_key_policy: HostKeyPolicy::Off,
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
        netraven_cli::inventory::import(&mut client, &self.keyring, path).await
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
            ("NETRAVEN__AGGREGATOR__SWEEP_INTERVAL_MS", "200".to_string()),
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

    /// Deletes the namespace's queues and exchanges and drops the database.
    pub async fn teardown(self) -> Result<()> {
        self.pool.close();
        if let Ok(conn) = broker::connect(&self.settings.amqp, "test-teardown").await {
            if let Ok(channel) = conn.create_channel().await {
                let _ = broker::delete_topology(&channel, &self.names).await;
            }
            let _ = conn.close(200, "ok".into()).await;
        }
        admin()
            .await?
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.db_name
            ))
            .await?;
        Ok(())
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
    }
    vars
}

async fn admin() -> Result<tokio_postgres::Client> {
    let u = url("postgres");
    db::connect(&u)
        .await
        .with_context(|| format!("cannot reach Postgres at {u}: {HOW_TO_START}"))
}

/// The migrated template every test database is cloned from, made once per schema.
async fn ensure_template() -> Result<String> {
    let name = format!("nrt_template_{}", db::migrations_fingerprint());
    let admin = admin().await?;
    admin.execute("SELECT pg_advisory_lock(7472)", &[]).await?;
    let made = async {
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            let building = format!("{name}_building");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .await?;
            admin
                .batch_execute(&format!("CREATE DATABASE {building}"))
                .await?;
            db::migrate(&url(&building)).await?;
            admin
                .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                .await?;
        }
        anyhow::Ok(())
    }
    .await;
    admin
        .execute("SELECT pg_advisory_unlock(7472)", &[])
        .await?;
    made?;
    Ok(name)
}

/// Runs a shell command (`rabbitmqctl`, `pg_ctlcluster`, …) and returns what it printed;
/// fails with its output when it exits non-zero.
pub fn sh(script: &str) -> Result<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .with_context(|| format!("cannot run `{script}`"))?;
    anyhow::ensure!(
        out.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A v1 job request with a fresh request id.
pub fn request(job_type: &str, tags: &[&str], devices: &[&str]) -> JobRequest {
    JobRequest {
        version: messages::VERSION,
        request_id: format!("test-{}", Uuid::new_v4()),
        job_type: job_type.to_string(),
        targets: Targets {
            devices: devices.iter().map(|s| s.to_string()).collect(),
            device_ids: Vec::new(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
        },
        commands: Vec::new(),
        limits: Default::default(),
        submitted_by: None,
    }
}

/// A private queue, bound to an exchange to watch what crosses it, or alone as a
/// `reply_to` inbox.
pub struct Spy {
    _conn: lapin::Connection,
    consumer: lapin::Consumer,
    /// The queue's name, for `reply_to`.
    pub name: String,
}

impl Spy {
    pub async fn new(env: &TestEnv, exchange: Option<(&str, &str)>) -> Result<Spy> {
        let conn = broker::connect(&env.settings.amqp, "test-spy").await?;
        let ch = conn.create_channel().await?;
        broker::declare_topology(&ch, &env.names, &env.settings.amqp).await?;
        let q = ch
            .queue_declare(
                "".into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        let name = q.name().as_str().to_string();
        if let Some((exchange, key)) = exchange {
            ch.queue_bind(
                name.clone().into(),
                exchange.into(),
                key.into(),
                lapin::options::QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await?;
        }
        let consumer = ch
            .basic_consume(
                name.clone().into(),
                "".into(),
                lapin::options::BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        Ok(Spy {
            _conn: conn,
            consumer,
            name,
        })
    }

    /// The next message, within a minute.
    pub async fn next(&mut self) -> Result<lapin::message::Delivery> {
        use futures::StreamExt;
        let d = tokio::time::timeout(Duration::from_secs(60), self.consumer.next()).await?;
        Ok(d.ok_or_else(|| anyhow::anyhow!("spy closed"))??)
    }
}

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
        use futures::StreamExt;
        let connection = broker::connect(&env.settings.amqp, "test-crashing-worker").await?;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(10, lapin::options::BasicQosOptions::default())
            .await?;
        let mut tasks = channel
            .basic_consume(
                env.names.tasks_queue().into(),
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

    pub async fn stop(self) {
        self.consuming.abort();
        let _ = self
            .connection
            .close(200, "crashing worker gone".into())
            .await;
    }
}

/// The `netraven` binary of this build, for tests that run real processes.
pub fn netraven_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary has no target folder")?;
    let bin = dir.join("netraven");
    if !bin.exists() {
        bail!(
            "{} is missing: build it with `cargo build -p netraven-cli` (scripts/test does)",
            bin.display()
        );
    }
    Ok(bin)
}
