//! TLS endpoints for tests: a certificate authority made by the test, and a TLS proxy
//! (tokio-rustls) in front of the shared RabbitMQ or Postgres, on the test's own port.
//!
//! The Postgres proxy answers the client's `SSLRequest` with `S`, terminates TLS and
//! forwards the rest of the conversation in plain text to the real server, as a TLS
//! terminating load balancer would. Either proxy can demand a client certificate from
//! the test CA (mutual TLS). Everything stops when the proxy is dropped.

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// The ports this test binary's listeners may use.
pub const PORTS: std::ops::Range<u16> = 25600..25680;
/// First port of the simulated devices of the TLS tests (taken ports are skipped).
pub const DEVICE_BASE_PORT: u16 = 25680;

/// The first free port of [`PORTS`], bound.
pub async fn listener() -> Result<TcpListener> {
    for port in PORTS {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await {
            return Ok(l);
        }
    }
    bail!("no free port in {PORTS:?} for a TLS proxy")
}

#[allow(deprecated)] // ring: see netraven_shared::tls
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and its key, in PEM, written to files.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// A test certificate authority; its files live in `dir`.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub cert_file: PathBuf,
    dir: PathBuf,
    name: String,
}

impl TestCa {
    /// A new CA named `name`, its certificate written to `dir/<name>-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("NetRaven test CA {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let cert_file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&cert_file, issuer.pem())?;
        Ok(TestCa {
            issuer,
            cert_file,
            dir: dir.to_path_buf(),
            name: name.to_string(),
        })
    }

    fn issue(&self, label: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Result<Issued> {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or(label));
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let cert_file = self.dir.join(format!("{}-{label}.pem", self.name));
        let key_file = self.dir.join(format!("{}-{label}.key", self.name));
        std::fs::write(&cert_file, cert.pem())?;
        std::fs::write(&key_file, key.serialize_pem())?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_file,
            key_file,
        })
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, label: &str, names: &[&str]) -> Result<Issued> {
        self.issue(label, names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate whose subject is `name`.
    pub fn client(&self, name: &str) -> Result<Issued> {
        self.issue(name, &[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone())?;
        Ok(roots)
    }

    /// The server side of a proxy presenting `server`; with `clients_from`, every client
    /// must present a certificate from that CA.
    pub fn server_config(
        &self,
        server: &Issued,
        clients_from: Option<&TestCa>,
    ) -> Result<Arc<ServerConfig>> {
        let chain = CertificateDer::pem_slice_iter(server.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes())?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match clients_from {
            Some(ca) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(ca.roots()?), provider())
                    .build()?,
            ),
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(builder.with_single_cert(chain, key)?))
    }
}

/// What precedes the TLS handshake on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prelude {
    /// TLS from the first byte (AMQPS).
    None,
    /// Postgres: the client asks with an `SSLRequest`, the proxy answers `S`.
    Postgres,
}

/// A TLS-terminating proxy on a port of [`PORTS`], forwarding to `upstream`.
pub struct TlsProxy {
    pub port: u16,
    handshakes: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    accepting: JoinHandle<()>,
}

/// Postgres' `SSLRequest` code.
const SSL_REQUEST: u32 = 80_877_103;

impl TlsProxy {
    pub async fn start(
        upstream: &str,
        config: Arc<ServerConfig>,
        prelude: Prelude,
    ) -> Result<TlsProxy> {
        let listener = listener().await?;
        let port = listener.local_addr()?.port();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let handshakes = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let upstream = upstream.to_string();
        let (ok, bad) = (handshakes.clone(), refused.clone());
        let accepting = tokio::spawn(async move {
            // Dropped with this task: every forwarded connection ends with the proxy.
            let mut connections = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                let (ok, bad) = (ok.clone(), bad.clone());
                connections.spawn(async move {
                    match handshake(client, acceptor, prelude).await {
                        Ok(tls) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                            // How the link ends (a client leaving without close_notify)
                            // is not the proxy's business.
                            let _ = forward(tls, &upstream).await;
                        }
                        Err(_) => {
                            bad.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(TlsProxy {
            port,
            handshakes,
            refused,
            accepting,
        })
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Connections refused before or during the TLS handshake.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn handshake(
    mut client: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    prelude: Prelude,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, u8)> {
    client.set_nodelay(true)?;
    if prelude == Prelude::Postgres {
        let mut request = [0u8; 8];
        client.read_exact(&mut request).await?;
        let len = u32::from_be_bytes([request[0], request[1], request[2], request[3]]);
        let code = u32::from_be_bytes([request[4], request[5], request[6], request[7]]);
        if len != 8 || code != SSL_REQUEST {
            // This endpoint speaks TLS only, like a server with `hostssl` rules alone.
            bail!("a plain-text Postgres client");
        }
        client.write_all(b"S").await?;
    }
    let mut tls = acceptor.accept(client).await.context("TLS handshake")?;
    // TLS 1.3 sends the client's certificate after the server's Finished: a refused
    // client certificate shows on the first read, so the first bytes are awaited here.
    let mut first = [0u8; 1];
    let n = tls.read(&mut first).await?;
    anyhow::ensure!(n == 1, "the client left right after the handshake");
    Ok((tls, first[0]))
}

async fn forward(
    (mut tls, first): (tokio_rustls::server::TlsStream<TcpStream>, u8),
    upstream: &str,
) -> Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    server.write_all(&[first]).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}
