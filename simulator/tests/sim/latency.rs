//! [`Latency`]: a device that answers like one across a real network. Each wait is checked
//! from below (a loaded machine only makes them longer) and against a device without
//! latency on the same machine, which answers each step in a fraction of the wait.

use std::time::{Duration, Instant};

use crate::common::Client;
use crate::faults::setup::fleet_of;
use netraven_simulator::{
    DeviceSpec, Fleet, Latency, Platform, RunningDevice, LINUX_CONFIG_COMMAND,
};

const USER: &str = "netops";
const PASSWORD: &str = "far-away-9";

async fn fleet(latency: Latency) -> (Fleet, RunningDevice) {
    let mut d = DeviceSpec::new("far", Platform::Linux);
    d.accepts = vec![(USER.into(), PASSWORD.into())];
    d.config_bytes = 8_000;
    d.latency = latency;
    fleet_of(d).await
}

/// How long each step of one session took: connect (TCP and SSH handshake), a rejected
/// login, an accepted one, the configuration by exec (and its size).
async fn session(dev: &RunningDevice) -> [Duration; 4] {
    let t = Instant::now();
    let mut c = Client::connect(dev).await;
    let connect = t.elapsed();
    let t = Instant::now();
    assert!(!c.password(USER, "wrong").await);
    let reject = t.elapsed();
    let t = Instant::now();
    assert!(c.password(USER, PASSWORD).await);
    let accept = t.elapsed();
    let t = Instant::now();
    let out = c.exec(LINUX_CONFIG_COMMAND).await;
    let exec = t.elapsed();
    assert!(out.stdout.len() > 7_000, "{} bytes", out.stdout.len());
    [connect, reject, accept, exec]
}

#[tokio::test]
async fn every_knob_waits_where_it_says() {
    let far = Latency {
        rtt_ms: 60,
        aaa_accept_ms: 300,
        aaa_reject_ms: 700,
        prompt_ms: 100,
        output_bytes_per_s: 20_000,
    };
    let (near_fleet, near) = fleet(Latency::default()).await;
    let (far_fleet, far_dev) = fleet(far).await;
    let quick = session(&near).await;
    let slow = session(&far_dev).await;
    let ms = |d: Duration| d.as_millis();
    // The TCP round trip and at least the handshake's two exchanges (key exchange, then
    // NEWKEYS and the service request), each one round trip.
    assert!(
        ms(slow[0]) >= 3 * 60,
        "connect {:?} (near {:?})",
        slow[0],
        quick[0]
    );
    // A login is one exchange and the AAA server's answer.
    assert!(
        ms(slow[1]) >= 60 + 700,
        "reject {:?} (near {:?})",
        slow[1],
        quick[1]
    );
    assert!(
        ms(slow[2]) >= 60 + 300,
        "accept {:?} (near {:?})",
        slow[2],
        quick[2]
    );
    assert!(slow[2] < slow[1], "an accept is quicker than a reject here");
    // The channel, the exec request and the answer: think time, then ~8 KB at 20 KB/s.
    assert!(
        ms(slow[3]) >= 60 + 100 + 400,
        "exec {:?} (near {:?})",
        slow[3],
        quick[3]
    );
    for (q, s) in quick.iter().zip(&slow) {
        assert!(
            q < s,
            "without latency each step is quicker: {quick:?} against {slow:?}"
        );
    }
    // The ground truth is the same: one rejected and one accepted login.
    let attempts = far_fleet.attempts(&far_dev.name);
    assert_eq!(
        attempts.iter().map(|a| a.accepted).collect::<Vec<_>>(),
        [false, true],
        "{attempts:?}"
    );
    near_fleet.shutdown().await;
    far_fleet.shutdown().await;
}

#[tokio::test]
async fn a_shell_waits_for_each_answer_and_not_for_each_key() {
    let (fleet, dev) = fleet(Latency {
        prompt_ms: 300,
        ..Latency::default()
    })
    .await;
    let mut c = Client::connect(&dev).await;
    assert!(c.password(USER, PASSWORD).await);
    let t = Instant::now();
    let (mut sh, _) = c.shell("$ ").await;
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "the first prompt thinks"
    );
    let t = Instant::now();
    sh.send("ech").await;
    let echoed = sh.read_until("ech").await;
    assert!(echoed.ends_with("ech"));
    let echo = t.elapsed();
    let t = Instant::now();
    sh.send("o hi\n").await;
    sh.read_until("$ ").await;
    let answer = t.elapsed();
    assert!(
        answer >= Duration::from_millis(300),
        "the answer thinks: {answer:?}"
    );
    assert!(
        echo < answer,
        "keys are echoed at once: {echo:?} against {answer:?}"
    );
    fleet.shutdown().await;
}
