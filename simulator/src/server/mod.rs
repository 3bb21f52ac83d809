//! The SSH side of a device: russh config (methods, algorithms, limits per fault), accept
//! loop, and the connection-level faults (silent, slow banner).
//!
//! - `handler` — the per-connection russh handler: auth, channels, exec and shells.
//! - `output` — output that misbehaves: endless streams and mid-output drops.
//! - `delay` — the network's round trip ([`crate::Latency`]), a delay line under russh.

mod delay;
mod handler;
mod output;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::{Algorithm, PrivateKey};
use russh::{cipher, kex, mac, MethodKind, MethodSet, Preferred};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::device::Device;
use crate::Fault;
use handler::Connection;

/// Authentication attempts allowed per connection (OpenSSH's MaxAuthTries default).
pub const MAX_AUTH_TRIES: usize = 6;

/// What OpenSSH 9.2 offers, less `sntrup761x25519-sha512@openssh.com` (russh lacks it).
/// Clients that prefer `mlkem768x25519-sha256` (newer than 9.2) settle on curve25519.
const MODERN_KEX: &[kex::Name] = &[
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::ECDH_SHA2_NISTP256,
    kex::ECDH_SHA2_NISTP384,
    kex::ECDH_SHA2_NISTP521,
    kex::DH_GEX_SHA256,
    kex::DH_G16_SHA512,
    kex::DH_G18_SHA512,
    kex::DH_G14_SHA256,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// [`Fault::LegacyAlgorithms`]: what a decade-old switch offers.
const LEGACY_KEX: &[kex::Name] = &[kex::DH_G14_SHA1];
const LEGACY_CIPHERS: &[cipher::Name] = &[cipher::AES_128_CBC, cipher::AES_256_CBC];
const LEGACY_MACS: &[mac::Name] = &[mac::HMAC_SHA1];

/// [`Fault::SshRsaSha1Only`]: host-key signatures with SHA-1 only.
const SSH_RSA_SHA1: &[Algorithm] = &[Algorithm::Rsa { hash: None }];

/// The russh server config of one device.
pub(crate) fn config(
    key: PrivateKey,
    auth_rejection: Duration,
    fault: Option<Fault>,
    takes_keys: bool,
) -> russh::server::Config {
    let method = match fault {
        Some(Fault::KeyboardInteractiveOnly) => MethodKind::KeyboardInteractive,
        _ => MethodKind::Password,
    };
    let max_auth_attempts = match fault {
        Some(Fault::MaxAuthTries { tries }) => tries,
        _ => MAX_AUTH_TRIES,
    };
    let preferred = match fault {
        Some(Fault::LegacyAlgorithms) => Preferred {
            kex: Cow::Borrowed(LEGACY_KEX),
            cipher: Cow::Borrowed(LEGACY_CIPHERS),
            mac: Cow::Borrowed(LEGACY_MACS),
            ..Preferred::DEFAULT
        },
        Some(Fault::SshRsaSha1Only) => Preferred {
            kex: Cow::Borrowed(MODERN_KEX),
            key: Cow::Borrowed(SSH_RSA_SHA1),
            ..Preferred::DEFAULT
        },
        _ => Preferred {
            kex: Cow::Borrowed(MODERN_KEX),
            ..Preferred::DEFAULT
        },
    };
    russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-OpenSSH_9.2p1 netraven-sim".into()),
        methods: if takes_keys {
            MethodSet::from(&[MethodKind::PublicKey, method][..])
        } else {
            MethodSet::from(&[method][..])
        },
        auth_rejection_time: auth_rejection,
        // OpenSSH clients probe with `none` first; real servers answer that at once.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        max_auth_attempts,
        preferred,
        inactivity_timeout: Some(Duration::from_secs(600)),
        nodelay: true,
        ..Default::default()
    }
}

/// Accepts connections until `shutdown`, each served in `tracker`.
pub(crate) async fn accept_loop(
    device: Arc<Device>,
    listener: TcpListener,
    config: Arc<russh::server::Config>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let (socket, _peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; the device stays up.
                tracing::warn!(device.name = device.name(), error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(device.name = device.name(), error = %e, "set_nodelay failed");
        }
        if let Some(fault @ Fault::Flapping { .. }) = device.fault() {
            // The accept loop numbers the dropped connections itself; the handler numbers
            // those it serves.
            if fault.drops_connection(device.truth.connections() + 1) {
                device.truth.next_connection();
                drop(socket);
                continue;
            }
        }
        if device.fault() == Some(Fault::Silent) {
            device.truth.next_connection();
            tracker.spawn(hold_silently(socket, shutdown.clone()));
            continue;
        }
        tracker.spawn(serve(
            device.clone(),
            socket,
            config.clone(),
            shutdown.clone(),
            tracker.clone(),
        ));
    }
}

/// [`Fault::Silent`]: reads and discards until the client gives up, never says a word.
async fn hold_silently(mut socket: TcpStream, shutdown: CancellationToken) {
    let mut sink = [0u8; 256];
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = socket.read(&mut sink) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
}

/// One SSH connection, from the (possibly delayed) banner to its end.
async fn serve(
    device: Arc<Device>,
    socket: TcpStream,
    config: Arc<russh::server::Config>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    // The TCP handshake's round trip, then the fault's own wait.
    let rtt = device.spec.latency.rtt();
    let wait = rtt.unwrap_or_default()
        + device
            .fault()
            .and_then(Fault::banner_delay)
            .unwrap_or_default();
    if !wait.is_zero() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    // A second handle on the socket lets `DropMidOutput` cut the TCP connection under
    // russh's feet, as a crashing device would.
    let (socket, cutter) = if device.fault() == Some(Fault::DropMidOutput) {
        match output::Cutter::split(socket) {
            Ok((s, c)) => (s, Some(c)),
            Err(e) => {
                tracing::debug!(device.name = device.name(), error = %e, "cannot clone socket");
                return;
            }
        }
    } else {
        (socket, None)
    };
    let handler = Connection::new(device, cutter, shutdown.child_token(), tracker.clone());
    // The setup waits for the client's SSH identification: a client that connects and
    // never speaks must not hold up shutdown.
    let setup = async {
        match rtt {
            None => russh::server::run_stream(config, socket, handler).await,
            Some(rtt) => {
                let line = delay::delayed(socket, rtt, shutdown.child_token(), &tracker);
                russh::server::run_stream(config, line, handler).await
            }
        }
    };
    let setup = tokio::select! {
        _ = shutdown.cancelled() => return,
        s = setup => s,
    };
    let session = match setup {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "ssh connection setup failed");
            return;
        }
    };
    let handle = session.handle();
    tokio::select! {
        _ = shutdown.cancelled() => {
            let _ = handle
                .disconnect(russh::Disconnect::ByApplication, "simulator shutting down".into(), String::new())
                .await;
        }
        r = session => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "ssh connection ended with an error");
            }
        }
    }
}
