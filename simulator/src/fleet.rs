//! A running fleet: start (keys, ports, listeners), ground-truth queries, shutdown.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::PrivateKey;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::device::Device;
use crate::{seed, server, CredentialSpec, Fault, FleetOptions, FleetSpec, Platform, SimError};

/// Simulator ports stay below the kernel's ephemeral range.
pub const MAX_PORT_EXCLUSIVE: u16 = 32768;

/// A device as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningDevice {
    pub name: String,
    pub host: IpAddr,
    pub port: u16,
    pub platform: Platform,
    pub tags: Vec<String>,
    /// OpenSSH public key line of the key the device serves: `ssh-ed25519 AAAA... <name>`.
    /// With [`Fault::HostKeyChanged`] that is not [`host_key`]`(seed, name)`.
    pub host_key: String,
    /// How the device misbehaves, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

/// A running fleet of simulated devices. Queries take `&self`, so it can be shared in an
/// `Arc` (see [`crate::serve_control`]); stop it with [`Fleet::shutdown`] or [`Fleet::stop`].
pub struct Fleet {
    pub(crate) seed: u64,
    pub(crate) credentials: Vec<CredentialSpec>,
    pub(crate) devices: Vec<Arc<Device>>,
    pub(crate) by_name: HashMap<String, usize>,
    /// [`FleetSpec::drift`]: the share of devices [`Fleet::advance_drift`] changes.
    pub(crate) drift_share: f64,
    /// Every drift epoch so far ([`crate::drift`]).
    pub(crate) drift: std::sync::Mutex<Vec<crate::drift::DriftEpoch>>,
    /// The AAA server every device asks ([`crate::aaa`]).
    pub(crate) aaa: Arc<crate::aaa::Aaa>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("seed", &self.seed)
            .field("devices", &self.devices.len())
            .finish_non_exhaustive()
    }
}

/// The host key of `device` in a fleet seeded with `seed` (ed25519, stable across runs).
pub fn host_key(seed: u64, device: &str) -> Result<PrivateKey, SimError> {
    key_from(seed, &format!("hostkey/{device}"), device)
}

/// The RSA key every device with [`Fault::SshRsaSha1Only`] serves: a test key shipped with
/// the simulator (an RSA key cannot be derived from the seed cheaply), public by design.
pub fn ssh_rsa_host_key(device: &str) -> Result<PrivateKey, SimError> {
    PrivateKey::from_openssh(include_str!("../keys/ssh_rsa_host_key")).map_err(|e| {
        SimError::HostKey {
            device: device.to_string(),
            reason: e.to_string(),
        }
    })
}

/// The key a device with [`Fault::HostKeyChanged`] serves instead of [`host_key`].
pub fn changed_host_key(seed: u64, device: &str) -> Result<PrivateKey, SimError> {
    key_from(seed, &format!("hostkey-changed/{device}"), device)
}

fn key_from(seed: u64, label: &str, device: &str) -> Result<PrivateKey, SimError> {
    let bytes = seed::derive(seed, label);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&bytes));
    key.set_comment(device);
    Ok(key)
}

fn openssh_public(key: &PrivateKey, device: &str) -> Result<String, SimError> {
    key.public_key()
        .to_openssh()
        .map_err(|e| SimError::HostKey {
            device: device.to_string(),
            reason: e.to_string(),
        })
}

/// Soft RLIMIT_NOFILE up to the hard limit: thousands of listeners need it.
fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(error = %e, soft, hard, "cannot raise RLIMIT_NOFILE");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read RLIMIT_NOFILE"),
    }
}

/// A device's port: listening, or (for [`Fault::PortClosed`]) bound but not listening, so
/// that connecting is refused while the port stays reserved for the device.
enum Endpoint {
    Listening(TcpListener),
    Reserved(TcpSocket),
}

impl Endpoint {
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Endpoint::Listening(l) => l.local_addr(),
            Endpoint::Reserved(s) => s.local_addr(),
        }
    }
}

fn reserve(addr: SocketAddr) -> std::io::Result<TcpSocket> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(addr)?;
    Ok(socket)
}

/// Binds the first free port from `*next`, skipping taken ones, and moves `*next` past it.
async fn bind_next(
    bind: IpAddr,
    next: &mut u16,
    device: &str,
    listen: bool,
) -> Result<Endpoint, SimError> {
    let from = *next;
    while *next < MAX_PORT_EXCLUSIVE {
        let addr = SocketAddr::new(bind, *next);
        *next += 1;
        let bound = if listen {
            TcpListener::bind(addr).await.map(Endpoint::Listening)
        } else {
            reserve(addr).map(Endpoint::Reserved)
        };
        match bound {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(SimError::Bind { addr, source: e }),
        }
    }
    Err(SimError::NoFreePort {
        device: device.to_string(),
        from,
        bind,
    })
}

fn validate(spec: &FleetSpec, opts: &FleetOptions) -> Result<(), SimError> {
    if opts.base_port == 0 || opts.base_port >= MAX_PORT_EXCLUSIVE {
        return Err(SimError::InvalidSpec(format!(
            "base_port {} must be in 1..{MAX_PORT_EXCLUSIVE}",
            opts.base_port
        )));
    }
    crate::drift::check_share(spec.drift)?;
    let mut seen = HashSet::new();
    for d in &spec.devices {
        if d.name.is_empty() {
            return Err(SimError::InvalidSpec("a device has an empty name".into()));
        }
        if !seen.insert(d.name.as_str()) {
            return Err(SimError::InvalidSpec(format!(
                "duplicate device name {:?}",
                d.name
            )));
        }
    }
    Ok(())
}

impl Fleet {
    /// Binds one listener per device (from `opts.base_port` up, skipping taken ports) and
    /// starts serving. Returns once every device accepts connections.
    pub async fn start(spec: FleetSpec, opts: FleetOptions) -> Result<Fleet, SimError> {
        validate(&spec, &opts)?;
        raise_nofile_limit();
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let rejection = Duration::from_millis(opts.auth_rejection_ms);
        let mut next_port = opts.base_port;
        let mut devices = Vec::with_capacity(spec.devices.len());
        let mut by_name = HashMap::with_capacity(spec.devices.len());
        let aaa = Arc::new(crate::aaa::Aaa::default());
        for d in spec.devices {
            let key = match d.fault {
                Some(Fault::HostKeyChanged) => changed_host_key(spec.seed, &d.name)?,
                Some(Fault::SshRsaSha1Only) => ssh_rsa_host_key(&d.name)?,
                _ => host_key(spec.seed, &d.name)?,
            };
            let public = openssh_public(&key, &d.name)?;
            let listen = d.fault != Some(Fault::PortClosed);
            let endpoint = match bind_next(opts.bind, &mut next_port, &d.name, listen).await {
                Ok(l) => l,
                Err(e) => {
                    shutdown.cancel();
                    return Err(e);
                }
            };
            let port = match endpoint.local_addr() {
                Ok(a) => a.port(),
                Err(e) => {
                    shutdown.cancel();
                    return Err(SimError::Bind {
                        addr: SocketAddr::new(opts.bind, next_port - 1),
                        source: e,
                    });
                }
            };
            let mut device = Device::new(d, spec.seed, opts.bind, port, public);
            device.aaa = aaa.clone();
            let device = Arc::new(device);
            by_name.insert(device.name().to_string(), devices.len());
            match endpoint {
                Endpoint::Listening(listener) => {
                    let config = Arc::new(server::config(
                        key,
                        rejection,
                        device.fault(),
                        device.takes_keys(),
                    ));
                    tracker.spawn(server::accept_loop(
                        device.clone(),
                        listener,
                        config,
                        shutdown.clone(),
                        tracker.clone(),
                    ));
                }
                Endpoint::Reserved(socket) => {
                    let stop = shutdown.clone();
                    tracker.spawn(async move {
                        stop.cancelled().await;
                        drop(socket);
                    });
                }
            }
            devices.push(device);
        }
        for d in &devices {
            if let Some(b) = &d.bastion {
                let allowed = b
                    .spec
                    .reach
                    .iter()
                    .filter_map(|name| by_name.get(name).map(|&i| &devices[i]))
                    .map(|t: &Arc<Device>| SocketAddr::new(t.host, t.port))
                    .collect();
                b.allow(allowed);
            }
        }
        tracing::info!(
            devices = devices.len(),
            seed = spec.seed,
            "simulated fleet started"
        );
        Ok(Fleet {
            seed: spec.seed,
            credentials: spec.credentials,
            devices,
            by_name,
            drift_share: spec.drift,
            drift: std::sync::Mutex::new(Vec::new()),
            aaa,
            shutdown,
            tracker,
        })
    }

    /// Writes the inventory YAML and its secrets folder (see [`crate::inventory`]).
    pub fn write_inventory(&self, path: &Path) -> Result<(), SimError> {
        let bastions: Vec<_> = self
            .devices
            .iter()
            .filter_map(|d| {
                let b = d.bastion.as_ref()?;
                Some(crate::inventory::Bastion {
                    name: d.name(),
                    spec: &b.spec,
                    accepts: &d.spec.accepts,
                })
            })
            .collect();
        crate::inventory::write(path, &self.credentials, &self.devices(), &bastions)
    }

    /// What the AAA server behind the fleet saw, by username ([`crate::aaa`]).
    pub fn aaa(&self) -> std::collections::BTreeMap<String, crate::AaaUser> {
        self.aaa.report()
    }

    /// The token that stops the fleet when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops listening, disconnects every session and waits for them to end.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// [`Fleet::stop`], consuming the fleet.
    pub async fn shutdown(self) {
        self.stop().await;
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // A fleet dropped without shutdown (a failing test) must not leave listeners behind.
        self.shutdown.cancel();
    }
}
