//! [`Proxy`]: a TCP proxy a test controls, in front of a database (or any server).
//!
//! It forwards, or it blackholes: stops forwarding in both directions while keeping every
//! connection open, as a firewall that drops packets or a frozen host does. Bytes a
//! client sends meanwhile are held (as its kernel would keep retransmitting them) and
//! forwarded when the proxy forwards again, unless the client gave the connection up
//! first; the server's bytes wait in the kernel. It can also drop every connection at
//! once, or refuse: drop them all and close new ones on arrival, as a server that is down
//! does. Each connection is recorded with the `application_name` of its (plain-text)
//! startup message and whether its client closed it during a blackhole.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the proxy does with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Blackhole,
}

/// One connection through the proxy.
#[derive(Debug, Clone)]
pub struct Connection {
    /// From the startup message; empty when it was not seen in plain text.
    pub application: String,
    pub opened: Instant,
    /// When the client closed it while the proxy was blackholing: it noticed.
    pub given_up_in_blackhole: Option<Instant>,
}

/// Most bytes held per connection during a blackhole; past it the client is not read.
const HOLD: usize = 1 << 20;

/// A proxy on 127.0.0.1, stopped (every connection closed) when dropped.
pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Cancelled to drop every connection; replaced by a fresh one for those after.
    drop_all: Arc<Mutex<CancellationToken>>,
    stopped: CancellationToken,
    connections: Arc<Mutex<Vec<Connection>>>,
    /// New connections are closed on arrival.
    refusing: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (mode, _) = watch::channel(Mode::Forward);
        let proxy = Proxy {
            port,
            mode,
            drop_all: Arc::new(Mutex::new(CancellationToken::new())),
            stopped: CancellationToken::new(),
            connections: Arc::new(Mutex::new(Vec::new())),
            refusing: Arc::new(AtomicBool::new(false)),
        };
        let upstream = upstream.to_string();
        let (modes, drop_all, stopped, connections, refusing) = (
            proxy.mode.clone(),
            proxy.drop_all.clone(),
            proxy.stopped.clone(),
            proxy.connections.clone(),
            proxy.refusing.clone(),
        );
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stopped.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((client, _)) = accepted else { continue };
                if refusing.load(Ordering::Acquire) {
                    continue; // dropped: closed on arrival
                }
                let dropped = drop_all.lock().map(|t| t.clone()).unwrap_or_default();
                let (upstream, mode, stopped) =
                    (upstream.clone(), modes.subscribe(), stopped.clone());
                let connections = connections.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let index = {
                        let mut all = connections.lock().expect("proxy records");
                        all.push(Connection {
                            application: String::new(),
                            opened: Instant::now(),
                            given_up_in_blackhole: None,
                        });
                        all.len() - 1
                    };
                    let end = tokio::select! {
                        _ = stopped.cancelled() => End::Dropped,
                        _ = dropped.cancelled() => End::Dropped,
                        end = pipe(client, server, mode, &connections, index) => end,
                    };
                    if end == End::GivenUp {
                        if let Ok(mut all) = connections.lock() {
                            all[index].given_up_in_blackhole = Some(Instant::now());
                        }
                    }
                });
            }
        });
        Ok(proxy)
    }

    /// The proxy's address on 127.0.0.1.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A `postgres://` URL like `url`, its host and port replaced by the proxy's.
    pub fn url_through(&self, url: &str) -> Result<String> {
        let (scheme, rest) = url.split_once("://").context("a URL without scheme")?;
        let (user, rest) = match rest.split_once('@') {
            Some((user, rest)) => (format!("{user}@"), rest),
            None => (String::new(), rest),
        };
        let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
        Ok(format!("{scheme}://{user}{}{path}", self.addr()))
    }

    /// Stops forwarding, every connection kept open.
    pub fn blackhole(&self) {
        self.refusing.store(false, Ordering::Release);
        self.mode.send_replace(Mode::Blackhole);
    }

    /// Forwards again, the held bytes first; new connections are accepted again.
    pub fn forward(&self) {
        self.refusing.store(false, Ordering::Release);
        self.mode.send_replace(Mode::Forward);
    }

    /// Closes every connection and every new one on arrival, until [`Proxy::forward`].
    pub fn refuse(&self) {
        self.refusing.store(true, Ordering::Release);
        self.mode.send_replace(Mode::Forward);
        self.drop_all();
    }

    /// Closes every connection open now; new ones are forwarded.
    pub fn drop_all(&self) {
        if let Ok(mut token) = self.drop_all.lock() {
            token.cancel();
            *token = CancellationToken::new();
        }
    }

    /// Every connection so far.
    pub fn connections(&self) -> Vec<Connection> {
        self.connections
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stopped.cancel();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Either side closed while forwarding, or the proxy dropped it.
    Closed,
    Dropped,
    /// The client closed it during a blackhole.
    GivenUp,
}

/// Copies both ways while forwarding; during a blackhole holds what the client sends and
/// reads nothing from the server.
async fn pipe(
    client: TcpStream,
    server: TcpStream,
    mut mode: watch::Receiver<Mode>,
    connections: &Mutex<Vec<Connection>>,
    index: usize,
) -> End {
    let (mut client_in, mut client_out) = client.into_split();
    let (mut server_in, mut server_out) = server.into_split();
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let mut held: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let forwarding = *mode.borrow_and_update() == Mode::Forward;
        if forwarding && !held.is_empty() {
            if server_out.write_all(&held).await.is_err() {
                return End::Closed;
            }
            held.clear();
        }
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return End::Closed },
            r = client_in.read(&mut up), if held.len() < HOLD => match r {
                Ok(0) | Err(_) => return if forwarding { End::Closed } else { End::GivenUp },
                Ok(n) => {
                    if first {
                        first = false;
                        if let Some(app) = application_name(&up[..n]) {
                            if let Ok(mut all) = connections.lock() {
                                all[index].application = app;
                            }
                        }
                    }
                    if forwarding {
                        if server_out.write_all(&up[..n]).await.is_err() {
                            return End::Closed;
                        }
                    } else {
                        held.extend_from_slice(&up[..n]);
                    }
                }
            },
            r = server_in.read(&mut down), if forwarding => match r {
                Ok(0) | Err(_) => return End::Closed,
                Ok(n) => if client_out.write_all(&down[..n]).await.is_err() {
                    return End::Closed;
                },
            },
        }
    }
}

/// `application_name` from a plain-text startup message: length, protocol 3.0, then
/// NUL-terminated names and values.
fn application_name(first: &[u8]) -> Option<String> {
    if first.len() < 8 || first[4..8] != [0, 3, 0, 0] {
        return None;
    }
    let mut fields = first[8..].split(|&b| b == 0);
    while let Some(name) = fields.next() {
        let value = fields.next()?;
        if name == b"application_name" {
            return Some(String::from_utf8_lossy(value).into_owned());
        }
    }
    None
}

/// A proxy in front of the shared Postgres; fails saying how to start it.
pub async fn postgres_proxy() -> Result<Proxy> {
    TcpStream::connect("127.0.0.1:5432")
        .await
        .context("Postgres on 127.0.0.1:5432 is not running: start it with `cargo run -p netraven-cli -- services ensure`")?;
    Proxy::start("127.0.0.1:5432").await
}
