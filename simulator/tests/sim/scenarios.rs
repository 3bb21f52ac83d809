//! Scenarios with faults: the `hostile` preset's mix, and scenario files on disk.

use crate::common;
use netraven_simulator::{scenario, DeviceSpec, Fault, Fleet, FleetOptions, Platform};

#[tokio::test]
async fn hostile_scenario_has_every_fault_across_platforms_and_healthy_devices() {
    let spec = scenario("hostile", 60, 9).unwrap();
    for f in Fault::ALL {
        let with: Vec<&DeviceSpec> = spec.devices.iter().filter(|d| d.fault == Some(f)).collect();
        assert_eq!(with.len(), 3, "{f}");
        let mut platforms: Vec<Platform> = with.iter().map(|d| d.platform).collect();
        platforms.sort();
        assert_eq!(
            platforms,
            Platform::PRESET.to_vec(),
            "{f} on every platform"
        );
    }
    let healthy = spec.devices.iter().filter(|d| d.fault.is_none()).count();
    assert_eq!(healthy, 27);
    for p in Platform::PRESET {
        assert_eq!(spec.devices.iter().filter(|d| d.platform == p).count(), 20);
    }
    assert!(scenario("hostile", 11, 9)
        .unwrap()
        .devices
        .iter()
        .all(|d| d.fault.is_some()));
    // It starts, with every port in the inventory.
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    assert_eq!(fleet.devices().len(), 60);
    assert_eq!(fleet.reports().len(), 60);
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_scenario_file_on_disk_becomes_a_fleet_with_its_faults() {
    let dir = common::scratch_dir("scenario");
    let path = dir.join("fleet.yaml");
    std::fs::write(
        &path,
        "seed: 3\ngroups:\n  - {count: 2, platform: cisco_ios, fault: slow_banner:100}\n  - {count: 1, fault: port_closed, accepts: []}\n  - {count: 3, platform: juniper_junos, config_bytes: 9000}\n",
    )
    .unwrap();
    let spec = netraven_simulator::scenario_file::load(&path, None, 99).unwrap();
    assert_eq!(spec.seed, 3);
    assert_eq!(spec.devices.len(), 6);
    assert!(spec.devices[2].accepts.is_empty());
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    let devs = fleet.devices();
    assert_eq!(devs[0].fault, Some(Fault::SlowBanner { delay_ms: 100 }));
    assert_eq!(devs[2].fault, Some(Fault::PortClosed));
    assert!(tokio::net::TcpStream::connect((devs[2].host, devs[2].port))
        .await
        .is_err());
    assert_eq!(devs[5].platform, Platform::JuniperJunos);
    fleet.shutdown().await;
    let missing = netraven_simulator::scenario_file::load(&dir.join("nope.yaml"), None, 1);
    assert!(missing.unwrap_err().to_string().contains("nope.yaml"));
}
