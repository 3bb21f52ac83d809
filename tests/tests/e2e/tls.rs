//! TLS on every link, against real TLS endpoints: TLS-terminating proxies (started by
//! each test, on ports 25600-25679) in front of the shared RabbitMQ and Postgres, with
//! certificates from a CA the test makes; and the shared Postgres' own TLS listener
//! (Debian's snakeoil certificate) for `sslmode=require`.

use anyhow::{Context, Result};
use netraven_shared::config::{AmqpSettings, Settings};
use netraven_shared::domain::JobStatus;
use netraven_shared::{broker, db};
use netraven_tests::tls::{Issued, Prelude, TestCa, TlsProxy, DEVICE_BASE_PORT};
use netraven_tests::{request, FleetBuilder, TestEnv, POSTGRES};
use std::path::Path;
use std::time::Duration;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);
const RABBITMQ_PLAIN: &str = "127.0.0.1:5672";
const POSTGRES_PLAIN: &str = "127.0.0.1:5432";

/// A TLS proxy in front of RabbitMQ and one in front of Postgres, both presenting
/// `server`; with `clients_from`, both demand a client certificate from that CA.
async fn proxies(
    ca: &TestCa,
    server: &Issued,
    clients_from: Option<&TestCa>,
) -> Result<(TlsProxy, TlsProxy)> {
    let amqp = TlsProxy::start(
        RABBITMQ_PLAIN,
        ca.server_config(server, clients_from)?,
        Prelude::None,
    )
    .await?;
    let pg = TlsProxy::start(
        POSTGRES_PLAIN,
        ca.server_config(server, clients_from)?,
        Prelude::Postgres,
    )
    .await?;
    Ok((amqp, pg))
}

fn amqps(port: u16, ca: &Path) -> AmqpSettings {
    AmqpSettings {
        url: format!("amqps://guest:guest@localhost:{port}/%2f"),
        tls_ca_file: Some(ca.to_path_buf()),
        ..AmqpSettings::default()
    }
}

/// A Postgres URL through the proxy on `port`, with libpq's TLS parameters.
fn pg_url(host: &str, port: u16, database: &str, params: &str) -> String {
    format!("postgres://postgres@{host}:{port}/{database}?{params}")
}

async fn pg_ssl_in_use(url: &str) -> Result<bool> {
    let client = db::connect(url).await?;
    let row = client
        .query_one(
            "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// What a user sees when a connection fails: the whole error chain.
async fn amqp_error(settings: &AmqpSettings) -> String {
    match broker::connect(settings, "test-tls").await {
        Ok(_) => "connected".into(),
        Err(e) => {
            eprintln!("broker: {e:#}");
            format!("{e:#}")
        }
    }
}

async fn pg_error(url: &str) -> String {
    match db::connect(url).await {
        Ok(_) => "connected".into(),
        Err(e) => {
            eprintln!("postgres: {e:#}");
            format!("{e:#}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_end_to_end_with_every_role_over_amqps_and_postgres_verify_full() -> Result<()> {
    let env = TestEnv::new().await?;
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new(dir.path(), "e2e")?;
    let server = ca.server("server", &["localhost"])?;
    let role = ca.client("netraven-role")?;
    // Both proxies demand a client certificate from the test CA.
    let (amqp_proxy, pg_proxy) = proxies(&ca, &server, Some(&ca)).await?;

    let mut env = env;
    let mut settings = env.settings.clone();
    settings.amqp = AmqpSettings {
        tls_cert_file: Some(role.cert_file.clone()),
        tls_key_file: Some(role.key_file.clone()),
        namespace: env.settings.amqp.namespace.clone(),
        queue_expires_ms: env.settings.amqp.queue_expires_ms,
        ..amqps(amqp_proxy.port, &ca.cert_file)
    };
    settings.database.url = pg_url(
        "localhost",
        pg_proxy.port,
        env.database_name(),
        &format!(
            "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            ca.cert_file.display(),
            role.cert_file.display(),
            role.key_file.display()
        ),
    );
    settings.validate()?;
    // The roles, the job request's publisher and the teardown all go through the proxies;
    // only the harness's own pool (reading the job's status) stays direct.
    env.settings = settings;

    let fleet = FleetBuilder::scenario("all-good", 4, 91)?
        .base_port(DEVICE_BASE_PORT)
        .start()
        .await?;
    env.import(&fleet).await?;
    let before = (amqp_proxy.handshakes(), pg_proxy.handshakes());
    let roles = env.start(1);
    let r = request("config_backup", &["fleet"], &[]);
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, JOB_TIMEOUT).await?;
    let job = env.wait_final(id, JOB_TIMEOUT).await?;
    roles.stop().await?;
    fleet.shutdown().await;

    assert_eq!(job.counts.status, JobStatus::CompletedSuccess, "{job:?}");
    assert_eq!(job.counts.succeeded_devices, 4);
    // Dispatcher, aggregator and worker each opened their broker connection and their
    // Postgres pool through the TLS proxies, client certificate and all.
    assert!(
        amqp_proxy.handshakes() - before.0 >= 3,
        "broker TLS handshakes: {}",
        amqp_proxy.handshakes() - before.0
    );
    assert!(
        pg_proxy.handshakes() - before.1 >= 3,
        "Postgres TLS handshakes: {}",
        pg_proxy.handshakes() - before.1
    );
    assert_eq!(amqp_proxy.refused(), 0);
    assert_eq!(pg_proxy.refused(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_with_a_message_naming_the_setting() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new(dir.path(), "real")?;
    let other = TestCa::new(dir.path(), "other")?;
    let server = ca.server("server", &["localhost"])?;
    let (amqp_proxy, pg_proxy) = proxies(&ca, &server, None).await?;

    let ok = amqps(amqp_proxy.port, &ca.cert_file);
    broker::connect(&ok, "test-tls")
        .await
        .context("the right CA must connect")?;
    let err = amqp_error(&amqps(amqp_proxy.port, &other.cert_file)).await;
    assert!(err.contains("broker TLS to localhost:"), "{err}");
    assert!(err.contains("amqp.tls_ca_file"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");

    let url = |ca: &TestCa| {
        pg_url(
            "localhost",
            pg_proxy.port,
            "postgres",
            &format!("sslmode=verify-full&sslrootcert={}", ca.cert_file.display()),
        )
    };
    assert!(!pg_ssl_in_use(&url(&ca)).await?, "through the proxy");
    let err = pg_error(&url(&other)).await;
    assert!(err.contains("error performing TLS handshake"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("sslrootcert"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_server_name_fails_verify_full_while_verify_ca_and_require_pass() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new(dir.path(), "names")?;
    // A certificate for another host than the one the clients dial.
    let server = ca.server("elsewhere", &["db.elsewhere.test"])?;
    let pg_proxy = TlsProxy::start(
        POSTGRES_PLAIN,
        ca.server_config(&server, None)?,
        Prelude::Postgres,
    )
    .await?;
    let root = format!("sslrootcert={}", ca.cert_file.display());
    let url = |params: &str| pg_url("localhost", pg_proxy.port, "postgres", params);

    let err = pg_error(&url(&format!("sslmode=verify-full&{root}"))).await;
    assert!(err.contains("not valid for name \"localhost\""), "{err}");
    assert!(err.contains("database.url"), "{err}");
    db::connect(&url(&format!("sslmode=verify-ca&{root}")))
        .await
        .context("verify-ca does not compare names")?;
    db::connect(&url("sslmode=require"))
        .await
        .context("require without a CA checks nothing but encrypts")?;
    let handshakes = pg_proxy.handshakes();
    assert!(handshakes >= 2, "{handshakes}");

    let amqp_proxy = TlsProxy::start(
        RABBITMQ_PLAIN,
        ca.server_config(&server, None)?,
        Prelude::None,
    )
    .await?;
    let err = amqp_error(&amqps(amqp_proxy.port, &ca.cert_file)).await;
    assert!(err.contains("not valid for name \"localhost\""), "{err}");
    assert!(err.contains("server name \"localhost\""), "{err}");
    // The override names the certificate's host while the URL dials another.
    let overridden = AmqpSettings {
        tls_server_name: Some("db.elsewhere.test".into()),
        ..amqps(amqp_proxy.port, &ca.cert_file)
    };
    broker::connect(&overridden, "test-tls")
        .await
        .context("amqp.tls_server_name names the certificate's host")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_a_client_without_a_certificate_and_admits_one_with() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new(dir.path(), "mtls")?;
    let stranger_ca = TestCa::new(dir.path(), "stranger")?;
    let server = ca.server("server", &["localhost"])?;
    let client = ca.client("netraven-worker")?;
    let stranger = stranger_ca.client("netraven-worker")?;
    let (amqp_proxy, pg_proxy) = proxies(&ca, &server, Some(&ca)).await?;

    let bare = amqps(amqp_proxy.port, &ca.cert_file);
    let err = amqp_error(&bare).await;
    assert_ne!(err, "connected");
    assert!(err.contains("no client certificate"), "{err}");
    let with = |id: &netraven_tests::tls::Issued| AmqpSettings {
        tls_cert_file: Some(id.cert_file.clone()),
        tls_key_file: Some(id.key_file.clone()),
        ..bare.clone()
    };
    assert_ne!(amqp_error(&with(&stranger)).await, "connected");
    broker::connect(&with(&client), "test-tls")
        .await
        .context("a certificate from the CA the broker trusts")?;

    let root = format!("sslmode=verify-full&sslrootcert={}", ca.cert_file.display());
    let url = |params: &str| pg_url("localhost", pg_proxy.port, "postgres", params);
    assert_ne!(pg_error(&url(&root)).await, "connected");
    let with_cert = |id: &netraven_tests::tls::Issued| {
        url(&format!(
            "{root}&sslcert={}&sslkey={}",
            id.cert_file.display(),
            id.key_file.display()
        ))
    };
    assert_ne!(pg_error(&with_cert(&stranger)).await, "connected");
    db::connect(&with_cert(&client))
        .await
        .context("a client certificate from the CA the proxy trusts")?;
    // The proxies saw the refused handshakes (counted as the server side ends them).
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while (amqp_proxy.refused() < 2 || pg_proxy.refused() < 2) && std::time::Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        amqp_proxy.refused() >= 2 && pg_proxy.refused() >= 2,
        "{} {}",
        amqp_proxy.refused(),
        pg_proxy.refused()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_against_a_plain_listener_fails_instead_of_talking_plain() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new(dir.path(), "plain")?;
    // The shared broker's plain AMQP port.
    let settings = AmqpSettings {
        url: "amqps://guest:guest@127.0.0.1:5672/%2f".into(),
        tls_ca_file: Some(ca.cert_file.clone()),
        ..AmqpSettings::default()
    };
    let started = std::time::Instant::now();
    let err = amqp_error(&settings).await;
    assert!(err.contains("broker TLS to 127.0.0.1:5672"), "{err}");
    assert!(err.contains("amqp.tls_ca_file"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(16),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_against_the_shared_postgres_own_tls_listener() -> Result<()> {
    let base = std::env::var("NETRAVEN_TEST_POSTGRES").unwrap_or_else(|_| POSTGRES.to_string());
    let url = |params: &str| format!("{base}/postgres?{params}");
    // Debian's server runs `ssl = on` with its snakeoil certificate.
    assert!(
        pg_ssl_in_use(&url("sslmode=require")).await?,
        "sslmode=require must encrypt (is `ssl = on` in postgresql.conf?)"
    );
    assert!(
        pg_ssl_in_use(&format!("{base}/postgres")).await?,
        "no sslmode means libpq's prefer: TLS when the server offers it"
    );
    assert!(!pg_ssl_in_use(&url("sslmode=disable")).await?);
    // A CA of ours never signed the snakeoil certificate.
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new(dir.path(), "snakeoil")?;
    let err = pg_error(&url(&format!(
        "sslmode=verify-ca&sslrootcert={}",
        ca.cert_file.display()
    )))
    .await;
    assert!(err.contains("TLS handshake"), "{err}");
    Ok(())
}

#[test]
fn tls_settings_are_checked_at_start_up_naming_the_key() {
    let load = |pairs: &[(&str, &str)]| {
        Settings::load_from(
            None,
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
        .map(drop)
        .map_err(|e| e.to_string())
    };
    let amqps = ("NETRAVEN__AMQP__URL", "amqps://guest:guest@broker:5671/%2f");
    let err = load(&[amqps]).expect_err("amqps without a CA");
    assert!(err.contains("amqp.tls_ca_file"), "{err}");
    let err = load(&[
        amqps,
        ("NETRAVEN__AMQP__TLS_CA_FILE", "/nonexistent/ca.pem"),
    ])
    .expect_err("missing CA file");
    assert!(
        err.contains("amqp.tls_ca_file: /nonexistent/ca.pem does not exist"),
        "{err}"
    );
    let err = load(&[("NETRAVEN__AMQP__TLS_CA_FILE", "/etc/hostname")])
        .expect_err("TLS file with a plain URL");
    assert!(
        err.contains("amqp.tls_ca_file") && err.contains("amqps://"),
        "{err}"
    );
    let err = load(&[
        amqps,
        ("NETRAVEN__AMQP__TLS_CA_FILE", "/etc/hostname"),
        ("NETRAVEN__AMQP__TLS_CERT_FILE", "/etc/hostname"),
    ])
    .expect_err("certificate without key");
    assert!(err.contains("amqp.tls_key_file"), "{err}");
    let err = load(&[(
        "NETRAVEN__DATABASE__URL",
        "postgres://app:hunter2@db/netraven?sslmode=verify-full",
    )])
    .expect_err("verify-full without a CA");
    assert!(
        err.contains("database.url") && err.contains("sslrootcert"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let err = load(&[(
        "NETRAVEN__DATABASE__URL",
        "postgres://db/netraven?sslmode=verify-ca&sslrootcert=/nonexistent/root.crt",
    )])
    .expect_err("missing CA file");
    assert!(
        err.contains("database.url: sslrootcert: /nonexistent/root.crt does not exist"),
        "{err}"
    );
    let err = load(&[(
        "NETRAVEN__DATABASE__URL",
        "postgres://db/netraven?sslmode=allow",
    )])
    .expect_err("allow");
    assert!(err.contains("sslmode=\"allow\""), "{err}");
    load(&[(
        "NETRAVEN__DATABASE__URL",
        "postgres://db/netraven?sslmode=verify-full&sslrootcert=/etc/hostname&application_name=x",
    )])
    .expect("valid");
}
