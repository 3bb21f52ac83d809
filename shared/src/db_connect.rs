//! The pool's connections, opened here rather than by tokio-postgres so that every socket
//! is watched.
//!
//! A database that stops answering without closing its connections (a firewall that
//! drops packets, a frozen host, a proxy that stops forwarding) leaves a client waiting
//! for an answer that never comes; tokio-postgres has no timeout of its own once
//! connected. Three things bound that wait here:
//!
//! - [`Watched`] wraps each socket (and, with TLS, the decrypted stream above it) and
//!   counts the protocol's requests (`Query`, `Sync`, the startup message) against their
//!   ends (`ReadyForQuery`). While a request is unanswered and the server has sent nothing
//!   for `response_timeout`, reading fails with `TimedOut`: the connection closes, every
//!   caller on it gets a transient "connection closed", and the pool never hands it out
//!   again. An idle connection has nothing unanswered and is never timed out, and a
//!   caller slow to take rows stops the connection reading, so it is not timed out either.
//! - TCP keepalives find a peer gone while the connection is idle in the pool, and
//!   `TCP_USER_TIMEOUT` one gone while data sent to it is unacknowledged.
//! - Several hosts are tried in order (`postgres://h1:p1,h2:p2/db`), and with
//!   `target_session_attrs=read-write`, or in a role's pool, a host whose sessions are
//!   read-only (a standby, or `default_transaction_read_only`) is passed over: after a
//!   failover the roles follow the new primary.
//!
//! tokio-postgres' own `Config::connect` does the last one but gives no access to the
//! socket, so the host loop is ours; the protocol itself (startup, TLS, authentication)
//! is still tokio-postgres', through `Config::connect_raw`.

use crate::db::describe;
use crate::db_frames::Watched;
use crate::retry::Backoff;
use crate::Transient;
use deadpool_postgres::Connect;
use futures::future::BoxFuture;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, TargetSessionAttrs};
use tokio_postgres::tls::{MakeTlsConnect, NoTls, TlsConnect};
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the pool's sockets find a database that no longer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// Longest silence from the server while a request waits for its answer.
    pub response_timeout: Duration,
    /// Idle time before the first keepalive probe, the time between probes, and the
    /// unanswered probes after which the kernel closes the connection.
    pub keepalive_idle: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_retries: u32,
}

/// deadpool's way of opening a connection: ours, with watched sockets.
pub(crate) struct WatchedConnect {
    pub(crate) tls: Option<MakeRustlsConnect>,
    pub(crate) liveness: Liveness,
    /// Pass over hosts whose sessions cannot write, whatever `target_session_attrs` says.
    pub(crate) writable_only: bool,
}

impl Connect for WatchedConnect {
    /// Tries every host in order, and tries them all again (with a short backoff) while
    /// the failure is transient and `connect_timeout` allows: a promotion or a restart
    /// takes a second or two, and a caller that waits that long inside the pool does not
    /// spend one of its own retries (for the dispatcher, one of the request's deliveries)
    /// on it.
    fn connect(
        &self,
        config: &Config,
    ) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), tokio_postgres::Error>> {
        let config = config.clone();
        Box::pin(async move {
            let budget = config
                .get_connect_timeout()
                .copied()
                .unwrap_or(Duration::from_secs(10));
            let until = tokio::time::Instant::now() + budget;
            let mut delays = Backoff::CONNECT.delays();
            loop {
                let e = match self.connect_any(&config).await {
                    Ok(connected) => return Ok(connected),
                    Err(e) => e,
                };
                let delay = delays.next_delay();
                if !e.is_transient() || tokio::time::Instant::now() + delay >= until {
                    return Err(e);
                }
                tokio::time::sleep(delay).await;
            }
        })
    }
}

impl WatchedConnect {
    /// One pass over the hosts: the first that takes the connection (and, when a writable
    /// session is wanted, can write), or the last host's error.
    async fn connect_any(
        &self,
        config: &Config,
    ) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
        let ports = config.get_ports();
        let mut last = None;
        for (i, host) in config.get_hosts().iter().enumerate() {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match self.connect_host(config, host, port).await {
                Ok(connected) => return Ok(connected),
                Err(e) => {
                    tracing::debug!(host = ?host, port, error = %describe(&e),
                        "database host not usable; trying the next");
                    last = Some(e);
                }
            }
        }
        match last {
            Some(e) => Err(e),
            None => Err(io_error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "database.url names no host",
            ))
            .await),
        }
    }

    async fn connect_host(
        &self,
        config: &Config,
        host: &Host,
        port: u16,
    ) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
        let wait = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out");
        match host {
            Host::Tcp(name) => {
                let socket =
                    tokio::time::timeout(wait, tokio::net::TcpStream::connect((&**name, port)))
                        .await
                        .unwrap_or_else(|_| Err(timed_out()));
                let socket = match socket {
                    Ok(s) => s,
                    Err(e) => return Err(io_error(e).await),
                };
                if let Err(e) = self.tune(&socket) {
                    return Err(io_error(e).await);
                }
                self.start(config, Watched::new(socket, self.liveness), name)
                    .await
            }
            #[cfg(unix)]
            Host::Unix(dir) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                let socket = tokio::time::timeout(wait, tokio::net::UnixStream::connect(path))
                    .await
                    .unwrap_or_else(|_| Err(timed_out()));
                match socket {
                    Ok(s) => self.start(config, Watched::new(s, self.liveness), "").await,
                    Err(e) => Err(io_error(e).await),
                }
            }
        }
    }

    /// Keepalives, `TCP_USER_TIMEOUT` and no Nagle delay (as tokio-postgres sets it).
    fn tune(&self, socket: &tokio::net::TcpStream) -> io::Result<()> {
        let l = &self.liveness;
        socket.set_nodelay(true)?;
        let sock = socket2::SockRef::from(socket);
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(l.keepalive_idle)
            .with_interval(l.keepalive_interval)
            .with_retries(l.keepalive_retries);
        sock.set_tcp_keepalive(&keepalive)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        sock.set_tcp_user_timeout(Some(l.response_timeout))?;
        Ok(())
    }

    /// Runs the protocol's startup over `socket`, spawns the connection, and passes over a
    /// read-only session when a writable one is wanted.
    async fn start<S>(
        &self,
        config: &Config,
        socket: Watched<S>,
        hostname: &str,
    ) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (client, task) = match &self.tls {
            Some(make) => {
                let mut make = make.clone();
                let tls = match MakeTlsConnect::<Watched<S>>::make_tls_connect(&mut make, hostname)
                {
                    Ok(tls) => tls,
                    Err(e) => {
                        let e = io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
                        return Err(io_error(e).await);
                    }
                };
                let tls = WatchedTls {
                    inner: tls,
                    liveness: self.liveness,
                };
                let (client, connection) = config.connect_raw(socket, tls).await?;
                (client, spawn(connection))
            }
            None => {
                let (client, connection) = config.connect_raw(socket, NoTls).await?;
                (client, spawn(connection))
            }
        };
        let writable = self.writable_only
            || config.get_target_session_attrs() == TargetSessionAttrs::ReadWrite;
        if writable && read_only(&client).await? {
            task.abort();
            return Err(io_error(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the server takes no writes (transaction_read_only is on): a standby, or a \
                 read-only database",
            ))
            .await);
        }
        Ok((client, task))
    }
}

/// Whether the session may not write, as libpq's `target_session_attrs` asks the server.
async fn read_only(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let messages = client.simple_query("SHOW transaction_read_only").await?;
    Ok(messages.iter().any(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("on"),
        _ => false,
    }))
}

fn spawn<F>(connection: F) -> JoinHandle<()>
where
    F: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %describe(&e), "database connection lost");
        }
    })
}

/// tokio-postgres' error for an I/O failure of ours (it has no public constructor): a
/// startup over a stream that fails with `e` at once. Transient by the fleet's rule when
/// `e` is (an I/O error always is).
async fn io_error(e: io::Error) -> tokio_postgres::Error {
    let mut config = Config::new();
    config.user("netraven");
    match config.connect_raw(Failed(Some(e)), NoTls).await {
        Err(e) => e,
        // A stream that fails every call cannot start a session.
        Ok(_) => tokio_postgres::Error::__private_api_timeout(),
    }
}

/// A stream whose first use fails with the error it holds.
struct Failed(Option<io::Error>);

impl Failed {
    fn error(&mut self) -> io::Error {
        self.0
            .take()
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected"))
    }
}

impl AsyncRead for Failed {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(self.get_mut().error()))
    }
}

impl AsyncWrite for Failed {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(self.get_mut().error()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(self.get_mut().error()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The TLS connector, whose stream is watched in its turn: below it the socket carries
/// only ciphertext, so the socket's own watch stands down once TLS begins.
struct WatchedTls<T> {
    inner: T,
    liveness: Liveness,
}

impl<S, T> TlsConnect<Watched<S>> for WatchedTls<T>
where
    T: TlsConnect<Watched<S>> + Send + 'static,
    T::Future: Send + 'static,
    T::Stream: Unpin,
    S: Unpin,
{
    type Stream = Watched<T::Stream>;
    type Error = T::Error;
    type Future = BoxFuture<'static, Result<Watched<T::Stream>, T::Error>>;

    fn connect(self, mut socket: Watched<S>) -> Self::Future {
        socket.stand_down();
        let liveness = self.liveness;
        let handshake = self.inner.connect(socket);
        Box::pin(async move { Ok(Watched::new(handshake.await?, liveness)) })
    }
}
