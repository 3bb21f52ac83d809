//! One device with one fault, and the ways a test meets it: logged in, or raw TCP.

use std::time::Duration;

use crate::common::Client;
use netraven_simulator::{
    DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec, Platform, RunningDevice,
};
use tokio::io::AsyncReadExt as _;

pub const USER: &str = "netops";
pub const PASSWORD: &str = "fault-line-7";
pub const SEED: u64 = 5;
pub const QUIET: Duration = Duration::from_millis(400);

pub async fn fleet_with(fault: Fault) -> (Fleet, RunningDevice) {
    let mut d = DeviceSpec::new(fault.name(), Platform::Linux);
    d.accepts = vec![(USER.into(), PASSWORD.into())];
    d.fault = Some(fault);
    let (fleet, dev) = fleet_of(d).await;
    assert_eq!(dev.fault, Some(fault));
    (fleet, dev)
}

/// A fleet of the one device `d`, on random ports.
pub async fn fleet_of(d: DeviceSpec) -> (Fleet, RunningDevice) {
    let spec = FleetSpec {
        drift: 0.0,
        seed: SEED,
        credentials: Vec::new(),
        devices: vec![d],
    };
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    let dev = fleet.devices().remove(0);
    (fleet, dev)
}

pub async fn logged_in(dev: &RunningDevice) -> Client {
    let mut c = Client::connect(dev).await;
    assert!(c.password(USER, PASSWORD).await, "{}", dev.name);
    c
}

/// Bytes from a fresh TCP connection within `wait` (empty if none came).
pub async fn first_bytes(dev: &RunningDevice, wait: Duration) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect((dev.host, dev.port))
        .await
        .unwrap();
    let mut buf = vec![0u8; 64];
    match tokio::time::timeout(wait, s.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].to_vec(),
        _ => Vec::new(),
    }
}
