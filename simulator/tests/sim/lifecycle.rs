//! Shutdown and load: a fleet stops promptly with clients attached, and a large fleet
//! takes many concurrent logins with exact ground truth.

use std::time::{Duration, Instant};

use crate::common::{self, Client};
use netraven_simulator::{scenario, Fleet, FleetOptions};

#[tokio::test]
async fn shutdown_disconnects_sessions_and_silent_sockets_promptly() {
    let spec = scenario("all-good", 2, 21).unwrap();
    let (user, pw) = spec.devices[0].accepts[0].clone();
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    let devices = fleet.devices();
    let mut c = Client::connect(&devices[0]).await;
    assert!(c.password(&user, &pw).await);
    let (mut sh, _) = c.shell("dev-00001:~$ ").await;
    // A TCP client that never sends its SSH identification.
    let _silent = tokio::net::TcpStream::connect((devices[1].host, devices[1].port))
        .await
        .unwrap();

    let started = Instant::now();
    common::within("fleet shutdown", fleet.shutdown()).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    sh.read_to_close().await; // the open shell is closed by the server
                              // Nothing listens any more.
    let refused = tokio::net::TcpStream::connect((devices[0].host, devices[0].port)).await;
    assert!(refused.is_err(), "device still listening after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_devices_take_concurrent_logins_with_exact_ground_truth() {
    let spec = scenario("mixed", 1000, 3).unwrap();
    let creds = spec.credentials.clone();
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    let devices = fleet.devices();
    assert_eq!(devices.len(), 1000);
    // 300 devices, each tried with tacacs then breakglass on one connection.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for d in devices.iter().take(300).cloned() {
        let creds = creds.clone();
        tasks.spawn(async move {
            let mut c = Client::connect(&d).await;
            let mut ok = Vec::new();
            for cred in &creds[..2] {
                let accepted = c.password(&cred.username, &cred.password).await;
                ok.push(accepted);
                if accepted {
                    break;
                }
            }
            (d.name, ok)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = tasks.join_next().await {
        results.push(r.unwrap());
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    for (name, ok) in results {
        let i: usize = name.trim_start_matches("dev-").parse().unwrap();
        let want = match i % 10 {
            0..=4 | 9 => vec![true],
            5 | 6 => vec![false, true],
            _ => vec![false, false],
        };
        assert_eq!(ok, want, "{name}");
        let recorded: Vec<bool> = fleet.attempts(&name).iter().map(|a| a.accepted).collect();
        assert_eq!(recorded, want, "ground truth of {name}");
    }
    assert_eq!(fleet.all_attempts().len(), 300);
    fleet.shutdown().await;
}
