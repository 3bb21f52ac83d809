//! What a fleet is made of: platforms, credentials, devices and start options.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Fault, SimError};

/// The kind of device a simulated host plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Exec channel (`cat /etc/netraven/running-config`), plus a `name:~$ ` PTY shell.
    Linux,
    /// PTY shell only: `HOST>`, `enable`, `HOST#`, `terminal length 0`, `show running-config`.
    CiscoIos,
    /// PTY shell only: `user@host>`, `set cli screen-length 0`,
    /// `show configuration | display set`.
    JuniperJunos,
    /// PTY shell only: IOS-XE, as `cisco_ios` (`enable`, `terminal length 0`) with a
    /// 17.x configuration (`GigabitEthernet1`, `license boot level`).
    CiscoXe,
    /// PTY shell only: IOS-XR, `RP/0/RSP0/CPU0:HOST#` at login, a timestamp line before
    /// each command's output, `!! Last configuration change at`.
    CiscoXr,
    /// PTY shell only: ASA, `HOST>`, `enable` + `Password:`, `terminal pager 0`,
    /// `<--- More --->`, `ERROR: %` messages, `: Saved` and `Cryptochecksum:` lines.
    CiscoAsa,
    /// PTY shell only: Huawei VRP, `<HOST>`, `screen-length 0 temporary`,
    /// `display current-configuration`, `  ---- More ----`, `Error: Unrecognized command`.
    HuaweiVrp,
    /// PTY shell only: HP ProCurve / Aruba OS-Switch, `Press any key to continue`,
    /// `HOST> `, `enable` + `Password:`, `HOST# `, `no page`, `Invalid input: WORD`.
    HpProcurve,
    /// PTY shell only: FortiOS, `HOST # `, `config system console` / `set output
    /// standard` / `end`, `show`, `--More-- `, `Command fail. Return code -61`.
    Fortinet,
    /// PTY shell only: PAN-OS, `user@HOST> `, `set cli pager off`, `show config running`
    /// (XML), `Unknown command: WORD`.
    PaloaltoPanos,
    /// Exec channel (`/export`), plus a `[user@HOST] > ` shell: MikroTik RouterOS,
    /// `bad command name WORD (line 1 column N)`.
    MikrotikRouteros,
    /// PTY shell only: Aruba AOS-CX, `HOST# ` at login, `no page`, `show running-config`,
    /// `Invalid input: WORD`.
    ArubaAoscx,
    /// PTY shell only: Cisco NX-OS, `HOST# ` at login (no `enable`), `terminal length 0`,
    /// `!Time:` in `show running-config`, `--More--`, `% Invalid command at '^' marker.`.
    CiscoNxos,
    /// PTY shell only: Arista EOS, `HOST>`, `enable` (a secret only when one is set),
    /// `HOST#`, `terminal length 0`, ` --More-- `, `% Invalid input (at token N: 'WORD')`.
    AristaEos,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 14] = [
        Platform::Linux,
        Platform::CiscoIos,
        Platform::JuniperJunos,
        Platform::CiscoXe,
        Platform::CiscoXr,
        Platform::CiscoAsa,
        Platform::HuaweiVrp,
        Platform::HpProcurve,
        Platform::Fortinet,
        Platform::PaloaltoPanos,
        Platform::MikrotikRouteros,
        Platform::ArubaAoscx,
        Platform::CiscoNxos,
        Platform::AristaEos,
    ];

    /// The platforms the preset scenarios mix, a third each (their fleets stay as they
    /// were when more platforms arrive).
    pub const PRESET: [Platform; 3] = [Platform::Linux, Platform::CiscoIos, Platform::JuniperJunos];

    /// The wire name (`linux`, `cisco_ios`, `huawei_vrp`, ...), as profiles name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::CiscoIos => "cisco_ios",
            Platform::JuniperJunos => "juniper_junos",
            Platform::CiscoXe => "cisco_xe",
            Platform::CiscoXr => "cisco_xr",
            Platform::CiscoAsa => "cisco_asa",
            Platform::HuaweiVrp => "huawei_vrp",
            Platform::HpProcurve => "hp_procurve",
            Platform::Fortinet => "fortinet",
            Platform::PaloaltoPanos => "paloalto_panos",
            Platform::MikrotikRouteros => "mikrotik_routeros",
            Platform::ArubaAoscx => "aruba_aoscx",
            Platform::CiscoNxos => "cisco_nxos",
            Platform::AristaEos => "arista_eos",
        }
    }

    /// The command a backup runs on this platform.
    pub fn backup_command(self) -> &'static str {
        match self {
            Platform::Linux => crate::platform::linux::CONFIG_COMMAND,
            Platform::CiscoIos
            | Platform::CiscoXe
            | Platform::CiscoXr
            | Platform::CiscoAsa
            | Platform::HpProcurve
            | Platform::ArubaAoscx
            | Platform::CiscoNxos
            | Platform::AristaEos => "show running-config",
            Platform::JuniperJunos => "show configuration | display set",
            Platform::HuaweiVrp => "display current-configuration",
            Platform::Fortinet => "show",
            Platform::PaloaltoPanos => "show config running",
            Platform::MikrotikRouteros => crate::platform::mikrotik_routeros::CONFIG_COMMAND,
        }
    }

    /// The device starts unprivileged and `enable` asks for a secret when one is set.
    pub fn has_enable(self) -> bool {
        matches!(
            self,
            Platform::CiscoIos
                | Platform::CiscoXe
                | Platform::CiscoAsa
                | Platform::HpProcurve
                | Platform::AristaEos
        )
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| SimError::UnknownPlatform(s.to_string()))
    }
}

/// A credential of the simulated network (what an operator would import).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialSpec {
    pub name: String,
    pub username: String,
    pub password: String,
    /// Lower is tried first.
    pub priority: i32,
    pub tags: Vec<String>,
    /// The credential's own enable secret, if it carries one (the login password
    /// answers the enable prompt otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_secret: Option<String>,
}

impl fmt::Debug for CredentialSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSpec")
            .field("name", &self.name)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("priority", &self.priority)
            .field("tags", &self.tags)
            .field(
                "enable_secret",
                &self.enable_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// One simulated device.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSpec {
    pub name: String,
    pub platform: Platform,
    pub tags: Vec<String>,
    /// (username, password) pairs this device accepts with the `password` method.
    pub accepts: Vec<(String, String)>,
    /// (username, OpenSSH public key line) pairs this device accepts with the `publickey`
    /// method, as an `authorized_keys` file would. A device with none does not offer
    /// `publickey`; one with some offers it beside its password method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepts_keys: Vec<(String, String)>,
    /// Approximate size of its running config, in bytes.
    pub config_bytes: usize,
    /// Secret for `enable` ([`Platform::has_enable`]). `None`: `enable` needs no password.
    pub enable_secret: Option<String>,
    /// How the device misbehaves; `None` (the default): it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// The device also plays a jump host: it opens direct-tcpip channels to the devices
    /// named here ([`crate::bastion`]). `None` (the default): it refuses every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bastion: Option<crate::BastionSpec>,
    /// How slowly it answers ([`crate::Latency`]); the default: at once.
    #[serde(default, skip_serializing_if = "crate::Latency::is_zero")]
    pub latency: crate::Latency,
}

impl DeviceSpec {
    /// A device that accepts nothing, with a 4 KiB config; fill in the rest.
    pub fn new(name: impl Into<String>, platform: Platform) -> Self {
        DeviceSpec {
            name: name.into(),
            platform,
            tags: Vec::new(),
            accepts: Vec::new(),
            accepts_keys: Vec::new(),
            config_bytes: 4096,
            enable_secret: None,
            fault: None,
            bastion: None,
            latency: crate::Latency::default(),
        }
    }
}

impl fmt::Debug for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.accepts.iter().map(|(u, _)| u.as_str()).collect();
        f.debug_struct("DeviceSpec")
            .field("name", &self.name)
            .field("platform", &self.platform)
            .field("tags", &self.tags)
            .field("accepts_users", &users)
            .field("accepts_keys", &self.accepts_keys.len())
            .field("config_bytes", &self.config_bytes)
            .field(
                "enable_secret",
                &self.enable_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("fault", &self.fault)
            .field("bastion", &self.bastion)
            .field("latency", &self.latency)
            .finish()
    }
}

/// A whole simulated network: its credentials and devices, all derived from `seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSpec {
    /// Drives host keys and configs: same seed, same keys and byte-identical configs.
    pub seed: u64,
    pub credentials: Vec<CredentialSpec>,
    pub devices: Vec<DeviceSpec>,
    /// The share of devices (0..=1) whose configuration changes at each drift epoch
    /// ([`crate::Fleet::advance_drift`], `POST /drift`); 0, the default: none.
    #[serde(default)]
    pub drift: f64,
}

/// How to run a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetOptions {
    /// Address every device listens on (default 127.0.0.1).
    pub bind: IpAddr,
    /// First device's port; taken ports are skipped. Must be below 32768.
    pub base_port: u16,
    /// Delay before a rejected login is answered (default 0; real sshd: ~1 s).
    pub auth_rejection_ms: u64,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: 20000,
            auth_rejection_ms: 0,
        }
    }
}

impl FleetOptions {
    /// Defaults with a random `base_port` in 10000..30000, so that parallel tests, each
    /// with its own fleet, rarely probe the same ports.
    pub fn random_base() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let r = h.finish();
        FleetOptions {
            base_port: 10000 + (r % 20000) as u16,
            ..FleetOptions::default()
        }
    }
}
