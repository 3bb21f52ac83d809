//! Fleet-level behaviour: host keys, ports, determinism, scenarios, inventory, control.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use crate::common::{self, Client};
use netraven_simulator::inventory;
use netraven_simulator::{scenario, Fleet, FleetOptions, Platform, SimError};

#[tokio::test]
async fn host_keys_survive_a_restart_with_the_same_seed_and_change_with_another() {
    let spec = scenario("all-good", 3, 99).unwrap();
    let first = Fleet::start(spec.clone(), FleetOptions::random_base())
        .await
        .unwrap();
    let keys1: Vec<String> = first.devices().into_iter().map(|d| d.host_key).collect();
    // The key the client sees is the advertised one.
    let c = Client::connect(&first.devices()[1]).await;
    assert!(
        keys1[1].starts_with(&c.server_key()),
        "{} vs {}",
        keys1[1],
        c.server_key()
    );
    assert!(keys1[1].starts_with("ssh-ed25519 "));
    drop(c);
    first.shutdown().await;

    let again = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    let keys2: Vec<String> = again.devices().into_iter().map(|d| d.host_key).collect();
    assert_eq!(keys1, keys2);
    let c = Client::connect(&again.devices()[1]).await;
    assert!(keys1[1].starts_with(&c.server_key()));
    again.shutdown().await;

    let other = Fleet::start(
        scenario("all-good", 3, 100).unwrap(),
        FleetOptions::random_base(),
    )
    .await
    .unwrap();
    assert_ne!(other.devices()[0].host_key, keys1[0]);
    // Every device has its own key.
    assert_ne!(keys1[0], keys1[1]);
    other.shutdown().await;
}

#[tokio::test]
async fn configs_and_passwords_are_identical_for_the_same_seed() {
    let a = scenario("mixed", 5, 1234).unwrap();
    assert_eq!(a, scenario("mixed", 5, 1234).unwrap());
    assert_ne!(
        a.credentials,
        scenario("mixed", 5, 1235).unwrap().credentials
    );
    let fa = Fleet::start(a.clone(), FleetOptions::random_base())
        .await
        .unwrap();
    let fb = Fleet::start(a, FleetOptions::random_base()).await.unwrap();
    for d in ["dev-00001", "dev-00005"] {
        assert_eq!(fa.expected_config(d), fb.expected_config(d));
    }
    assert_ne!(
        fa.expected_config("dev-00001"),
        fa.expected_config("dev-00002")
    );
    assert_eq!(fa.expected_config("missing"), None);
    fa.shutdown().await;
    fb.shutdown().await;
}

#[tokio::test]
async fn a_taken_port_is_skipped() {
    let mut opts = FleetOptions::random_base();
    // Hold the first port ourselves (the first free one from the random base).
    let squatter = (opts.base_port..32000)
        .find_map(|p| std::net::TcpListener::bind((opts.bind, p)).ok())
        .unwrap();
    let taken = squatter.local_addr().unwrap().port();
    opts.base_port = taken;
    let fleet = Fleet::start(scenario("all-good", 3, 5).unwrap(), opts.clone())
        .await
        .unwrap();
    let ports: Vec<u16> = fleet.devices().iter().map(|d| d.port).collect();
    assert!(!ports.contains(&taken), "{ports:?}");
    assert!(ports[0] > taken, "{ports:?}");
    assert!(ports.windows(2).all(|w| w[0] < w[1]), "{ports:?}");
    assert!(ports.iter().all(|&p| p < 32768));
    // Every device still answers SSH, and the squatter still holds its port.
    for d in fleet.devices() {
        let _ = Client::connect(&d).await;
    }
    drop(squatter);
    fleet.shutdown().await;
}

#[tokio::test]
async fn ports_at_the_ephemeral_range_are_refused() {
    let mut opts = FleetOptions::random_base();
    opts.base_port = 32767;
    let err = Fleet::start(scenario("all-good", 2, 5).unwrap(), opts)
        .await
        .unwrap_err();
    assert!(matches!(err, SimError::NoFreePort { .. }), "{err}");
}

#[test]
fn mixed_scenario_has_the_documented_proportions() {
    let spec = scenario("mixed", 100, 3).unwrap();
    assert_eq!(spec.devices.len(), 100);
    assert_eq!(spec.devices[0].name, "dev-00001");
    let names: Vec<&str> = spec.credentials.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["tacacs", "breakglass", "vendor-default"]);
    let users: Vec<&str> = spec
        .credentials
        .iter()
        .map(|c| c.username.as_str())
        .collect();
    assert_eq!(users, ["netops", "breakglass", "admin"]);
    assert!(spec
        .credentials
        .iter()
        .all(|c| c.tags == ["fleet"] && c.password.len() >= 16));
    let accepting = |cred: usize| {
        let c = &spec.credentials[cred];
        spec.devices
            .iter()
            .filter(|d| d.tags.contains(&"fleet".into()))
            .filter(|d| {
                d.accepts
                    .contains(&(c.username.clone(), c.password.clone()))
            })
            .count()
    };
    assert_eq!([accepting(0), accepting(1), accepting(2)], [50, 20, 10]);
    let nothing = spec.devices.iter().filter(|d| d.accepts.is_empty()).count();
    assert_eq!(nothing, 10);
    let orphans: Vec<_> = spec
        .devices
        .iter()
        .filter(|d| d.tags == ["orphan"])
        .collect();
    assert_eq!(orphans.len(), 10);
    assert_eq!(spec.devices[8].tags, ["orphan"]); // dev-00009
    assert_eq!(spec.devices[0].tags, ["fleet", "site-1"]);
    // A third of each platform, device 1 linux; a cisco device's enable secret is the
    // secret it accepts at login.
    for platform in Platform::PRESET {
        let n = spec
            .devices
            .iter()
            .filter(|d| d.platform == platform)
            .count();
        assert!((33..=34).contains(&n), "{platform}: {n}");
    }
    assert_eq!(spec.devices[0].platform, Platform::Linux);
    for d in spec
        .devices
        .iter()
        .filter(|d| d.platform == Platform::CiscoIos)
    {
        if let Some((_, password)) = d.accepts.first() {
            assert_eq!(d.enable_secret.as_ref(), Some(password));
        }
    }

    let good = scenario("all-good", 20, 3).unwrap();
    let tacacs = &good.credentials[0];
    assert!(good
        .devices
        .iter()
        .all(|d| d.accepts == [(tacacs.username.clone(), tacacs.password.clone())]));
    assert!(matches!(
        scenario("nope", 1, 0),
        Err(SimError::UnknownScenario(_))
    ));
}

#[test]
fn platform_names_round_trip() {
    for p in Platform::ALL {
        assert_eq!(p.to_string().parse::<Platform>().unwrap(), p);
        assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
    }
    assert_eq!("cisco_ios".parse::<Platform>().unwrap(), Platform::CiscoIos);
    assert!("ios".parse::<Platform>().is_err());
}

#[tokio::test]
async fn inventory_round_trips_and_keeps_secrets_out_of_the_yaml() {
    let spec = scenario("mixed", 12, 8).unwrap();
    let fleet = Fleet::start(spec.clone(), FleetOptions::random_base())
        .await
        .unwrap();
    let dir = common::scratch_dir("inventory");
    let path = dir.join("dev.yaml");
    fleet.write_inventory(&path).unwrap();

    let yaml = std::fs::read_to_string(&path).unwrap();
    for c in &spec.credentials {
        assert!(
            !yaml.contains(&c.password),
            "secret of {} in the YAML",
            c.name
        );
    }
    let inv = inventory::read(&path).unwrap();
    assert_eq!(inv.devices.len(), 12);
    for (d, r) in inv.devices.iter().zip(fleet.devices()) {
        assert_eq!(
            (d.name.as_str(), d.port, d.platform),
            (r.name.as_str(), r.port, r.platform)
        );
        assert_eq!(d.host, "127.0.0.1");
        assert_eq!(d.tags, r.tags);
    }
    assert_eq!(inv.credentials.len(), 3);
    for (c, s) in inv.credentials.iter().zip(&spec.credentials) {
        assert_eq!(
            (&c.name, &c.username, c.priority, &c.tags),
            (&s.name, &s.username, s.priority, &s.tags)
        );
        assert_eq!(c.secret_file, format!("dev.secrets/{}", s.name));
        let secret_path = dir.join(&c.secret_file);
        assert_eq!(std::fs::read_to_string(&secret_path).unwrap(), s.password);
        let mode = std::fs::metadata(&secret_path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{}", secret_path.display());
    }
    // The documented shape, key for key.
    let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(raw["credentials"][0]["name"].as_str(), Some("tacacs"));
    assert_eq!(raw["credentials"][0]["priority"].as_i64(), Some(10));
    assert_eq!(raw["devices"][0]["platform"].as_str(), Some("linux"));
    assert_eq!(raw["devices"][0]["tags"][1].as_str(), Some("site-1"));
    fleet.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn control_endpoint_serves_devices_and_attempts_as_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let spec = scenario("all-good", 2, 4).unwrap();
    let (user, pw) = spec.devices[0].accepts[0].clone();
    let fleet = Arc::new(
        Fleet::start(spec, FleetOptions::random_base())
            .await
            .unwrap(),
    );
    let mut c = Client::connect(&fleet.devices()[0]).await;
    assert!(c.password(&user, &pw).await);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = fleet.shutdown_token();
    let server = tokio::spawn(netraven_simulator::serve_control_on(
        fleet.clone(),
        listener,
        stop.clone(),
    ));
    let get = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        let (head, body) = body.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        serde_json::from_str::<serde_json::Value>(body).unwrap()
    };
    let devices = common::within("GET /devices", get("/devices")).await;
    assert_eq!(devices[1]["name"], "dev-00002");
    assert_eq!(devices[0]["platform"], "linux");
    let attempts = common::within("GET /attempts", get("/attempts")).await;
    assert_eq!(attempts["dev-00001"][0]["method"], "password");
    assert_eq!(attempts["dev-00001"][0]["accepted"], true);
    assert_eq!(attempts["dev-00001"][0]["username"], user);

    fleet.stop().await;
    common::within("control shutdown", server)
        .await
        .unwrap()
        .unwrap();
}
