//! Ground-truth queries on a running [`Fleet`]: attempts, commands, configs, reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::device::Device;
use crate::ground_truth::{DeviceReport, LoginAttempt};
use crate::{CredentialSpec, Fault, Fleet, RunningDevice};

impl Fleet {
    pub(crate) fn device(&self, name: &str) -> Option<&Arc<Device>> {
        self.by_name.get(name).and_then(|&i| self.devices.get(i))
    }

    /// The fleet's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The credentials of the spec the fleet was started with.
    pub fn credentials(&self) -> &[CredentialSpec] {
        &self.credentials
    }

    /// Every device, in spec order.
    pub fn devices(&self) -> Vec<RunningDevice> {
        self.devices
            .iter()
            .map(|d| RunningDevice {
                name: d.spec.name.clone(),
                host: d.host,
                port: d.port,
                platform: d.spec.platform,
                tags: d.spec.tags.clone(),
                host_key: d.host_key.clone(),
                fault: d.spec.fault,
            })
            .collect()
    }

    /// Authentication requests `device` received, in order (empty for unknown devices).
    pub fn attempts(&self, device: &str) -> Vec<LoginAttempt> {
        self.device(device)
            .map(|d| d.truth.attempts())
            .unwrap_or_default()
    }

    /// Attempts of every device that received at least one.
    pub fn all_attempts(&self) -> BTreeMap<String, Vec<LoginAttempt>> {
        self.devices
            .iter()
            .filter_map(|d| {
                let a = d.truth.attempts();
                (!a.is_empty()).then(|| (d.spec.name.clone(), a))
            })
            .collect()
    }

    /// Every command `device` received (exec requests and lines typed at a shell prompt;
    /// answers to `Password:` prompts are not commands and are not kept).
    pub fn commands(&self, device: &str) -> Vec<String> {
        self.device(device)
            .map(|d| d.truth.commands())
            .unwrap_or_default()
    }

    /// What the device did as a jump host; `None` if there is no such device or it
    /// plays none.
    pub fn bastion(&self, device: &str) -> Option<crate::BastionReport> {
        self.device(device)?.bastion.as_ref().map(|b| b.report())
    }

    /// TCP connections `device` has accepted so far.
    pub fn connections(&self, device: &str) -> u64 {
        self.device(device)
            .map(|d| d.truth.connections())
            .unwrap_or(0)
    }

    /// Exactly what a backup of `device` must store (`\n` line ends): its configuration
    /// now, drift included, less the lines it prints anew in every session (`cisco_ios`:
    /// see [`Fleet::config_sent`]). Shell platforms send it with `\r\n` and, unless
    /// paging is off, pager breaks: [`crate::MORE`] on `cisco_ios`, [`crate::JUNOS_MORE`]
    /// on `juniper_junos`.
    pub fn expected_config(&self, device: &str) -> Option<String> {
        self.device(device).map(|d| d.config().text)
    }

    /// Exactly what the latest shell session of `device` printed as its configuration,
    /// volatile lines included (`\n` line ends); `None` before the first. On platforms
    /// that print no volatile line it is [`Fleet::expected_config`] as it was then.
    pub fn config_sent(&self, device: &str) -> Option<String> {
        self.device(device).and_then(|d| d.last_session_config())
    }

    /// Exactly the bytes an exec channel's backup of `device` receives: its
    /// [`Fleet::expected_config`], and for an output fault (`output_nul`, …) the hostile
    /// bytes it carries.
    pub fn expected_config_bytes(&self, device: &str) -> Option<Vec<u8>> {
        self.device(device).map(|d| d.config_bytes())
    }

    /// Secret values inside `device`'s config: none may survive redaction.
    pub fn config_secrets(&self, device: &str) -> Vec<String> {
        self.device(device)
            .map(|d| d.config().secrets)
            .unwrap_or_default()
    }

    /// Everything recorded on `device`, with its fault (`None` for unknown devices).
    pub fn report(&self, device: &str) -> Option<DeviceReport> {
        self.device(device).map(report)
    }

    /// [`Fleet::report`] of every device, in spec order.
    pub fn reports(&self) -> Vec<DeviceReport> {
        self.devices.iter().map(report).collect()
    }

    /// Devices whose host key changed ([`Fault::HostKeyChanged`]) and that still received
    /// a secret (a password, an answer to a prompt). A client that checks host keys leaves
    /// this empty.
    pub fn secrets_sent_to_changed_host_keys(&self) -> Vec<String> {
        self.devices
            .iter()
            .filter(|d| d.fault() == Some(Fault::HostKeyChanged) && d.truth.secrets() > 0)
            .map(|d| d.spec.name.clone())
            .collect()
    }
}

fn report(d: &Arc<Device>) -> DeviceReport {
    let changed = d.fault() == Some(Fault::HostKeyChanged);
    let secrets = d.truth.secrets();
    DeviceReport {
        name: d.spec.name.clone(),
        fault: d.fault(),
        connections: d.truth.connections(),
        attempts: d.truth.attempts(),
        commands: d.truth.commands(),
        secrets_received: secrets,
        host_key_changed: changed,
        secret_sent_after_host_key_change: changed && secrets > 0,
    }
}
