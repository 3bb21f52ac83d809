//! Jump hosts: devices reached through SSH bastions, on simulated bastions in front of
//! simulated sites (and OpenSSH's sshd as a bastion).
//!
//! - [`site`]: twenty-four devices behind one bastion share one connection per worker
//!   under the cap; a tag's jump host applies to its devices; a two-hop chain; a
//!   reachability job through the bastion.
//! - [`failures`]: every hop's failure ends in its outcome, with a reason naming the hop.
//! - [`import`]: inventory problems with jump hosts, with their lines; nothing imported.
//! - [`sshd`]: OpenSSH's sshd as the bastion, logged in to by key, its host key pinned.
//! - [`turns`]: devices waiting for a large-output turn hold up no one behind the bastion.

mod failures;
mod import;
mod site;
mod sshd;
mod turns;

use netraven_simulator::{BastionSpec, DeviceSpec, Fleet, Platform, RunningDevice};
use netraven_tests::TestEnv;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

pub(super) const JOB_TIMEOUT: Duration = Duration::from_secs(60);
pub(super) const USER: &str = "netops";
pub(super) const SECRET: &str = "tacacs-secret";
pub(super) const JUMP_USER: &str = "jump";
pub(super) const JUMP_SECRET: &str = "jump-secret";

/// A site device: accepts the `tacacs` credential.
pub(super) fn site_device(name: &str, platform: Platform) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, platform);
    d.accepts = vec![(USER.into(), SECRET.into())];
    if platform == Platform::CiscoIos {
        d.enable_secret = Some(SECRET.into());
    }
    d
}

/// A bastion: a linux device that accepts the `jump` login and reaches `reach`.
pub(super) fn bastion(name: &str, reach: &[&str]) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, Platform::Linux);
    d.accepts = vec![(JUMP_USER.into(), JUMP_SECRET.into())];
    d.bastion = Some(BastionSpec {
        reach: reach.iter().map(|s| s.to_string()).collect(),
        max_channels: None,
        open_delay_ms: 0,
    });
    d
}

/// A jump host entry of an inventory.
pub(super) struct Jump<'a> {
    pub name: &'a str,
    /// The simulated device that plays it.
    pub device: &'a str,
    pub credential: &'a str,
    /// The device whose host key is pinned for it (itself, unless a test says otherwise).
    pub key_of: &'a str,
    pub via: Option<&'a str>,
    pub max_channels: u32,
}

/// An inventory for `fleet`: the `tacacs` credential (tag `site`) and the jump
/// credentials, the jump hosts, the tags with their jump hosts, and the devices (all
/// tagged `site`, each with its own jump host if `own` names one). Bastions are not
/// devices of the inventory.
pub(super) fn inventory(
    fleet: &Fleet,
    jumps: &[Jump<'_>],
    tags: &[(&str, Option<&str>)],
    devices: &[(&str, &[&str], Option<&str>)],
    jump_credentials: &[(&str, &str, &str)],
) -> String {
    let running: HashMap<String, RunningDevice> = fleet
        .devices()
        .into_iter()
        .map(|d| (d.name.clone(), d))
        .collect();
    let mut y = String::from("tags:\n  - name: jump\n");
    for (tag, jump) in tags {
        let _ = writeln!(y, "  - name: {tag}");
        if let Some(j) = jump {
            let _ = writeln!(y, "    jump_host: {j}");
        }
    }
    let _ = writeln!(
        y,
        "credentials:\n  - {{ name: tacacs, username: {USER}, secret: {SECRET}, tags: [site] }}"
    );
    for (name, user, secret) in jump_credentials {
        let _ = writeln!(
            y,
            "  - {{ name: {name}, username: {user}, secret: {secret}, tags: [jump] }}"
        );
    }
    y.push_str("jump_hosts:\n");
    for j in jumps {
        let d = &running[j.device];
        let key = running[j.key_of]
            .host_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            y,
            "  - name: {}\n    host: {}\n    port: {}\n    credential: {}\n    host_key: {key}\n    max_channels: {}",
            j.name, d.host, d.port, j.credential, j.max_channels
        );
        if let Some(via) = j.via {
            let _ = writeln!(y, "    via: {via}");
        }
    }
    y.push_str("devices:\n");
    for (name, device_tags, own) in devices {
        let d = &running[*name];
        let _ = writeln!(
            y,
            "  - name: {name}\n    host: {}\n    port: {}\n    platform: {}\n    tags: [{}]",
            d.host,
            d.port,
            d.platform,
            device_tags.join(", ")
        );
        if let Some(j) = own {
            let _ = writeln!(y, "    jump_host: {j}");
        }
    }
    y
}

/// An inventory of `devices` (tagged `site`) reached through the one bastion `name` (the
/// simulated device of that name, its own key pinned, the `jump-cred` credential), at
/// most `cap` channels at once.
pub(super) fn behind_one_bastion(fleet: &Fleet, name: &str, devices: &[&str], cap: u32) -> String {
    let rows: Vec<(&str, &[&str], Option<&str>)> =
        devices.iter().map(|n| (*n, &["site"][..], None)).collect();
    inventory(
        fleet,
        &[Jump {
            name,
            device: name,
            credential: "jump-cred",
            key_of: name,
            via: None,
            max_channels: cap,
        }],
        &[("site", Some(name))],
        &rows,
        &[("jump-cred", JUMP_USER, JUMP_SECRET)],
    )
}

/// Every device of `results` backed up, `n` of them.
pub(super) fn all_succeeded(results: &[netraven_dispatcher::job_rows::DeviceResult], n: usize) {
    for r in results {
        assert_eq!(
            r.outcome,
            netraven_shared::domain::Outcome::Success,
            "{}: {}",
            r.device_name,
            r.reason
        );
    }
    assert_eq!(results.len(), n);
}

/// Writes `yaml` into the test's folder and imports it.
pub(super) async fn import(env: &TestEnv, yaml: &str) -> anyhow::Result<()> {
    let path = env
        .dir
        .path()
        .join(format!("jumps-{}.yaml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, yaml)?;
    env.import_file(&path).await?;
    Ok(())
}
