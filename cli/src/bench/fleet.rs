//! The benchmark's simulated network: linux devices with 20 KB configurations, 60 % of
//! which accept the first credential, 30 % the second and 10 % the third.

use anyhow::Result;
use netraven_simulator::scenario::standard_credentials;
use netraven_simulator::{DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec, Platform};
use std::net::{IpAddr, Ipv4Addr};

/// Devices one loopback address holds (simulator ports stay below 32768).
const PER_ADDRESS: usize = 25_000;
pub const CONFIG_BYTES: usize = 20 * 1024;
pub const SEED: u64 = 7_000;

/// Which credential device `i` accepts: 0 for 60 %, 1 for 30 %, 2 for 10 %.
pub fn accepted_credential(i: usize) -> usize {
    match i % 10 {
        0..=5 => 0,
        6..=8 => 1,
        _ => 2,
    }
}

/// The specs for `devices` devices, split over as many loopback addresses as needed.
pub fn specs(devices: usize, fault: Option<Fault>) -> Vec<FleetSpec> {
    let credentials = standard_credentials(SEED);
    let mut out = Vec::new();
    for start in (0..devices).step_by(PER_ADDRESS) {
        let end = (start + PER_ADDRESS).min(devices);
        let specs = (start..end)
            .map(|i| {
                let c = &credentials[accepted_credential(i)];
                let mut d = DeviceSpec::new(format!("bench-{i:06}"), Platform::Linux);
                d.tags = vec!["fleet".into()];
                d.accepts = vec![(c.username.clone(), c.password.clone())];
                d.config_bytes = CONFIG_BYTES;
                d.fault = fault;
                d
            })
            .collect();
        out.push(FleetSpec {
            seed: SEED,
            credentials: credentials.clone(),
            devices: specs,
        });
    }
    out
}

/// Starts the fleets: 127.0.0.1 for the first 25,000 devices, 127.0.0.2 for the next...
pub async fn start(specs: Vec<FleetSpec>) -> Result<Vec<Fleet>> {
    let mut fleets = Vec::new();
    for (n, spec) in specs.into_iter().enumerate() {
        let bind = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + n as u8));
        fleets.push(
            Fleet::start(
                spec,
                FleetOptions {
                    bind,
                    base_port: 5_000,
                    auth_rejection_ms: 0,
                },
            )
            .await?,
        );
    }
    Ok(fleets)
}
