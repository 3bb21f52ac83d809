//! Scenario files: a fleet described as YAML groups of alike devices.
//!
//! ```yaml
//! seed: 7                    # optional; else the caller's seed
//! devices: 1000              # optional; the total that `fraction` and the rest refer to
//! drift: 0.2                 # optional; the share that changes at each drift epoch (0)
//! latency: { rtt_ms: 40, aaa_accept_ms: 300, aaa_reject_ms: 1000, prompt_ms: 20,
//!            output_bytes_per_s: 20000 }   # optional; every group's, unless it has its own
//! credentials:               # optional; default: tacacs, breakglass, vendor-default
//!   - { name: tacacs, username: netops, priority: 10 }   # password: derived from the seed
//!   - { name: local, username: admin, password: s3cret, priority: 20, tags: [fleet] }
//!   - { name: automation, username: auto, priority: 5, public_key: "ssh-ed25519 AAAA..." }
//! groups:
//!   - { count: 20, accepts: [], accepts_keys: [automation] }       # key-only devices
//!   - { count: 20, accepts: [local], accepts_keys: [automation] }  # a key or a password
//!   - { count: 10, platform: cisco_ios, accepts: [tacacs], fault: slow_auth:1500 }
//!   - { fraction: 0.25, platform: juniper_junos, accepts: [local], config_bytes: 65536 }
//!   - { fraction: 0.05, fault: port_closed }
//!   - { count: 100, latency: { rtt_ms: 250, aaa_accept_ms: 2000 } }  # a far site
//!   - { platform: linux }    # no count or fraction: the rest of `devices`
//! ```
//!
//! Group keys: `count` or `fraction` (of the total) or neither (the rest; at most one such
//! group), `platform` (default `linux`), `accepts` (credential names; default the first
//! credential, `[]` for a device that accepts nothing), `accepts_keys` (credential names
//! whose `public_key` the device takes, as its `authorized_keys`; default none: the device
//! does not offer `publickey`), `fault` (see [`Fault`]), `latency` (see
//! [`crate::Latency`]; a group's replaces the file's whole, knobs it leaves out are 0),
//! `config_bytes` (default 4096), `tags` (default `fleet` and `site-<i % 4>`). Devices are
//! numbered across groups in file order (`dev-00001`, ...); `cisco_ios` devices get
//! [`enable_secret`]. Unknown keys are errors. The total is `devices`, else the caller's
//! count, else the sum of the `count`s. `drift` (0..=1, default 0) is the share of devices
//! whose configuration changes each time the fleet drifts (`POST /drift`, see
//! [`crate::drift`]).
//!
//! `bastion: { tags: [site-1], max_channels: 8 }` (optional) adds a device `bastion-1`
//! that plays a jump host ([`crate::bastion`]) for every device carrying one of `tags`,
//! and a credential `bastion` (user `jump`, tagged `bastion`) it accepts; the written
//! inventory puts those devices behind it.

use std::path::Path;

use serde::Deserialize;

use crate::scenario::{device_name, enable_secret, standard_credentials, SCENARIO_CONFIG_BYTES};
use crate::seed::{Rng, ALNUM};
use crate::{CredentialSpec, DeviceSpec, Fault, FleetSpec, Latency, Platform, SimError};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub devices: Option<usize>,
    #[serde(default)]
    pub credentials: Option<Vec<FileCredential>>,
    /// The share of devices that change their configuration at each drift epoch.
    #[serde(default)]
    pub drift: Option<f64>,
    pub groups: Vec<DeviceGroup>,
    /// A jump host in front of the devices with these tags.
    #[serde(default)]
    pub bastion: Option<FileBastion>,
    /// How slowly every group's devices answer, unless a group says otherwise.
    #[serde(default)]
    pub latency: Option<Latency>,
}

/// A bastion in front of some of the fleet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBastion {
    /// Devices with any of these tags are reached through it.
    pub tags: Vec<String>,
    #[serde(default)]
    pub max_channels: Option<u32>,
}

/// The name of a scenario file's bastion device and of its credential.
pub const BASTION: &str = "bastion-1";

/// A credential; without `password`, one is derived from the seed and the name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCredential {
    pub name: String,
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    /// An OpenSSH public key line: devices whose group names this credential in
    /// `accepts_keys` take its private key.
    #[serde(default)]
    pub public_key: Option<String>,
    pub priority: i32,
    #[serde(default = "fleet_tag")]
    pub tags: Vec<String>,
}

/// Devices that are alike but for their names, keys and configs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceGroup {
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub fraction: Option<f64>,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub accepts: Option<Vec<String>>,
    #[serde(default)]
    pub accepts_keys: Option<Vec<String>>,
    #[serde(default)]
    pub fault: Option<Fault>,
    #[serde(default)]
    pub config_bytes: Option<usize>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub latency: Option<Latency>,
}

fn fleet_tag() -> Vec<String> {
    vec!["fleet".to_string()]
}

/// Reads `path` and builds its fleet (`devices`, `seed`: used where the file is silent).
pub fn load(path: &Path, devices: Option<usize>, seed: u64) -> Result<FleetSpec, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file: ScenarioFile =
        serde_yaml_ng::from_str(&text).map_err(|e| SimError::ScenarioFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    build(&file, devices, seed).map_err(|reason| SimError::ScenarioFile {
        path: path.to_path_buf(),
        reason,
    })
}

/// The fleet a parsed file describes; errors are messages about the file.
pub fn build(file: &ScenarioFile, devices: Option<usize>, seed: u64) -> Result<FleetSpec, String> {
    let seed = file.seed.unwrap_or(seed);
    let credentials = match &file.credentials {
        None => standard_credentials(seed),
        Some(list) => list
            .iter()
            .map(|c| CredentialSpec {
                name: c.name.clone(),
                username: c.username.clone(),
                password: c.password.clone().unwrap_or_else(|| {
                    Rng::new(seed, &format!("credential/{}", c.name)).string(20, ALNUM)
                }),
                priority: c.priority,
                tags: c.tags.clone(),
                enable_secret: None,
            })
            .collect(),
    };
    let counts = counts(file, devices)?;
    let first = credentials
        .iter()
        .min_by_key(|c| c.priority)
        .map(|c| c.name.clone());
    let mut out = Vec::with_capacity(counts.iter().sum());
    for (g, (group, count)) in file.groups.iter().zip(counts).enumerate() {
        let names = match &group.accepts {
            Some(names) => names.clone(),
            None => first.iter().cloned().collect(),
        };
        let mut accepts = Vec::with_capacity(names.len());
        for name in &names {
            let c = credentials
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| format!("group {}: accepts unknown credential {name:?}", g + 1))?;
            accepts.push((c.username.clone(), c.password.clone()));
        }
        let mut accepts_keys = Vec::new();
        for name in group.accepts_keys.iter().flatten() {
            let c = file
                .credentials
                .iter()
                .flatten()
                .find(|c| &c.name == name)
                .ok_or_else(|| {
                    format!(
                        "group {}: accepts_keys names unknown credential {name:?}",
                        g + 1
                    )
                })?;
            let key = c.public_key.clone().ok_or_else(|| {
                format!(
                    "group {}: accepts_keys names credential {name:?}, which has no public_key",
                    g + 1
                )
            })?;
            accepts_keys.push((c.username.clone(), key));
        }
        let platform = group.platform.unwrap_or(Platform::Linux);
        for _ in 0..count {
            let i = out.len() + 1;
            let mut d = DeviceSpec::new(device_name(i), platform);
            d.tags = group
                .tags
                .clone()
                .unwrap_or_else(|| vec!["fleet".to_string(), format!("site-{}", i % 4)]);
            d.accepts = accepts.clone();
            d.accepts_keys = accepts_keys.clone();
            d.config_bytes = group.config_bytes.unwrap_or(SCENARIO_CONFIG_BYTES);
            d.fault = group.fault;
            d.latency = group.latency.or(file.latency).unwrap_or_default();
            if platform.has_enable() {
                d.enable_secret = Some(enable_secret(seed, &d.name));
            }
            out.push(d);
        }
    }
    let drift = file.drift.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&drift) {
        return Err(format!("drift {drift} is not a share in 0..=1"));
    }
    let mut credentials = credentials;
    if let Some(b) = &file.bastion {
        let password = Rng::new(seed, "credential/bastion").string(20, ALNUM);
        credentials.push(CredentialSpec {
            name: "bastion".into(),
            username: "jump".into(),
            password: password.clone(),
            priority: 1000,
            tags: vec!["bastion".into()],
            enable_secret: None,
        });
        let reach = out
            .iter()
            .filter(|d| d.tags.iter().any(|t| b.tags.contains(t)))
            .map(|d| d.name.clone())
            .collect();
        let mut d = DeviceSpec::new(BASTION, Platform::Linux);
        d.tags = vec!["bastion".into()];
        d.accepts = vec![("jump".into(), password)];
        d.bastion = Some(crate::BastionSpec {
            reach,
            max_channels: b.max_channels,
            open_delay_ms: 0,
        });
        out.push(d);
    }
    Ok(FleetSpec {
        seed,
        credentials,
        devices: out,
        drift,
    })
}

/// How many devices each group gets.
fn counts(file: &ScenarioFile, devices: Option<usize>) -> Result<Vec<usize>, String> {
    let fixed: usize = file.groups.iter().filter_map(|g| g.count).sum();
    let total = file.devices.or(devices);
    let mut rest_group = None;
    let mut counts = Vec::with_capacity(file.groups.len());
    for (i, g) in file.groups.iter().enumerate() {
        let n = match (g.count, g.fraction) {
            (Some(_), Some(_)) => {
                return Err(format!("group {}: give count or fraction, not both", i + 1))
            }
            (Some(n), None) => n,
            (None, Some(f)) if (0.0..=1.0).contains(&f) => {
                let total = total.ok_or_else(|| {
                    format!("group {}: a fraction needs `devices` (or --devices)", i + 1)
                })?;
                (f * total as f64).round() as usize
            }
            (None, Some(f)) => {
                return Err(format!("group {}: fraction {f} is not in 0..=1", i + 1))
            }
            (None, None) => {
                if rest_group.replace(i).is_some() {
                    return Err("only one group may omit both count and fraction".into());
                }
                0
            }
        };
        counts.push(n);
    }
    if let Some(i) = rest_group {
        let total = total.unwrap_or(fixed);
        let taken: usize = counts.iter().sum();
        counts[i] = total.checked_sub(taken).ok_or_else(|| {
            format!("the groups ask for {taken} devices, more than the total {total}")
        })?;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> ScenarioFile {
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn fractions_counts_and_the_rest_add_up() {
        let f = parse(
            "devices: 100\ngroups:\n  - {count: 7, platform: cisco_ios, fault: silent}\n  - {fraction: 0.25, accepts: [breakglass]}\n  - {platform: juniper_junos}\n",
        );
        let spec = build(&f, None, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.devices.len(), 100);
        assert_eq!(spec.devices[0].fault, Some(Fault::Silent));
        assert!(spec.devices[0].enable_secret.is_some());
        assert_eq!(spec.devices[7].accepts[0].0, "breakglass");
        assert_eq!(spec.devices[32].platform, Platform::JuniperJunos);
        assert_eq!(spec.devices[99].accepts[0].0, "netops");
    }

    #[test]
    fn a_groups_latency_replaces_the_files() {
        let f = parse(
            "latency: {rtt_ms: 40, aaa_accept_ms: 300}\ngroups:\n  - {count: 2}\n  - {count: 1, latency: {rtt_ms: 250}}\n",
        );
        let spec = build(&f, None, 1).unwrap_or_else(|e| panic!("{e}"));
        let near = spec.devices[0].latency;
        assert_eq!((near.rtt_ms, near.aaa_accept_ms), (40, 300));
        let far = spec.devices[2].latency;
        assert_eq!((far.rtt_ms, far.aaa_accept_ms), (250, 0));
        let plain = parse("groups:\n  - {count: 1}\n");
        let spec = build(&plain, None, 1).unwrap_or_else(|e| panic!("{e}"));
        assert!(spec.devices[0].latency.is_zero());
        assert!(serde_yaml_ng::from_str::<ScenarioFile>(
            "groups:\n  - {count: 1, latency: {rtt: 5}}\n"
        )
        .is_err());
    }

    #[test]
    fn mistakes_are_named() {
        let unknown = parse("groups:\n  - {count: 1, accepts: [nobody]}\n");
        assert!(build(&unknown, None, 1).is_err_and(|e| e.contains("nobody")));
        let too_many = parse("devices: 3\ngroups:\n  - {count: 5}\n  - {}\n");
        assert!(build(&too_many, None, 1).is_err());
        let drifting = parse("drift: 1.5\ngroups:\n  - {count: 1}\n");
        assert!(build(&drifting, None, 1).is_err_and(|e| e.contains("drift 1.5")));
        let drifting = parse("drift: 0.25\ngroups:\n  - {count: 4}\n");
        assert_eq!(build(&drifting, None, 1).map(|s| s.drift), Ok(0.25));
        let no_total = parse("groups:\n  - {fraction: 0.5}\n");
        assert!(build(&no_total, None, 1).is_err());
        assert!(
            serde_yaml_ng::from_str::<ScenarioFile>("groups: [{count: 1, colour: red}]").is_err()
        );
        assert!(serde_yaml_ng::from_str::<ScenarioFile>("groups: [{fault: on_fire}]").is_err());
    }

    #[test]
    fn key_only_password_only_and_mixed_groups() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPQdQ7pxwpjdGlpOb3hjoCjgMA8/sJYcTW6pF1FoZhZm";
        let f = parse(&format!(
            "credentials:\n  - {{name: local, username: admin, password: pw, priority: 20}}\n  \
             - {{name: auto, username: auto, priority: 5, public_key: \"{key}\"}}\n\
             groups:\n  - {{count: 1, accepts: [], accepts_keys: [auto]}}\n  \
             - {{count: 1, accepts: [local]}}\n  \
             - {{count: 1, accepts: [local], accepts_keys: [auto]}}\n"
        ));
        let spec = build(&f, None, 1).unwrap_or_else(|e| panic!("{e}"));
        let d = &spec.devices;
        assert!(d[0].accepts.is_empty() && d[0].accepts_keys == [("auto".into(), key.into())]);
        assert!(d[1].accepts_keys.is_empty() && d[1].accepts.len() == 1);
        assert_eq!((d[2].accepts.len(), d[2].accepts_keys.len()), (1, 1));
        let keyless = parse(
            "credentials:\n  - {name: local, username: admin, priority: 1}\n\
             groups:\n  - {count: 1, accepts_keys: [local]}\n",
        );
        assert!(build(&keyless, None, 1).is_err_and(|e| e.contains("no public_key")));
    }
}
