//! Several broker addresses over TLS: each `amqps://` address is checked against its own
//! host name (or `amqp.tls_server_name`), and a dead address is skipped for the next.
//! Against TLS proxies (of the test's own) in front of the shared broker.

use netraven_shared::broker;
use netraven_shared::config::AmqpSettings;
use netraven_tests::cluster::free_port;
use netraven_tests::tls::{Prelude, TestCa, TlsProxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tls_address_is_checked_by_its_own_name_and_dead_ones_skipped() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new(dir.path(), "cluster")?;
    let a = ca.server("node-a", &["localhost"])?;
    let proxy =
        TlsProxy::start("127.0.0.1:5672", ca.server_config(&a, None)?, Prelude::None).await?;
    let dead = free_port()?;
    let settings = AmqpSettings {
        url: format!("amqps://guest:guest@127.0.0.1:{dead}/%2f"),
        urls: vec![format!("amqps://guest:guest@localhost:{}/%2f", proxy.port)],
        tls_ca_file: Some(ca.cert_file.clone()),
        ..AmqpSettings::default()
    };
    // Whichever address a connect starts from, it ends on the live one, over TLS.
    for _ in 0..3 {
        let c = broker::connect(&settings, "test-addresses").await?;
        let _ = c.close(200, "ok".into()).await;
    }
    assert_eq!(proxy.handshakes(), 3, "one TLS handshake per connect");

    // The live node reached as 127.0.0.1: its certificate does not carry that name, and
    // the name checked is this address's own, not another's.
    let by_ip = AmqpSettings {
        urls: vec![format!("amqps://guest:guest@127.0.0.1:{}/%2f", proxy.port)],
        ..settings.clone()
    };
    let err = broker::connect(&by_ip, "test-addresses")
        .await
        .expect_err("a name the certificate lacks")
        .to_string();
    assert!(err.contains("127.0.0.1"), "{err}");
    // Unless amqp.tls_server_name says which name every node's certificate carries.
    let named = AmqpSettings {
        tls_server_name: Some("localhost".into()),
        ..by_ip
    };
    broker::connect(&named, "test-addresses").await?;
    Ok(())
}
