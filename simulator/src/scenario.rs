//! Ready-made fleets: `all-good`, `mixed`, `multi-vendor` and `hostile`.
//!
//! Devices are named `dev-00001`, `dev-00002`, ... and `i` below is that number (from 1).
//! Every scenario has the same three credentials, all tagged `fleet`, with passwords
//! derived from the seed:
//!
//! | credential       | username     | priority |
//! |------------------|--------------|----------|
//! | `tacacs`         | `netops`     | 10       |
//! | `breakglass`     | `breakglass` | 20       |
//! | `vendor-default` | `admin`      | 30       |
//!
//! Devices are tagged `fleet` and `site-<i % 4>`, except orphans (tagged `orphan` only).
//!
//! - `all-good`: every device accepts `tacacs`. Platforms by `(i - 1) % 3`: `linux`,
//!   `cisco_ios`, `juniper_junos` (a third each; device 1 is `linux`).
//! - `mixed` (by `i % 10`), platforms as in `all-good`:
//!   - 0–4 (50 %): accept only `tacacs`;
//!   - 5–6 (20 %): accept only `breakglass`;
//!   - 7 (10 %): accept only `vendor-default`;
//!   - 8 (10 %): accept nothing: every credential is rejected (`AUTH_FAILED`);
//!   - 9 (10 %): tagged `orphan` only: no credential matches (`NO_CREDENTIALS`).
//! - `multi-vendor`: the credentials of `mixed`, and platforms by `i % 3`: 0 `linux`,
//!   1 `cisco_ios`, 2 `juniper_junos` (a third each). `cisco_ios` devices have an enable
//!   secret derived from the seed (see [`enable_secret`]).
//! - `hostile`: platforms by `i % 3` as in `multi-vendor`, tagged `fleet` and `site-<i % 4>`
//!   (no orphans). By `(i - 1) % 20`, 0–10 (55 %) each play one fault of [`Fault::ALL`]
//!   in that order, with default parameters, and 11–19 (45 %) are healthy, so from 11
//!   devices up every fault is present:
//!
//!   | `(i-1) % 20` | fault                       | accepts          | a careful client sees |
//!   |---|---|---|---|
//!   | 0  | `port_closed`               | `tacacs`         | connection refused |
//!   | 1  | `silent`                    | `tacacs`         | handshake timeout |
//!   | 2  | `slow_banner:3000`          | `tacacs`         | success, 3 s late |
//!   | 3  | `slow_auth:3000`            | `tacacs`         | success, 3 s late |
//!   | 4  | `keyboard_interactive_only` | `tacacs`         | success by keyboard-interactive |
//!   | 5  | `max_auth_tries:2`          | `vendor-default` | 2 rejections, then a disconnect |
//!   | 6  | `hang_after_login`          | `tacacs`         | command timeout |
//!   | 7  | `drop_mid_output`           | `tacacs`         | connection lost mid-reply |
//!   | 8  | `endless_output`            | `tacacs`         | output cap or deadline |
//!   | 9  | `host_key_changed`          | `tacacs`         | host key mismatch (once pinned) |
//!   | 10 | `legacy_algorithms`         | `tacacs`         | no common algorithm, unless legacy on |
//!   | 11–19 | none                     | `tacacs`         | success |

use crate::seed::{Rng, ALNUM};
use crate::{CredentialSpec, DeviceSpec, Fault, FleetSpec, Platform, SimError};

/// The names [`scenario`] knows.
pub const SCENARIOS: &[&str] = &["all-good", "mixed", "multi-vendor", "hostile"];

/// `hostile` devices come in blocks of this many: the first [`Fault::ALL`]`.len()` of each
/// block play one fault each, the rest are healthy.
pub const HOSTILE_BLOCK: usize = 20;

/// Approximate config size of scenario devices.
pub const SCENARIO_CONFIG_BYTES: usize = 4096;

/// Builds a named scenario of `devices` devices from `seed`.
pub fn scenario(name: &str, devices: usize, seed: u64) -> Result<FleetSpec, SimError> {
    let kind = match name {
        "all-good" => Kind::AllGood,
        "mixed" => Kind::Mixed,
        "multi-vendor" => Kind::MultiVendor,
        "hostile" => Kind::Hostile,
        _ => return Err(SimError::UnknownScenario(name.to_string())),
    };
    let credentials = standard_credentials(seed);
    let login = |k: usize| {
        credentials
            .get(k)
            .map(|c| (c.username.clone(), c.password.clone()))
    };
    let (tacacs, breakglass, vendor) = (login(0), login(1), login(2));
    let mut out = Vec::with_capacity(devices);
    for i in 1..=devices {
        // Every preset mixes the platforms, a third each; device 1 is always linux.
        let platform = match kind {
            Kind::MultiVendor | Kind::Hostile => Platform::PRESET[i % 3],
            Kind::AllGood | Kind::Mixed => Platform::PRESET[(i - 1) % 3],
        };
        let fault = match kind {
            Kind::Hostile => Fault::ALL.get((i - 1) % HOSTILE_BLOCK).copied(),
            _ => None,
        };
        let (accepts, orphan) = match (kind, i % 10) {
            (Kind::Hostile, _) if matches!(fault, Some(Fault::MaxAuthTries { .. })) => {
                (vendor.clone(), false)
            }
            (Kind::AllGood | Kind::Hostile, _) | (_, 0..=4) => (tacacs.clone(), false),
            (_, 5 | 6) => (breakglass.clone(), false),
            (_, 7) => (vendor.clone(), false),
            (_, 8) => (None, false),
            _ => (tacacs.clone(), true),
        };
        let mut d = DeviceSpec::new(device_name(i), platform);
        d.tags = if orphan {
            vec!["orphan".to_string()]
        } else {
            vec!["fleet".to_string(), format!("site-{}", i % 4)]
        };
        d.accepts = accepts.into_iter().collect();
        d.config_bytes = SCENARIO_CONFIG_BYTES;
        d.fault = fault;
        if platform.has_enable() {
            // As on AAA-backed devices: the secret that logs in also enables. A device that
            // accepts nothing gets a secret of its own.
            d.enable_secret = Some(match d.accepts.first() {
                Some((_, password)) if kind != Kind::MultiVendor => password.clone(),
                _ => enable_secret(seed, &d.name),
            });
        }
        out.push(d);
    }
    Ok(FleetSpec {
        seed,
        credentials,
        devices: out,
        drift: 0.0,
    })
}

/// `dev-00001` for `i == 1`.
pub fn device_name(i: usize) -> String {
    format!("dev-{i:05}")
}

/// The enable secret scenarios give a `cisco_ios` device.
pub fn enable_secret(seed: u64, device: &str) -> String {
    Rng::new(seed, &format!("enable/{device}")).string(16, ALNUM)
}

/// `tacacs`, `breakglass`, `vendor-default`, all tagged `fleet`, passwords from the seed.
pub fn standard_credentials(seed: u64) -> Vec<CredentialSpec> {
    [
        ("tacacs", "netops", 10),
        ("breakglass", "breakglass", 20),
        ("vendor-default", "admin", 30),
    ]
    .into_iter()
    .map(|(name, username, priority)| CredentialSpec {
        name: name.to_string(),
        username: username.to_string(),
        password: Rng::new(seed, &format!("credential/{name}")).string(20, ALNUM),
        priority,
        tags: vec!["fleet".to_string()],
        enable_secret: None,
    })
    .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    AllGood,
    Mixed,
    MultiVendor,
    Hostile,
}
