//! The host-key tests' fleet, the keys its devices serve, and `netraven device host-key` runs.

use base64::Engine as _;
use netraven_simulator::{DeviceSpec, Fault, Fleet, Platform};
use netraven_tests::{credential, FleetBuilder, TestEnv};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

pub(super) const JOB_TIMEOUT: Duration = Duration::from_secs(45);
pub(super) const SEED: u64 = 1717;
pub(super) const USER: &str = "netops";
pub(super) const SECRET: &str = "tacacs-secret";

pub(super) async fn fleet(
    devices: &[(&str, Platform, Option<Fault>)],
    base_port: u16,
) -> anyhow::Result<Fleet> {
    FleetBuilder::new(SEED)
        .credential(credential("tacacs", USER, SECRET).tags(&["hk"]))
        .devices(devices.iter().map(|(name, platform, fault)| {
            let mut d = DeviceSpec::new(*name, *platform);
            d.tags = vec!["hk".into()];
            d.accepts = vec![(USER.into(), SECRET.into())];
            d.fault = *fault;
            if *platform == Platform::CiscoIos {
                d.enable_secret = Some(SECRET.into());
            }
            d
        }))
        .base_port(base_port)
        .start()
        .await
}

/// `(port, OpenSSH key line without comment)` of each device.
pub(super) fn served(fleet: &Fleet) -> HashMap<String, (u16, String)> {
    fleet
        .devices()
        .into_iter()
        .map(|d| {
            let key = d
                .host_key
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            (d.name, (d.port, key))
        })
        .collect()
}

pub(super) fn fingerprint(line: &str) -> String {
    netraven_worker::ssh::fingerprint_of_line(line).expect("key line parses")
}

/// A hashed known_hosts name, as `ssh-keygen -H` writes it.
pub(super) fn hashed(name: &str) -> String {
    let salt = *uuid::Uuid::new_v4().as_bytes();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    let tag = ring::hmac::sign(&key, name.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    format!("|1|{}|{}", b64.encode(salt), b64.encode(tag.as_ref()))
}

/// Runs `netraven device host-key ARGS --json`; the parsed output, or the error text.
pub(super) fn host_key(env: &TestEnv, args: &[&str]) -> anyhow::Result<Result<Value, String>> {
    let out = env
        .command()?
        .args(["device", "host-key"])
        .args(args)
        .arg("--json")
        .output()?;
    if out.status.success() {
        Ok(Ok(serde_json::from_slice(&out.stdout)?))
    } else {
        Ok(Err(String::from_utf8_lossy(&out.stderr).into_owned()))
    }
}

pub(super) fn ok(r: Result<Value, String>) -> Value {
    r.unwrap_or_else(|e| panic!("netraven device host-key failed: {e}"))
}
