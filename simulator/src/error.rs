//! The simulator's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while building or running a simulated fleet.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// `scenario()` was asked for a name it does not know.
    #[error("unknown scenario {0:?} (known: {known})", known = crate::scenario::SCENARIOS.join(", "))]
    UnknownScenario(String),
    /// A platform name that is not one of [`crate::Platform::ALL`].
    #[error("unknown platform {0:?} (known: {known})", known = crate::Platform::ALL.map(crate::Platform::as_str).join(", "))]
    UnknownPlatform(String),
    /// A fault name (or its parameter) that [`crate::Fault`] does not know.
    #[error("unknown fault {0} (known: {known})", known = crate::fault::names())]
    UnknownFault(String),
    /// A scenario file that cannot be read as a fleet.
    #[error("scenario file {path}: {reason}")]
    ScenarioFile { path: PathBuf, reason: String },
    /// The spec is inconsistent (duplicate device names, empty names, ...).
    #[error("invalid fleet spec: {0}")]
    InvalidSpec(String),
    /// No free port was left below 32768 for a device.
    #[error("no free port for device {device:?} in {from}..32768 on {bind}")]
    NoFreePort {
        device: String,
        from: u16,
        bind: std::net::IpAddr,
    },
    /// Binding a listener failed for another reason than the port being taken.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The host key of a device could not be built or encoded.
    #[error("host key for device {device:?}: {reason}")]
    HostKey { device: String, reason: String },
    /// Reading or writing a file (inventory, secrets) failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Serialising the inventory failed.
    #[error("cannot write inventory YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// The control endpoint could not start or failed.
    #[error("control endpoint on {addr}: {source}")]
    Control {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}
