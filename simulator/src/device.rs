//! One running device's immutable facts, its generated config, and its ground truth.

use std::net::IpAddr;

use crate::config_gen::{generate, GeneratedConfig};
use crate::ground_truth::DeviceTruth;
use crate::{DeviceSpec, Fault};

/// Shared by the device's listener, its sessions and the [`crate::Fleet`] queries.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) spec: DeviceSpec,
    pub(crate) seed: u64,
    pub(crate) host: IpAddr,
    pub(crate) port: u16,
    /// OpenSSH public key line, `ssh-ed25519 AAAA... <name>`.
    pub(crate) host_key: String,
    pub(crate) truth: DeviceTruth,
}

impl Device {
    pub(crate) fn new(
        spec: DeviceSpec,
        seed: u64,
        host: IpAddr,
        port: u16,
        host_key: String,
    ) -> Self {
        Device {
            spec,
            seed,
            host,
            port,
            host_key,
            truth: DeviceTruth::default(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    pub(crate) fn fault(&self) -> Option<Fault> {
        self.spec.fault
    }

    /// Generated afresh on every use (same seed, same bytes): a few microseconds per
    /// backup, next to a millisecond of handshake, and a 10,000-device fleet holds no
    /// configs at all (caching them cost ~45 MB after one backup of each).
    pub(crate) fn config(&self) -> GeneratedConfig {
        generate(
            self.seed,
            &self.spec.name,
            self.spec.platform,
            self.spec.config_bytes,
        )
    }

    /// The configuration as its exec channel sends it: the generated text, and for an
    /// output fault ([`Fault::output_poison`]) its hostile bytes just before the last line.
    pub(crate) fn config_bytes(&self) -> Vec<u8> {
        let text = self.config().text;
        let Some(poison) = self.fault().and_then(Fault::output_poison) else {
            return text.into_bytes();
        };
        let body = text.trim_end_matches('\n');
        let at = body.rfind('\n').map_or(0, |i| i + 1);
        let mut bytes = Vec::with_capacity(text.len() + poison.len());
        bytes.extend_from_slice(&text.as_bytes()[..at]);
        bytes.extend_from_slice(poison);
        bytes.extend_from_slice(&text.as_bytes()[at..]);
        bytes
    }

    pub(crate) fn accepts(&self, user: &str, password: &str) -> bool {
        self.spec
            .accepts
            .iter()
            .any(|(u, p)| u == user && p == password)
    }
}
