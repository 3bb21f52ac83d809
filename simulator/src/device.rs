//! One running device's immutable facts, its generated config, and its ground truth.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config_gen::{generate, session_text, GeneratedConfig, SessionStamp};
use crate::drift::{self, DeviceDrift};
use crate::ground_truth::{lock, DeviceTruth};
use crate::{DeviceSpec, Fault};

/// What the latest session printed, enough to print it again: the stamp and how many of
/// the device's drift epochs its configuration held.
#[derive(Debug, Clone, Copy)]
struct Shown {
    stamp: SessionStamp,
    epochs: usize,
}

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
    /// The AAA server the fleet's devices share ([`crate::aaa`]).
    pub(crate) aaa: std::sync::Arc<crate::aaa::Aaa>,
    /// Set when the device plays a jump host ([`crate::bastion`]).
    pub(crate) bastion: Option<std::sync::Arc<crate::bastion::Bastion>>,
    /// `spec.accepts_keys`, parsed once: (username, public key).
    authorized: Vec<(String, russh::keys::ssh_key::public::KeyData)>,
    /// The epochs at which this device's configuration changed, in order.
    drift_epochs: Mutex<Vec<u64>>,
    /// Configurations printed in sessions so far.
    shows: AtomicU64,
    last_shown: Mutex<Option<Shown>>,
}

impl Device {
    pub(crate) fn new(
        spec: DeviceSpec,
        seed: u64,
        host: IpAddr,
        port: u16,
        host_key: String,
    ) -> Self {
        let bastion = spec
            .bastion
            .clone()
            .map(|b| std::sync::Arc::new(crate::bastion::Bastion::new(b)));
        let authorized = spec
            .accepts_keys
            .iter()
            .filter_map(|(user, line)| match russh::keys::PublicKey::from_openssh(line) {
                Ok(key) => Some((user.clone(), key.key_data().clone())),
                Err(e) => {
                    tracing::warn!(device = %spec.name, error = %e, "an accepted key is not an OpenSSH public key line: ignored");
                    None
                }
            })
            .collect();
        Device {
            bastion,
            authorized,
            spec,
            seed,
            host,
            port,
            host_key,
            truth: DeviceTruth::default(),
            aaa: Default::default(),
            drift_epochs: Mutex::new(Vec::new()),
            shows: AtomicU64::new(0),
            last_shown: Mutex::new(None),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    pub(crate) fn fault(&self) -> Option<Fault> {
        self.spec.fault
    }

    /// Generated afresh on every use (same seed, same bytes), with the changes of every
    /// epoch it drifted at: a few microseconds per backup, next to a millisecond of
    /// handshake, and a 10,000-device fleet holds no configs at all (caching them cost
    /// ~45 MB after one backup of each).
    pub(crate) fn config(&self) -> GeneratedConfig {
        let epochs = lock(&self.drift_epochs).clone();
        self.config_at(&epochs)
    }

    fn config_at(&self, epochs: &[u64]) -> GeneratedConfig {
        let mut config = generate(
            self.seed,
            &self.spec.name,
            self.spec.platform,
            self.spec.config_bytes,
        );
        for &epoch in epochs {
            drift::apply(
                &mut config.text,
                self.seed,
                &self.spec.name,
                self.spec.platform,
                epoch,
            );
        }
        config
    }

    /// Changes the configuration at `epoch` (see [`crate::drift`]).
    pub(crate) fn drift(&self, epoch: u64) -> DeviceDrift {
        let mut epochs = lock(&self.drift_epochs);
        let mut text = self.config_at(&epochs).text;
        let change = drift::apply(
            &mut text,
            self.seed,
            &self.spec.name,
            self.spec.platform,
            epoch,
        );
        epochs.push(epoch);
        change
    }

    /// The configuration as a session prints it: [`Device::config`] with the lines that
    /// change on every show (the time now, a new `ntp clock-period`).
    pub(crate) fn session_config(&self) -> String {
        let n = self.shows.fetch_add(1, Ordering::Relaxed);
        let unix_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut rng = crate::seed::Rng::new(self.seed, &format!("ntp/{}/{n}", self.name()));
        // Odd and even in turn: two shows in a row never print the same period.
        let clock_period = 17_170_000 + rng.below(5_000) * 2 + n % 2;
        let stamp = SessionStamp {
            unix_secs,
            clock_period,
        };
        let epochs = lock(&self.drift_epochs).clone();
        *lock(&self.last_shown) = Some(Shown {
            stamp,
            epochs: epochs.len(),
        });
        session_text(&self.config_at(&epochs).text, self.spec.platform, stamp)
    }

    /// Exactly what the latest session printed as the configuration, if one did.
    pub(crate) fn last_session_config(&self) -> Option<String> {
        let shown = (*lock(&self.last_shown))?;
        let epochs = lock(&self.drift_epochs).clone();
        let config = self.config_at(&epochs[..shown.epochs.min(epochs.len())]);
        Some(session_text(&config.text, self.spec.platform, shown.stamp))
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

    /// Whether `key` is one of the keys `user` may log in with.
    pub(crate) fn accepts_key(&self, user: &str, key: &russh::keys::PublicKey) -> bool {
        self.authorized
            .iter()
            .any(|(u, k)| u == user && k == key.key_data())
    }

    /// Whether the device offers `publickey`.
    pub(crate) fn takes_keys(&self) -> bool {
        !self.spec.accepts_keys.is_empty()
    }

    pub(crate) fn accepts(&self, user: &str, password: &str) -> bool {
        self.spec
            .accepts
            .iter()
            .any(|(u, p)| u == user && p == password)
    }
}
