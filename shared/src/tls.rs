//! TLS client configurations for the two links every role opens: RabbitMQ (`amqp.tls_*`)
//! and Postgres (libpq's `sslmode`, `sslrootcert`, `sslcert`, `sslkey` in `database.url`);
//! and the server configuration of a role that serves HTTPS itself (`api.tls_*`).
//!
//! Always rustls with the ring provider, and only the CA named in configuration: the
//! system's trust store is never consulted, so a certificate from any other authority
//! (public or private) is refused. Every error names the setting to fix.

use crate::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// What is checked of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Nothing: the link is encrypted, but anyone in the path can pose as the server
    /// (libpq's `require` without `sslrootcert`).
    EncryptOnly,
    /// The certificate chains to the configured CA; its name is not checked (`verify-ca`).
    Ca,
    /// The certificate chains to the configured CA and names the host (`verify-full`,
    /// and always for `amqps://`).
    CaAndName,
}

/// Where the files of one link come from, with the names of the settings that gave them
/// (for error messages).
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    /// (setting, path) of the PEM file of trusted CA certificates.
    pub ca: Option<(&'a str, &'a Path)>,
    /// (setting, path) of the client's PEM certificate chain, for mutual TLS.
    pub cert: Option<(&'a str, &'a Path)>,
    /// (setting, path) of the client's PEM private key.
    pub key: Option<(&'a str, &'a Path)>,
}

/// ring, the provider already in the tree (russh): rustls 0.23.48 deprecates it for
/// lacking post-quantum key exchange, which aws-lc-rs would bring at a heavy build cost.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A (setting, path) pair for [`Files`] from an optional path.
pub fn named<'a>(
    key: &'a str,
    path: &'a Option<std::path::PathBuf>,
) -> Option<(&'a str, &'a Path)> {
    path.as_deref().map(|p| (key, p))
}

fn setting(key: &str, reason: impl Into<String>) -> Error {
    Error::Tls {
        key: key.to_string(),
        reason: reason.into(),
    }
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::TlsFile {
        key: key.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

/// The CA certificates of a PEM file; at least one.
pub fn load_roots(key: &str, path: &Path) -> Result<RootCertStore> {
    let pem = read(key, path)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| {
            setting(
                key,
                format!("{}: not a PEM certificate: {e}", path.display()),
            )
        })?;
        roots.add(cert).map_err(|e| {
            setting(
                key,
                format!("{}: unusable CA certificate: {e}", path.display()),
            )
        })?;
    }
    if roots.is_empty() {
        return Err(setting(
            key,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(roots)
}

fn load_identity(
    (cert_key, cert_path): (&str, &Path),
    (key_key, key_path): (&str, &Path),
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let pem = read(cert_key, cert_path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            setting(
                cert_key,
                format!("{}: not a PEM certificate: {e}", cert_path.display()),
            )
        })?;
    if chain.is_empty() {
        return Err(setting(
            cert_key,
            format!("{} holds no PEM certificate", cert_path.display()),
        ));
    }
    // The key's bytes are never echoed: only whether they parse.
    let key = PrivateKeyDer::from_pem_slice(&read(key_key, key_path)?).map_err(|_| {
        setting(
            key_key,
            format!(
                "{} holds no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)",
                key_path.display()
            ),
        )
    })?;
    Ok((chain, key))
}

/// A rustls client configuration for one link: the files read now (so a missing or
/// malformed file fails at start-up), the server's certificate checked as `check` says.
pub fn client_config(files: Files<'_>, check: Check) -> Result<ClientConfig> {
    let provider = provider();
    let roots = match files.ca {
        Some((key, path)) => Some(Arc::new(load_roots(key, path)?)),
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (check, roots) {
        (Check::EncryptOnly, None) => Arc::new(WithoutName {
            roots: None,
            provider: provider.clone(),
        }),
        // A CA given with "encrypt only" is still used, as libpq does for `require`.
        (Check::EncryptOnly | Check::Ca, Some(roots)) => Arc::new(WithoutName {
            roots: Some(roots),
            provider: provider.clone(),
        }),
        (Check::CaAndName, Some(roots)) => {
            WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| Error::Tls {
                    key: files.ca.map_or("tls", |(k, _)| k).to_string(),
                    reason: e.to_string(),
                })?
        }
        (Check::Ca | Check::CaAndName, None) => {
            return Err(setting(
                "tls",
                "checking the server's certificate needs a CA file",
            ))
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setting("tls", e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (files.cert, files.key) {
        (Some(cert), Some(key)) => {
            let (chain, private) = load_identity(cert, key)?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| setting(cert.0, format!("client certificate and key: {e}")))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some((cert, _)), None) => Err(setting(cert, "is set without its private key file")),
        (None, Some((key, _))) => Err(setting(key, "is set without its certificate file")),
    }
}

/// A server's configuration presenting the chain of `cert` with the private key of `key`
/// (PEM files), speaking HTTP/1.1 (ALPN) to any client: no client certificate is asked.
pub fn server_config(cert: (&str, &Path), key: (&str, &Path)) -> Result<rustls::ServerConfig> {
    let (chain, private) = load_identity(cert, key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| setting(cert.0, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| setting(cert.0, format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A server certificate checked without its name: libpq's `verify-ca` with `roots` (the
/// chain must end at a configured CA and be valid now), and `require` without them (any
/// certificate: the link is encrypted to whoever answered). Either way the handshake's
/// signatures are checked with the certificate.
#[derive(Debug)]
struct WithoutName {
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for WithoutName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn files<'a>(ca: &'a Path, cert: Option<&'a Path>, key: Option<&'a Path>) -> Files<'a> {
        Files {
            ca: Some(("amqp.tls_ca_file", ca)),
            cert: cert.map(|c| ("amqp.tls_cert_file", c)),
            key: key.map(|k| ("amqp.tls_key_file", k)),
        }
    }

    #[test]
    fn unusable_files_are_refused_naming_the_setting_and_never_echoing_a_key() {
        let dir = tempfile::tempdir().expect("dir");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let ca = write(dir.path(), "ca.pem", &cert.pem());
        let cert_file = write(dir.path(), "client.pem", &cert.pem());
        let key_text = key.serialize_pem();
        let key_file = write(dir.path(), "client.key", &key_text);
        let not_pem = write(dir.path(), "junk.pem", "hello");
        let garbled = write(
            dir.path(),
            "garbled.key",
            &key_text.replace("PRIVATE KEY-----\n", "PRIVATE KEY-----\n!!"),
        );
        let missing = dir.path().join("missing.pem");
        client_config(
            files(&ca, Some(&cert_file), Some(&key_file)),
            Check::CaAndName,
        )
        .expect("a CA and a client identity");
        for (f, says) in [
            (files(&missing, None, None), "amqp.tls_ca_file: cannot read"),
            (files(&not_pem, None, None), "amqp.tls_ca_file: "),
            (
                files(&ca, Some(&cert_file), None),
                "amqp.tls_cert_file: is set without its private key file",
            ),
            (
                files(&ca, Some(&cert_file), Some(&garbled)),
                "amqp.tls_key_file: ",
            ),
        ] {
            let err = client_config(f, Check::CaAndName)
                .expect_err(says)
                .to_string();
            assert!(err.starts_with(says), "{err}");
            assert!(!err.contains("BEGIN"), "{err}");
        }
        let err = client_config(
            Files {
                ca: None,
                cert: None,
                key: None,
            },
            Check::Ca,
        )
        .expect_err("verify without a CA");
        assert!(err.to_string().contains("needs a CA file"), "{err}");
        client_config(
            Files {
                ca: None,
                cert: None,
                key: None,
            },
            Check::EncryptOnly,
        )
        .expect("encrypt only needs no file");
    }
}
