//! A TCP proxy the test controls, for health checks: it forwards, holds every byte
//! (a blackholed server: connections stay open, nothing answers), or refuses (every
//! connection closed at once, new ones closed on arrival). A blackhole that is lifted
//! resumes each held stream where it stopped, as a healed network partition does.
//!
//! Everything stops when the proxy is dropped, however the test ends.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    /// Connections are held open and nothing passes either way.
    Blackhole,
    /// Connections are closed, and new ones closed as they arrive.
    Refuse,
}

/// A proxy in front of `upstream`, on a port of its own on 127.0.0.1.
pub struct HealthProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepting: tokio::task::JoinHandle<()>,
}

impl HealthProxy {
    pub async fn start(upstream: &str) -> Result<HealthProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, rx) = watch::channel(Mode::Forward);
        let upstream = upstream.to_string();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *rx.borrow() == Mode::Refuse {
                    continue; // dropped: closed on arrival
                }
                tokio::spawn(pipe(client, upstream.clone(), rx.clone()));
            }
        });
        Ok(HealthProxy {
            addr,
            mode,
            accepting,
        })
    }

    /// A Postgres URL like `url`, its host and port replaced by the proxy's.
    pub fn url_through(&self, url: &str) -> Result<String> {
        let (scheme, rest) = url.split_once("://").context("a URL without scheme")?;
        let (user, rest) = match rest.split_once('@') {
            Some((user, rest)) => (format!("{user}@"), rest),
            None => (String::new(), rest),
        };
        let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
        Ok(format!("{scheme}://{user}{}{path}", self.addr))
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for HealthProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        // Every pipe watches the mode: refusing ends them all.
        self.mode.send_replace(Mode::Refuse);
    }
}

/// Forwards one connection both ways while the mode lets it.
async fn pipe(client: TcpStream, upstream: String, mut mode: watch::Receiver<Mode>) {
    // A connection that arrives during a blackhole waits, unanswered, for it to lift.
    if !forwarding(&mut mode).await {
        return;
    }
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        if !forwarding(&mut mode).await {
            return;
        }
        tokio::select! {
            n = cr.read(&mut up) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if sw.write_all(&up[..n]).await.is_err() { return },
            },
            n = sr.read(&mut down) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if cw.write_all(&down[..n]).await.is_err() { return },
            },
            // The mode changed: check it again before moving another byte.
            changed = mode.changed() => if changed.is_err() { return },
        }
    }
}

/// Waits while blackholed; `false` when refusing (the connection must close).
async fn forwarding(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Forward => return true,
            Mode::Refuse => return false,
            Mode::Blackhole => {
                if mode.changed().await.is_err() {
                    return false;
                }
            }
        }
    }
}
