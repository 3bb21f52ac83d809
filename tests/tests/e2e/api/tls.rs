//! Native TLS: with `api.tls_cert_file` and `api.tls_key_file` the role answers HTTPS to a
//! client that trusts the certificate's CA, and plain HTTP on the same port gets no answer.

use netraven_shared::tls::{client_config, Check, Files};
use netraven_tests::tls::TestCa;
use netraven_tests::TestEnv;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn https_answers_a_client_trusting_the_ca_and_plain_http_gets_nothing() -> anyhow::Result<()>
{
    let env = TestEnv::new().await?;
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new(dir.path(), "api")?;
    let server = ca.server("api", &["127.0.0.1"])?;
    let mut settings = env.settings.clone();
    settings.api.listen_addr = "127.0.0.1:0".into();
    settings.api.tls_cert_file = Some(server.cert_file.clone());
    settings.api.tls_key_file = Some(server.key_file.clone());
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let addr = netraven_api::role::start(settings, stop).await?.addr;

    let config = client_config(
        Files {
            ca: Some(("ca", &ca.cert_file)),
            cert: None,
            key: None,
        },
        Check::CaAndName,
    )?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(REQUEST).await?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let mut plain = tokio::net::TcpStream::connect(addr).await?;
    plain.write_all(REQUEST).await?;
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got).await;
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1"),
        "plain HTTP was answered: {got:?}"
    );
    Ok(())
}
