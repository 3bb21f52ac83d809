//! The api role against real Postgres, RabbitMQ and simulated devices: tokens and scopes,
//! `/healthz` and `/readyz`; the job, device, configuration history and diff, credential,
//! command output and schedule endpoints, their filters and pagination; problem details; a
//! job submitted, and one cancelled while it runs, through the dispatchers as the token's
//! submitter; HTTPS; and the OpenAPI document, held to what every operation answers. The
//! dead-letter endpoints need the broker accounts of `broker_acl`, and are tested there.

mod auth;
pub(crate) mod client;
mod jobs;
mod openapi;
mod outputs;
mod reads;
mod schedules;
mod tls;

use client::Http;
use netraven_api::auth::{store, NewToken, Scope};
use netraven_tests::TestEnv;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// The api role of `env`, in-process on a port of its own, stopped on drop.
pub struct Api {
    pub addr: SocketAddr,
    /// `/metrics` (and the probes), apart from the REST API and the console.
    pub metrics_addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start(env: &TestEnv) -> anyhow::Result<Api> {
    let mut settings = env.settings.clone();
    settings.api.listen_addr = "127.0.0.1:0".into();
    settings.api.metrics_addr = "127.0.0.1:0".into();
    settings.api.reply_timeout_ms = 20_000;
    let stop = CancellationToken::new();
    let serving = netraven_api::role::start(settings, stop.clone()).await?;
    Ok(Api {
        addr: serving.addr,
        metrics_addr: serving
            .metrics_addr
            .ok_or_else(|| anyhow::anyhow!("the api served no metrics"))?,
        stop,
    })
}

impl Api {
    pub fn http(&self, token: Option<&str>) -> Http {
        Http::new(self.addr, token)
    }

    /// The metrics port, which takes no token.
    pub fn metrics(&self) -> Http {
        Http::new(self.metrics_addr, None)
    }
}

/// A token of `scope` for `submitter`, made as `netraven token create` makes it.
pub async fn token(
    env: &TestEnv,
    name: &str,
    scope: Scope,
    submitter: &str,
) -> anyhow::Result<String> {
    let client = env.pool.get().await?;
    let new = NewToken {
        name: name.into(),
        scope,
        submitter: submitter.into(),
        expires_at: None,
    };
    let (_, token) = store::create(&client, &new).await?;
    Ok(token.reveal().to_string())
}
