//! Faults before the SSH banner or during it: a closed port, a silent one, a slow banner.

use std::time::{Duration, Instant};

use crate::common;
use netraven_simulator::Fault;

use super::setup::{first_bytes, fleet_with, logged_in, QUIET};

#[tokio::test]
async fn port_closed_refuses_but_keeps_the_port_reserved() {
    let (fleet, dev) = fleet_with(Fault::PortClosed).await;
    let err = tokio::net::TcpStream::connect((dev.host, dev.port))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let taken = tokio::net::TcpListener::bind((dev.host, dev.port)).await;
    assert!(taken.is_err(), "port {} must stay reserved", dev.port);
    fleet.shutdown().await;
}

#[tokio::test]
async fn silent_accepts_tcp_and_never_speaks_so_the_handshake_times_out() {
    let (fleet, dev) = fleet_with(Fault::Silent).await;
    assert!(first_bytes(&dev, QUIET).await.is_empty());
    let config = std::sync::Arc::new(russh::client::Config::default());
    let handshake = tokio::time::timeout(
        QUIET,
        russh::client::connect(config, (dev.host, dev.port), common::KeyCatcher::new()),
    )
    .await;
    assert!(handshake.is_err(), "the handshake must hang, not fail fast");
    assert!(fleet.connections(&dev.name) >= 2);
    common::within("shutdown with silent sockets", fleet.shutdown()).await;
}

#[tokio::test]
async fn slow_banner_delays_the_identification_then_works() {
    let (fleet, dev) = fleet_with(Fault::SlowBanner { delay_ms: 500 }).await;
    assert!(first_bytes(&dev, Duration::from_millis(250))
        .await
        .is_empty());
    let started = Instant::now();
    let banner = first_bytes(&dev, Duration::from_secs(5)).await;
    assert!(banner.starts_with(b"SSH-2.0-OpenSSH_9.2p1"), "{banner:?}");
    assert!(started.elapsed() >= Duration::from_millis(450));
    let c = logged_in(&dev).await;
    assert_eq!(c.exec("hostname").await.stdout, "slow_banner\n");
    fleet.shutdown().await;
}
