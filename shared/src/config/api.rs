//! The `[api]` section: where the api role listens and serves its metrics, its optional
//! native TLS, page sizes, and how long it waits for the dispatcher.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// The REST API and the console, with `/healthz` and `/readyz` for probes.
    pub listen_addr: String,
    /// `/metrics`, `/healthz` and `/readyz`, as on every role: apart from `listen_addr`,
    /// which an ingress exposes. Empty: no metrics served.
    pub metrics_addr: String,
    /// A PEM certificate chain: with `tls_key_file`, the role serves HTTPS itself. Without
    /// both it serves plain HTTP, for TLS terminated in front of it (an ingress, a proxy).
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Items a page holds when the request names no `limit`.
    pub default_page_size: u32,
    /// The largest `limit` a request may name.
    pub max_page_size: u32,
    /// How long a submit or a cancel waits for the dispatcher's reply.
    pub reply_timeout_ms: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen_addr: "127.0.0.1:8080".into(),
            metrics_addr: "127.0.0.1:9467".into(),
            tls_cert_file: None,
            tls_key_file: None,
            default_page_size: 50,
            max_page_size: 500,
            reply_timeout_ms: 10_000,
        }
    }
}

impl ApiSettings {
    pub fn reply_timeout(&self) -> Duration {
        Duration::from_millis(self.reply_timeout_ms)
    }
}
