//! A small raw-russh client for the simulator tests (several passwords per connection,
//! exec, PTY shell), with a timeout around every step.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use netraven_simulator::RunningDevice;
use russh::client;
use russh::keys::PublicKey;
use russh::ChannelMsg;

pub const STEP: Duration = Duration::from_secs(10);

pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Remembers the host key the server presented.
pub struct KeyCatcher(Arc<Mutex<Option<String>>>);

impl client::Handler for KeyCatcher {
    type Error = russh::Error;
    async fn check_server_key(&mut self, key: &PublicKey) -> Result<bool, Self::Error> {
        *self.0.lock().unwrap() = Some(key.to_openssh().unwrap());
        Ok(true)
    }
}

impl KeyCatcher {
    pub fn new() -> Self {
        KeyCatcher(Arc::new(Mutex::new(None)))
    }
}

/// The base64 body of an OpenSSH key line (type and comment dropped).
pub fn key_body(line: &str) -> String {
    line.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// Accepts only the server key whose OpenSSH line has the same body as this one.
pub struct Pinned(pub String);

impl client::Handler for Pinned {
    type Error = russh::Error;
    async fn check_server_key(&mut self, key: &PublicKey) -> Result<bool, Self::Error> {
        Ok(key_body(&key.to_openssh().unwrap()) == key_body(&self.0))
    }
}

pub struct Client {
    pub handle: client::Handle<KeyCatcher>,
    seen_key: Arc<Mutex<Option<String>>>,
}

pub struct Exec {
    pub stdout: String,
    pub stderr: String,
    pub status: Option<u32>,
}

impl Client {
    pub async fn connect(dev: &RunningDevice) -> Client {
        Self::try_connect(dev, client::Config::default())
            .await
            .unwrap_or_else(|e| panic!("connect to {} on port {}: {e}", dev.name, dev.port))
    }

    /// Connects with `config` (nodelay forced on), within [`STEP`].
    pub async fn try_connect(
        dev: &RunningDevice,
        config: client::Config,
    ) -> Result<Client, russh::Error> {
        let seen_key = Arc::new(Mutex::new(None));
        let config = Arc::new(client::Config {
            nodelay: true,
            ..config
        });
        let handle = within(
            "connect",
            client::connect(config, (dev.host, dev.port), KeyCatcher(seen_key.clone())),
        )
        .await?;
        Ok(Client { handle, seen_key })
    }

    /// The server's host key, `ssh-ed25519 AAAA...` (no comment).
    pub fn server_key(&self) -> String {
        self.seen_key.lock().unwrap().clone().unwrap()
    }

    pub async fn password(&mut self, user: &str, password: &str) -> bool {
        within(
            "password auth",
            self.handle.authenticate_password(user, password),
        )
        .await
        .unwrap()
        .success()
    }

    pub async fn none(&mut self, user: &str) -> bool {
        within("none auth", self.handle.authenticate_none(user))
            .await
            .unwrap()
            .success()
    }

    pub async fn exec(&self, command: &str) -> Exec {
        let mut ch = within("open channel", self.handle.channel_open_session())
            .await
            .unwrap();
        within("exec", ch.exec(true, command)).await.unwrap();
        let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), None);
        while let Some(msg) = within("exec output", ch.wait()).await {
            match msg {
                ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                _ => {}
            }
        }
        Exec {
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
            status,
        }
    }

    /// Opens a PTY shell and reads up to the first prompt ending in `prompt_end`.
    pub async fn shell(&self, prompt_end: &str) -> (Shell, String) {
        let ch = within("open channel", self.handle.channel_open_session())
            .await
            .unwrap();
        within("pty", ch.request_pty(true, "vt100", 80, 24, 0, 0, &[]))
            .await
            .unwrap();
        within("shell", ch.request_shell(true)).await.unwrap();
        let mut sh = Shell {
            ch,
            buf: String::new(),
        };
        let banner = sh.read_until(prompt_end).await;
        (sh, banner)
    }
}

pub struct Shell {
    pub ch: russh::Channel<client::Msg>,
    buf: String,
}

impl Shell {
    pub async fn send(&self, bytes: &str) {
        within("send", self.ch.data_bytes(bytes.as_bytes().to_vec()))
            .await
            .unwrap();
    }

    /// Everything received up to and including `pat` (the rest stays buffered).
    pub async fn read_until(&mut self, pat: &str) -> String {
        self.read_until_any(&[pat]).await
    }

    /// Everything up to and including whichever of `pats` appears first.
    pub async fn read_until_any(&mut self, pats: &[&str]) -> String {
        loop {
            if let Some(taken) = take_through_first(&mut self.buf, pats) {
                return taken;
            }
            let msg = within(
                &format!("waiting for {pats:?}; got {:?}", self.buf),
                self.ch.wait(),
            )
            .await;
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    self.buf.push_str(&String::from_utf8_lossy(&data))
                }
                Some(_) => {}
                None => panic!("channel closed waiting for {pats:?}; got {:?}", self.buf),
            }
        }
    }

    /// Reads until the channel closes; returns the rest of the output.
    pub async fn read_to_close(&mut self) -> String {
        while let Some(msg) = within("waiting for close", self.ch.wait()).await {
            if let ChannelMsg::Data { data } = msg {
                self.buf.push_str(&String::from_utf8_lossy(&data));
            }
        }
        std::mem::take(&mut self.buf)
    }
}

/// A fresh, empty scratch folder under the system temp dir.
pub fn scratch_dir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!(
        "netraven-sim-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Takes from `buf` everything up to and including the first of `pats` to appear, if any
/// has; the rest stays.
pub fn take_through_first(buf: &mut String, pats: &[&str]) -> Option<String> {
    let end = pats
        .iter()
        .filter_map(|p| buf.find(p).map(|i| i + p.len()))
        .min()?;
    let rest = buf.split_off(end);
    Some(std::mem::replace(buf, rest))
}
