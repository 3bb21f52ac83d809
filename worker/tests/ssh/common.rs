//! What every SSH test shares: the login, the timeouts, and serving a russh handler.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use netraven_simulator::{DeviceSpec, Fleet, FleetOptions, FleetSpec, Platform, RunningDevice};
use netraven_worker::ssh::{HostKeyCheck, Session, SshError, SshTimeouts};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::PrivateKey;
use russh::{MethodKind, MethodSet};
use secrecy::SecretString;
use tokio::net::TcpListener;

pub const USER: &str = "netops";
pub const PASSWORD: &str = "correct-horse";

pub fn timeouts() -> SshTimeouts {
    SshTimeouts {
        connect: Duration::from_secs(3),
        handshake: Duration::from_secs(3),
        auth: Duration::from_secs(5),
        command_idle: Duration::from_secs(3),
    }
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// Two Linux devices that accept [`USER`] / [`PASSWORD`].
pub async fn linux_pair() -> (Fleet, RunningDevice, RunningDevice) {
    let mut a = DeviceSpec::new("router-a", Platform::Linux);
    a.accepts = vec![(USER.to_string(), PASSWORD.to_string())];
    let mut b = DeviceSpec::new("router-b", Platform::Linux);
    b.accepts = a.accepts.clone();
    let spec = FleetSpec {
        drift: 0.0,
        seed: 7,
        credentials: Vec::new(),
        devices: vec![a, b],
    };
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .expect("simulator fleet starts");
    let devices = fleet.devices();
    let a = devices.first().cloned().expect("device a");
    let b = devices.get(1).cloned().expect("device b");
    (fleet, a, b)
}

/// Connects to a simulated device.
pub async fn connect(device: &RunningDevice, check: HostKeyCheck) -> Result<Session, SshError> {
    Session::connect(&device.host.to_string(), device.port, &timeouts(), check).await
}

/// Connects to a local test server, host key unchecked.
pub async fn connect_to(addr: SocketAddr, t: &SshTimeouts) -> Session {
    Session::connect(&addr.ip().to_string(), addr.port(), t, HostKeyCheck::Off)
        .await
        .expect("connects")
}

/// Serves a russh server on a free local port: it offers only `method`, its Ed25519 host
/// key made from `key_seed`, refusals at once; a new handler from `conn` per connection.
pub async fn serve<H>(method: MethodKind, key_seed: u8, conn: fn() -> H) -> SocketAddr
where
    H: russh::server::Handler + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = Arc::new(russh::server::Config {
        methods: MethodSet::from(&[method][..]),
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![PrivateKey::from(Ed25519Keypair::from_seed(&[key_seed; 32]))],
        nodelay: true,
        ..Default::default()
    });
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let config = Arc::clone(&config);
            tokio::spawn(async move {
                if let Ok(session) = russh::server::run_stream(config, sock, conn()).await {
                    let _ = session.await;
                }
            });
        }
    });
    addr
}
