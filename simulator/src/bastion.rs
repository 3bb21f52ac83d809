//! A device that plays a jump host (bastion): after login it accepts direct-tcpip
//! channels (what `ssh -J` and a worker's jump host connection ask for) to the devices it
//! may reach, connects them over TCP and carries the bytes both ways. A channel to any
//! other address is refused (administratively prohibited); a target that refuses the TCP
//! connection fails the channel open (connect failed), as OpenSSH's sshd answers.
//!
//! It records every channel: opened, refused, open now and the most open at once, so a
//! test can show that one SSH connection carried many devices under a cap.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelOpenFailure};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long the bastion waits for a target's TCP connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a device that plays a bastion may reach.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BastionSpec {
    /// The fleet's devices it may open channels to, by name.
    pub reach: Vec<String>,
    /// The `max_channels` the written inventory gives it (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_channels: Option<u32>,
    /// How long it takes to answer a channel open, once the target is connected (a slow
    /// or far jump host; 0 answers at once).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub open_delay_ms: u64,
}

fn is_zero(ms: &u64) -> bool {
    *ms == 0
}

/// What a bastion did, for tests and `GET /truth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BastionReport {
    /// Channels accepted (the TCP connect to the target succeeded).
    pub opened: u64,
    /// Channel opens refused: a target it may not reach, or one that refused the connect.
    pub refused: u64,
    /// Channels open now.
    pub open_now: u64,
    /// The most channels open at once so far.
    pub most_open: u64,
}

/// A running bastion: where it may connect, and its counters.
#[derive(Debug, Default)]
pub(crate) struct Bastion {
    pub(crate) spec: BastionSpec,
    /// The addresses of `spec.reach`, set once every device of the fleet is bound.
    allowed: OnceLock<HashSet<SocketAddr>>,
    opened: AtomicU64,
    refused: AtomicU64,
    open_now: AtomicU64,
    most_open: AtomicU64,
}

impl Bastion {
    pub(crate) fn new(spec: BastionSpec) -> Bastion {
        Bastion {
            spec,
            ..Bastion::default()
        }
    }

    /// Sets the addresses the bastion may reach (once, when the fleet has started).
    pub(crate) fn allow(&self, addresses: HashSet<SocketAddr>) {
        let _ = self.allowed.set(addresses);
    }

    pub(crate) fn report(&self) -> BastionReport {
        BastionReport {
            opened: self.opened.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            open_now: self.open_now.load(Ordering::Relaxed),
            most_open: self.most_open.load(Ordering::Relaxed),
        }
    }

    fn target(&self, host: &str, port: u32) -> Option<SocketAddr> {
        let ip: IpAddr = match host {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            other => other.trim_matches(['[', ']']).parse().ok()?,
        };
        let addr = SocketAddr::new(ip, u16::try_from(port).ok()?);
        self.allowed
            .get()
            .is_some_and(|a| a.contains(&addr))
            .then_some(addr)
    }

    /// A channel stops counting as open: when the client closes it (the handler's
    /// `channel_close`, in the order the client sent its messages, so a channel opened
    /// after a close is never counted with it), or when the target's side ends.
    pub(crate) fn closed(&self, forward: &Forward) {
        if forward.live.swap(false, Ordering::AcqRel) {
            self.open_now.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Answers one direct-tcpip channel open: refused at once for a target it may not
    /// reach; else connected in the background, then accepted and carried until either
    /// side closes (or the fleet stops). The handle it returns is for [`Bastion::closed`].
    pub(crate) async fn open(
        self: Arc<Self>,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        reply: ChannelOpenHandle,
        stop: CancellationToken,
        tracker: &TaskTracker,
    ) -> Option<Arc<Forward>> {
        let Some(addr) = self.target(host, port) else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(host, port, "bastion: target not allowed");
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return None;
        };
        let forward = Arc::new(Forward::default());
        let handle = Arc::clone(&forward);
        tracker.spawn(async move {
            let connected = tokio::select! {
                _ = stop.cancelled() => return,
                r = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)) => r,
            };
            let mut socket = match connected {
                Ok(Ok(s)) => s,
                _ => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    reply.reject(ChannelOpenFailure::ConnectFailed).await;
                    return;
                }
            };
            let _ = socket.set_nodelay(true);
            if self.spec.open_delay_ms > 0 {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(self.spec.open_delay_ms)) => {}
                }
            }
            self.opened.fetch_add(1, Ordering::Relaxed);
            let now = self.open_now.fetch_add(1, Ordering::Relaxed) + 1;
            self.most_open.fetch_max(now, Ordering::Relaxed);
            forward.live.store(true, Ordering::Release);
            reply.accept().await;
            let mut stream = channel.into_stream();
            tokio::select! {
                _ = stop.cancelled() => {}
                r = tokio::io::copy_bidirectional(&mut stream, &mut socket) => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "bastion: channel ended with an error");
                    }
                }
            }
            self.closed(&forward);
        });
        Some(handle)
    }
}

/// One forwarded channel: whether it still counts as open.
#[derive(Debug, Default)]
pub(crate) struct Forward {
    live: AtomicBool,
}
