//! Jump hosts: devices reached through one or more SSH bastions.
//!
//! A worker keeps one authenticated connection per jump host path (the chain of hops,
//! outermost first) in its [`JumpPool`], shared by every device behind it. A device's own
//! session runs over a direct-tcpip channel of that connection: the jump host makes the
//! TCP connection to the device, and the device's SSH handshake (its host key check
//! included) goes end to end through it. A chain's later hop is itself a session over a
//! channel of the hop before.
//!
//! - **The cap.** At most the last hop's `max_channels` device channels are open at once
//!   per path on one worker; a device beyond it waits for a slot within its own deadline.
//!   A later hop's connection holds one slot of the hop before it while it lives. A slot
//!   is freed only once the jump host has been sent its channel's close, a channel whose
//!   device gave up mid-open included ([`open_holding_slot`]).
//! - **Replacement.** A connection found closed (or that fails to open a channel for any
//!   reason but the jump host's own refusal) is dropped and a new one made, once per
//!   device.
//! - **Idle close.** A connection with no channel open for [`IDLE_CLOSE`] is closed.
//! - **One attempt for those waiting.** Devices that were waiting while a connection
//!   attempt failed get that attempt's failure instead of each trying again, so a dead
//!   bastion costs one timeout, not one per device behind it.
//! - **No device holds up the others.** Each channel's data is taken off the shared
//!   connection as it comes and held for its session, up to what that session's window
//!   ([`JUMP_WINDOW`]) lets through: a session that stops reading (waiting for a
//!   large-output turn) never stops the connection's other channels ([`JumpChannel`]).
//! - **Pinned keys.** A jump host's key is checked against its pin inside the handshake,
//!   before its credential is sent; there is no trust on first use for a bastion.
//!
//! Failures name the hop ([`JumpError`]): the jump host unreachable or timing out, its
//! host key not the pinned one, its credential rejected, or the device unreachable from it.

use crate::client_keys::Opener;
use crate::outcome::reason_of_ssh_error;
use crate::ssh::{AuthOutcome, HostKeyCheck, Session, SshError, SshOptions, SshTimeouts};
use futures::Stream;
use netraven_shared::domain::Outcome;
use netraven_shared::messages::{TaskCredential, TaskJumpHost};
use std::collections::HashMap;
use std::future::Future;
use std::io::Cursor;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::io::StreamReader;

/// A jump host connection with no channel open for this long is closed.
pub const IDLE_CLOSE: Duration = Duration::from_secs(60);
/// How often idle connections are looked for.
const REAP_EVERY: Duration = Duration::from_secs(10);

/// Why a device could not be reached through its jump hosts: its outcome, and a reason
/// that names the hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpError {
    pub outcome: Outcome,
    pub reason: String,
}

impl JumpError {
    fn new(outcome: Outcome, reason: String) -> JumpError {
        JumpError { outcome, reason }
    }
}

/// `bastion-1 (10.0.0.1:22)`: how a reason names a hop.
pub fn label(hop: &TaskJumpHost) -> String {
    format!("{} ({})", hop.name, address(&hop.host, hop.port))
}

fn address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// What identifies a path's connection: every hop as the task gave it, secrets aside. A
/// hop whose address, pin or credential changed is another connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HopKey {
    name: String,
    host: String,
    port: u16,
    host_key: String,
    credential_id: i64,
    username: String,
}

type PathKey = Vec<HopKey>;

fn path_key(path: &[TaskJumpHost]) -> PathKey {
    path.iter()
        .map(|h| HopKey {
            name: h.name.clone(),
            host: h.host.clone(),
            port: h.port,
            host_key: h.host_key.clone(),
            credential_id: h.credential.id,
            username: h.credential.username.clone(),
        })
        .collect()
}

/// One authenticated connection to a path's last hop. For a later hop, its transport is
/// a channel of the hop before, which holds that hop's slot while the session lives.
struct Link {
    session: Session,
}

/// The connection of one path, its channel slots and the last failed attempt.
struct Entry {
    label: String,
    slots: Arc<Semaphore>,
    max_channels: u32,
    state: tokio::sync::Mutex<State>,
    last_used: Mutex<Instant>,
}

#[derive(Default)]
struct State {
    link: Option<Arc<Link>>,
    /// When the last attempt to connect failed, and how.
    failed: Option<(Instant, JumpError)>,
}

impl Entry {
    fn in_use(&self) -> usize {
        (self.max_channels as usize).saturating_sub(self.slots.available_permits())
    }

    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }
}

/// A channel's hold on its path: its slot and the connection that carries it.
struct Lease {
    entry: Arc<Entry>,
    _link: Arc<Link>,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.entry.touch();
    }
}

/// The SSH window a session over a jump host's channel advertises for its own channels
/// (russh's default: 2 MiB). russh tops a window up as data arrives, not as it is read, so
/// the window of the session over the channel is what bounds how much may come through
/// the channel while that session is not reading (a device waiting for a large-output
/// turn): the channel's reader holds it.
pub const JUMP_WINDOW: u32 = 256 * 1024;

/// What a device channel's reader may hold before the channel is closed: its session's
/// window twice over, which a device keeping to SSH's flow control never reaches.
pub(crate) const DEVICE_BUFFER: usize = 2 * JUMP_WINDOW as usize;

/// What a channel carrying a later hop's connection may hold: that hop's channels' windows
/// (its cap, and one for the hop's own traffic), twice over.
fn carrier_buffer(max_channels: u32) -> usize {
    (max_channels as usize + 1) * DEVICE_BUFFER
}

/// What a jump host's channel reads: the data it carries, until its end.
type Chunks = Pin<Box<dyn Stream<Item = std::io::Result<Cursor<Vec<u8>>>> + Send>>;

/// A direct-tcpip channel to a device through its jump hosts, holding its slot. Dropped
/// (by the device session's connection task, when the session ends), it sends the
/// channel's close and only then gives the slot back: the close is queued on the jump
/// host connection before any channel opened in that slot, so the jump host never has
/// more than the cap open, not even for a moment.
///
/// What the channel carries is taken off it at once by a task of its own and held for
/// the reader, up to a limit. russh hands each channel's data to its reader through a
/// queue of two messages and waits when it is full, inside the loop that reads the jump
/// host's connection: a device session that stops reading (waiting for a large-output
/// turn, or a device sending while the worker writes) would stop every channel of that
/// connection, the turn's holder behind the same jump host included. A device that sends
/// past its window (it cannot while it keeps to SSH's flow control) has its channel
/// closed instead, with the reason.
pub struct JumpChannel {
    reader: StreamReader<Chunks, Cursor<Vec<u8>>>,
    writer: Pin<Box<dyn AsyncWrite + Send>>,
    closer: Option<russh::ChannelWriteHalf<russh::client::Msg>>,
    lease: Option<Lease>,
}

impl JumpChannel {
    fn new(channel: russh::Channel<russh::client::Msg>, lease: Lease, limit: usize) -> JumpChannel {
        let (mut read, write) = channel.split();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<std::io::Result<Vec<u8>>>();
        let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let pumped = Arc::clone(&held);
        tokio::spawn(async move {
            use std::sync::atomic::Ordering;
            loop {
                match read.wait().await {
                    Some(russh::ChannelMsg::Data { data }) => {
                        let now = pumped.fetch_add(data.len(), Ordering::Relaxed) + data.len();
                        if now > limit {
                            let _ = tx.send(Err(std::io::Error::other(format!(
                                "the jump host's channel brought {now} bytes the session \
                                 had not read, over the {limit} its window allows; the \
                                 channel was closed"
                            ))));
                            return;
                        }
                        // The reader gone: the channel is closing.
                        if tx.send(Ok(data.to_vec())).is_err() {
                            return;
                        }
                    }
                    Some(russh::ChannelMsg::Eof | russh::ChannelMsg::Close) | None => return,
                    Some(_) => {}
                }
            }
        });
        let chunks = futures::stream::unfold((rx, held), |(mut rx, held)| async move {
            let chunk = rx.recv().await?;
            if let Ok(data) = &chunk {
                held.fetch_sub(data.len(), std::sync::atomic::Ordering::Relaxed);
            }
            Some((chunk.map(Cursor::new), (rx, held)))
        });
        JumpChannel {
            reader: StreamReader::new(Box::pin(chunks) as Chunks),
            writer: Box::pin(write.make_writer()),
            closer: Some(write),
            lease: Some(lease),
        }
    }
}

impl Drop for JumpChannel {
    fn drop(&mut self) {
        let closer = self.closer.take();
        let lease = self.lease.take();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Some(c) = closer {
                        let _ = c.close().await;
                    }
                    drop(lease);
                });
            }
            // No runtime (process exit): nothing left to tell the jump host.
            Err(_) => drop((closer, lease)),
        }
    }
}

impl AsyncRead for JumpChannel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for JumpChannel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.writer.as_mut().poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_shutdown(cx)
    }
}

struct Inner {
    entries: Mutex<HashMap<PathKey, Arc<Entry>>>,
    idle: Duration,
    reap_every: Duration,
}

/// One worker's shared connections to jump hosts.
pub struct JumpPool {
    inner: Arc<Inner>,
    reaper: std::sync::OnceLock<()>,
}

impl Default for JumpPool {
    fn default() -> Self {
        JumpPool::with_idle(IDLE_CLOSE, REAP_EVERY)
    }
}

impl JumpPool {
    /// A pool that closes connections idle for [`IDLE_CLOSE`].
    pub fn new() -> JumpPool {
        JumpPool::default()
    }

    /// A pool that closes connections with no channel open for `idle`, looking every
    /// `reap_every`.
    pub fn with_idle(idle: Duration, reap_every: Duration) -> JumpPool {
        JumpPool {
            inner: Arc::new(Inner {
                entries: Mutex::new(HashMap::new()),
                idle,
                reap_every,
            }),
            reaper: std::sync::OnceLock::new(),
        }
    }

    /// Whether the path has a live connection on this worker (for tests and logs).
    pub fn connected(&self, path: &[TaskJumpHost]) -> bool {
        let entry = self
            .inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&path_key(path))
            .cloned();
        entry.is_some_and(|e| {
            e.state
                .try_lock()
                .is_ok_and(|s| s.link.as_ref().is_some_and(|l| l.session.is_open()))
        })
    }

    /// Channels open now over the path's connection on this worker (for tests and logs).
    pub fn in_use(&self, path: &[TaskJumpHost]) -> usize {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&path_key(path))
            .map_or(0, |e| e.in_use())
    }

    /// Opens a channel through `path` (outermost first, not empty) to `host:port`.
    /// Waits for a slot under the last hop's cap; connects and logs in to the hops that
    /// have no live connection. `timeouts` bound each phase of the hops' connections and
    /// the channel open; the caller bounds the whole by the device's deadline.
    pub async fn open(
        &self,
        keys: Opener<'_>,
        path: &[TaskJumpHost],
        host: &str,
        port: u16,
        timeouts: &SshTimeouts,
    ) -> Result<JumpChannel, JumpError> {
        self.reaper.get_or_init(|| {
            tokio::spawn(reap(Arc::downgrade(&self.inner), self.inner.reap_every));
        });
        self.open_inner(keys, path, host, port, timeouts, DEVICE_BUFFER)
            .await
    }

    /// [`JumpPool::open`], for a channel whose reader may hold up to `limit` bytes.
    async fn open_inner(
        &self,
        keys: Opener<'_>,
        path: &[TaskJumpHost],
        host: &str,
        port: u16,
        timeouts: &SshTimeouts,
        limit: usize,
    ) -> Result<JumpChannel, JumpError> {
        let Some(last) = path.last() else {
            return Err(JumpError::new(
                Outcome::InternalError,
                "a jump host path with no hop".into(),
            ));
        };
        let entry = self.entry(path, last);
        let mut slot = Arc::clone(&entry.slots)
            .acquire_owned()
            .await
            .map_err(|_| JumpError::new(Outcome::InternalError, "jump host pool closed".into()))?;
        // A connection found dead is replaced once; a second failure is the device's.
        for retry in [false, true] {
            let link = self.link(keys, path, &entry, timeouts).await?;
            let opened = match open_holding_slot(
                Arc::clone(&link),
                slot,
                host,
                port,
                timeouts.connect,
            )
            .await
            {
                Opened::Settled(opened, held) => {
                    slot = held;
                    opened
                }
                Opened::TimedOut => {
                    return Err(JumpError::new(
                        Outcome::Timeout,
                        format!(
                            "jump host {} opened no channel to {} within {} ms (connect timeout)",
                            entry.label,
                            address(host, port),
                            timeouts.connect.as_millis()
                        ),
                    ));
                }
            };
            match opened {
                Ok(channel) => {
                    entry.touch();
                    let lease = Lease {
                        entry: Arc::clone(&entry),
                        _link: link,
                        _slot: slot,
                    };
                    return Ok(JumpChannel::new(channel, lease, limit));
                }
                Err(russh::Error::ChannelOpenFailure(why)) => {
                    return Err(refused(&entry.label, host, port, &why));
                }
                Err(e) => {
                    tracing::info!(jump_host = %entry.label, error = %e, "jump host connection lost; replacing it");
                    let mut state = entry.state.lock().await;
                    if state.link.as_ref().is_some_and(|l| Arc::ptr_eq(l, &link)) {
                        state.link = None;
                    }
                    if retry {
                        return Err(JumpError::new(
                            Outcome::Unreachable,
                            format!("jump host {}: connection lost: {e}", entry.label),
                        ));
                    }
                }
            }
        }
        Err(JumpError::new(
            Outcome::InternalError,
            "jump host connection could not be replaced".into(),
        ))
    }

    fn entry(&self, path: &[TaskJumpHost], last: &TaskJumpHost) -> Arc<Entry> {
        let mut entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(entries.entry(path_key(path)).or_insert_with(|| {
            let max = last.max_channels.clamp(1, 1000);
            Arc::new(Entry {
                label: label(last),
                slots: Arc::new(Semaphore::new(max as usize)),
                max_channels: max,
                state: tokio::sync::Mutex::new(State::default()),
                last_used: Mutex::new(Instant::now()),
            })
        }))
    }

    /// The live connection of `path`, made if there is none or the one there is closed.
    /// Devices that waited while an attempt failed share its failure.
    async fn link(
        &self,
        keys: Opener<'_>,
        path: &[TaskJumpHost],
        entry: &Arc<Entry>,
        timeouts: &SshTimeouts,
    ) -> Result<Arc<Link>, JumpError> {
        let asked = Instant::now();
        let mut state = entry.state.lock().await;
        if let Some(link) = &state.link {
            if link.session.is_open() {
                return Ok(Arc::clone(link));
            }
            state.link = None;
        }
        if let Some((at, e)) = &state.failed {
            if *at >= asked {
                return Err(e.clone());
            }
        }
        match self.connect(keys, path, timeouts).await {
            Ok(link) => {
                let link = Arc::new(link);
                state.link = Some(Arc::clone(&link));
                state.failed = None;
                tracing::info!(jump_host = %entry.label, "jump host connected");
                Ok(link)
            }
            Err(e) => {
                state.failed = Some((Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// Connects to and logs in to `path`'s last hop: over TCP for the first hop, over a
    /// channel of the path before it for a later one (the one recursion: boxed).
    fn connect<'a>(
        &'a self,
        keys: Opener<'a>,
        path: &'a [TaskJumpHost],
        timeouts: &'a SshTimeouts,
    ) -> Pin<Box<dyn Future<Output = Result<Link, JumpError>> + Send + 'a>> {
        Box::pin(self.connect_inner(keys, path, timeouts))
    }

    async fn connect_inner(
        &self,
        keys: Opener<'_>,
        path: &[TaskJumpHost],
        timeouts: &SshTimeouts,
    ) -> Result<Link, JumpError> {
        let Some((hop, before)) = path.split_last() else {
            return Err(JumpError::new(
                Outcome::InternalError,
                "a jump host path with no hop".into(),
            ));
        };
        let name = label(hop);
        let check = HostKeyCheck::Strict {
            pinned: Some(hop.host_key.clone()),
        };
        let session = if before.is_empty() {
            Session::connect_with(&hop.host, hop.port, timeouts, check, &SshOptions::default())
                .await
        } else {
            let limit = carrier_buffer(hop.max_channels);
            let channel = self
                .open_inner(keys, before, &hop.host, hop.port, timeouts, limit)
                .await
                .map_err(|e| {
                    JumpError::new(
                        e.outcome,
                        format!("to reach jump host {name}: {}", e.reason),
                    )
                })?;
            let options = SshOptions {
                window: Some(JUMP_WINDOW),
                ..SshOptions::default()
            };
            Session::over_stream(channel, timeouts, check, &options).await
        };
        let mut session = session.map_err(|e| {
            JumpError::new(
                crate::outcome::of_ssh_error(&e),
                hop_reason(&name, &e, timeouts),
            )
        })?;
        login(&mut session, keys, &hop.credential, &name, timeouts).await?;
        Ok(Link { session })
    }
}

/// What a channel open came to.
enum Opened {
    /// Answered within the connect timeout: the answer, and the slot back.
    Settled(
        Result<russh::Channel<russh::client::Msg>, russh::Error>,
        OwnedSemaphorePermit,
    ),
    /// Not answered in time (or the runtime is stopping); the slot stays with the open.
    TimedOut,
}

/// How long a timed-out channel open keeps its slot while it may still be answered.
const OPEN_SETTLE: Duration = Duration::from_secs(10);

/// Opens a direct-tcpip channel over `link` in a task of its own that owns `slot` until
/// the open settles. Once `CHANNEL_OPEN` is sent the jump host may accept it whatever
/// becomes of the device, so the slot is not given back while the answer is out:
///
/// - answered in time: the channel and the slot go to the caller; if the caller is gone
///   (its device's deadline dropped it), the channel is closed first, then the slot freed;
/// - not answered within `connect`: the caller hears so at once, but the slot stays taken
///   until the answer comes (an accepted channel is closed first) or [`OPEN_SETTLE`]
///   passes.
///
/// Without this, a device dropped mid-open freed its slot while the jump host went on to
/// accept its channel: one more open than the cap, and never closed.
async fn open_holding_slot(
    link: Arc<Link>,
    slot: OwnedSemaphorePermit,
    host: &str,
    port: u16,
    connect: Duration,
) -> Opened {
    let (tx, rx) = tokio::sync::oneshot::channel::<Opened>();
    let host = host.to_string();
    tokio::spawn(async move {
        let open = link.session.open_direct_tcpip(&host, port);
        tokio::pin!(open);
        match tokio::time::timeout(connect, &mut open).await {
            Ok(result) => {
                if let Err(Opened::Settled(Ok(channel), _slot)) =
                    tx.send(Opened::Settled(result, slot))
                {
                    let _ = channel.close().await;
                }
            }
            Err(_) => {
                let _ = tx.send(Opened::TimedOut);
                if let Ok(Ok(channel)) = tokio::time::timeout(OPEN_SETTLE, open).await {
                    let _ = channel.close().await;
                }
                drop(slot);
            }
        }
    });
    // The task always sends unless the runtime is shutting down.
    rx.await.unwrap_or(Opened::TimedOut)
}

/// Logs in to a jump host with its credential. The one way a worker authenticates to a
/// jump host: a rejection is `AUTH_FAILED` naming the jump host and its credential, and
/// is recorded against neither the device's credentials nor the jump host's.
pub async fn login(
    session: &mut Session,
    keys: Opener<'_>,
    credential: &TaskCredential,
    name: &str,
    timeouts: &SshTimeouts,
) -> Result<(), JumpError> {
    let opened = keys.open(credential).await.map_err(|e| {
        tracing::warn!(credential.id = credential.id, error = %e, "jump host credential could not be opened");
        JumpError::new(
            Outcome::InternalError,
            format!(
                "jump host {name}: its credential {} could not be opened with this worker's key ring",
                credential.name
            ),
        )
    })?;
    match session.authenticate_credential(&opened).await {
        Ok(AuthOutcome::Accepted) => Ok(()),
        Ok(AuthOutcome::Rejected) => Err(JumpError::new(
            Outcome::AuthFailed,
            format!(
                "jump host {name} rejected its credential {} (user {}); the device's own \
                 credentials were not tried",
                credential.name, credential.username
            ),
        )),
        Err(e) => Err(JumpError::new(
            crate::outcome::of_ssh_error(&e),
            hop_reason(name, &e, timeouts),
        )),
    }
}

fn hop_reason(name: &str, e: &SshError, timeouts: &SshTimeouts) -> String {
    format!("jump host {name}: {}", reason_of_ssh_error(e, timeouts))
}

/// The jump host's refusal of a channel: the device is unreachable from it.
fn refused(jump: &str, host: &str, port: u16, why: &russh::ChannelOpenFailure) -> JumpError {
    let what = match why {
        russh::ChannelOpenFailure::ConnectFailed => "connect failed".to_string(),
        russh::ChannelOpenFailure::AdministrativelyProhibited => {
            "administratively prohibited (not a target it may forward to)".to_string()
        }
        russh::ChannelOpenFailure::ResourceShortage => "resource shortage".to_string(),
        russh::ChannelOpenFailure::UnknownChannelType => {
            "direct-tcpip channels not supported".to_string()
        }
        russh::ChannelOpenFailure::Other { code, reason } => format!("code {code}: {reason}"),
    };
    JumpError::new(
        Outcome::Unreachable,
        format!(
            "{} unreachable from jump host {jump}: {what}",
            address(host, port)
        ),
    )
}

/// Closes connections with no channel open for the pool's idle time, until the pool is
/// gone.
async fn reap(inner: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        let entries: Vec<Arc<Entry>> = inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for entry in entries {
            if entry.in_use() > 0 || entry.idle_for() < inner.idle {
                continue;
            }
            let Ok(mut state) = entry.state.try_lock() else {
                continue;
            };
            if let Some(link) = state.link.take() {
                tracing::info!(jump_host = %entry.label, "idle jump host connection closed");
                if let Ok(link) = Arc::try_unwrap(link) {
                    tokio::spawn(link.session.close());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netraven_shared::config::SecretSettings;
    use netraven_shared::sealing::KeyRing;
    use netraven_simulator::{
        BastionSpec, DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec, Platform,
    };
    use secrecy::SecretString;

    fn timeouts() -> SshTimeouts {
        SshTimeouts {
            connect: Duration::from_secs(3),
            handshake: Duration::from_millis(600),
            auth: Duration::from_secs(3),
            command_idle: Duration::from_secs(3),
        }
    }

    struct Site {
        fleet: Fleet,
        keys: crate::keys::Keys,
        client_keys: crate::client_keys::ClientKeys,
        ring: KeyRing,
    }

    impl Site {
        async fn start(devices: Vec<DeviceSpec>) -> Site {
            let line = KeyRing::generate_line().expect("a key");
            let settings = SecretSettings {
                key_file: None,
                key: Some(SecretString::from(line.clone())),
            };
            let fleet = Fleet::start(
                FleetSpec {
                    drift: 0.0,
                    seed: 5,
                    credentials: Vec::new(),
                    devices,
                },
                FleetOptions::random_base(),
            )
            .await
            .expect("fleet starts");
            Site {
                fleet,
                keys: crate::keys::Keys::load(&settings).expect("keys"),
                client_keys: crate::client_keys::ClientKeys::default(),
                ring: KeyRing::parse(&line).expect("ring"),
            }
        }

        fn opener(&self) -> Opener<'_> {
            Opener {
                keys: &self.keys,
                client_keys: &self.client_keys,
            }
        }

        fn hop(&self, device: &str, max_channels: u32) -> TaskJumpHost {
            let d = self
                .fleet
                .devices()
                .into_iter()
                .find(|d| d.name == device)
                .expect("device");
            TaskJumpHost {
                name: device.to_string(),
                host: d.host.to_string(),
                port: d.port,
                host_key: d.host_key.clone(),
                max_channels,
                credential: TaskCredential {
                    id: 1,
                    name: "jump".into(),
                    username: "jump".into(),
                    sealed_secret: Some(
                        self.ring
                            .seal(&SecretString::from("jump-secret".to_string()))
                            .expect("sealed"),
                    ),
                    sealed_key: None,
                    sealed_key_passphrase: None,
                    sealed_enable: None,
                    max_concurrent_logins: None,
                    max_logins_per_second: None,
                },
            }
        }

        fn port(&self, device: &str) -> u16 {
            self.fleet
                .devices()
                .into_iter()
                .find(|d| d.name == device)
                .map(|d| d.port)
                .expect("device")
        }
    }

    fn bastion(name: &str, reach: &[&str]) -> DeviceSpec {
        let mut d = DeviceSpec::new(name, Platform::Linux);
        d.accepts = vec![("jump".into(), "jump-secret".into())];
        d.bastion = Some(BastionSpec {
            reach: reach.iter().map(|s| s.to_string()).collect(),
            max_channels: None,
            open_delay_ms: 0,
        });
        d
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn channels_share_one_connection_under_the_cap() {
        let targets: Vec<String> = (1..=6).map(|i| format!("d{i}")).collect();
        let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
        let mut devices = vec![bastion("b", &refs)];
        devices.extend(refs.iter().map(|n| DeviceSpec::new(*n, Platform::Linux)));
        let site = Site::start(devices).await;
        let path = vec![site.hop("b", 2)];
        let pool = JumpPool::new();
        let opens = refs.iter().map(|n| {
            let (pool, site, path) = (&pool, &site, &path);
            async move {
                let c = pool
                    .open(site.opener(), path, "127.0.0.1", site.port(n), &timeouts())
                    .await
                    .expect("a channel");
                assert!(pool.in_use(path) <= 2);
                tokio::time::sleep(Duration::from_millis(100)).await;
                drop(c);
            }
        });
        futures::future::join_all(opens).await;
        let b = site.fleet.bastion("b").expect("bastion");
        assert_eq!(site.fleet.connections("b"), 1, "{b:?}");
        assert_eq!(b.opened, 6, "{b:?}");
        assert!(b.most_open <= 2, "{b:?}");
        // Slots come back once each channel's close is sent.
        let until = Instant::now() + Duration::from_secs(5);
        while pool.in_use(&path) > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(pool.in_use(&path), 0);
        site.fleet.shutdown().await;
    }

    /// A device dropped while its channel open is out (its deadline) does not free its
    /// slot until the jump host has answered and the channel is closed: the next device's
    /// open waits, and the jump host never has more than the cap open.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_abandoned_mid_way_keeps_its_slot_until_its_channel_is_closed() {
        let mut slow = bastion("b", &["d1"]);
        if let Some(b) = slow.bastion.as_mut() {
            b.open_delay_ms = 400;
        }
        let site = Site::start(vec![slow, DeviceSpec::new("d1", Platform::Linux)]).await;
        let path = vec![site.hop("b", 1)];
        let pool = JumpPool::new();
        let port = site.port("d1");
        // Connected and logged in first, so the deadline below falls on the open itself.
        drop(
            pool.open(site.opener(), &path, "127.0.0.1", port, &timeouts())
                .await
                .expect("a channel"),
        );
        let until = Instant::now() + Duration::from_secs(5);
        while pool.in_use(&path) > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let abandoned = tokio::time::timeout(
            Duration::from_millis(100),
            pool.open(site.opener(), &path, "127.0.0.1", port, &timeouts()),
        )
        .await;
        assert!(abandoned.is_err(), "the open outlives 100 ms");
        assert_eq!(pool.in_use(&path), 1, "the slot stays with the open");
        let next = pool
            .open(site.opener(), &path, "127.0.0.1", port, &timeouts())
            .await
            .expect("a channel once the abandoned one is closed");
        let b = site.fleet.bastion("b").expect("bastion");
        assert_eq!(b.opened, 3, "{b:?}");
        assert_eq!(b.most_open, 1, "{b:?}");
        assert_eq!(b.open_now, 1, "the abandoned channel was closed: {b:?}");
        drop(next);
        site.fleet.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_connection_is_closed_and_the_next_device_makes_another() {
        let site = Site::start(vec![
            bastion("b", &["d1"]),
            DeviceSpec::new("d1", Platform::Linux),
        ])
        .await;
        let path = vec![site.hop("b", 4)];
        let pool = JumpPool::with_idle(Duration::from_millis(200), Duration::from_millis(50));
        let port = site.port("d1");
        let c = pool
            .open(site.opener(), &path, "127.0.0.1", port, &timeouts())
            .await
            .expect("a channel");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(pool.connected(&path), "in use: not closed");
        drop(c);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!pool.connected(&path), "idle: closed");
        pool.open(site.opener(), &path, "127.0.0.1", port, &timeouts())
            .await
            .expect("a channel again");
        assert_eq!(site.fleet.connections("b"), 2);
        site.fleet.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn devices_waiting_on_a_failed_attempt_share_its_failure() {
        let mut silent = bastion("b", &[]);
        silent.fault = Some(Fault::Silent);
        let site = Site::start(vec![silent]).await;
        let path = vec![site.hop("b", 4)];
        let pool = JumpPool::new();
        let opens = (0..3).map(|_| {
            let (pool, site, path) = (&pool, &site, &path);
            async move {
                pool.open(site.opener(), path, "127.0.0.1", 22, &timeouts())
                    .await
                    .err()
                    .expect("fails")
            }
        });
        let errors = futures::future::join_all(opens).await;
        for e in &errors {
            assert_eq!(e.outcome, Outcome::Timeout, "{e:?}");
            assert!(e.reason.starts_with("jump host b (127.0.0.1:"), "{e:?}");
            assert!(e.reason.contains("timed out during handshake"), "{e:?}");
        }
        assert_eq!(site.fleet.connections("b"), 1, "one attempt for all three");
        site.fleet.shutdown().await;
    }
}
