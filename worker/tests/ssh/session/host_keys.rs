//! Host keys checked inside the handshake, before any secret, and the algorithms offered.

use std::time::Instant;

use netraven_worker::ssh::{
    fingerprint_of_line, AuthOutcome, HostKeyCheck, OutputAllowance, Phase, Session, SshError,
    SshOptions,
};

use crate::common::{connect, linux_pair, secret, timeouts, PASSWORD, USER};

#[tokio::test]
async fn host_key_mismatch_sends_no_secret() {
    let (fleet, dev, other) = linux_pair().await;
    let started = Instant::now();
    let err = connect(
        &dev,
        HostKeyCheck::AcceptNew {
            pinned: Some(other.host_key.clone()),
        },
    )
    .await
    .expect_err("a different pinned key must fail");
    match &err {
        SshError::HostKeyMismatch {
            expected_fingerprint,
            presented_fingerprint,
        } => {
            assert_eq!(
                Some(expected_fingerprint.clone()),
                fingerprint_of_line(&other.host_key)
            );
            assert_eq!(
                Some(presented_fingerprint.clone()),
                fingerprint_of_line(&dev.host_key)
            );
        }
        e => panic!("expected HostKeyMismatch, got {e:?}"),
    }
    assert_eq!(err.phase(), Phase::Handshake);
    assert!(started.elapsed() < timeouts().handshake);

    let err = connect(&dev, HostKeyCheck::Strict { pinned: None })
        .await
        .expect_err("strict without a pin must fail");
    assert!(matches!(err, SshError::HostKeyNotPinned { .. }), "{err:?}");

    assert!(
        fleet.attempts(&dev.name).is_empty(),
        "no authentication attempt reached the device: {:?}",
        fleet.attempts(&dev.name)
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn accept_new_pin_is_accepted_by_strict_later() {
    let (fleet, dev, _) = linux_pair().await;
    let first = connect(&dev, HostKeyCheck::AcceptNew { pinned: None })
        .await
        .expect("first contact");
    let pinned = first.presented_key().public_key.clone();
    first.close().await;

    let mut s = connect(
        &dev,
        HostKeyCheck::Strict {
            pinned: Some(pinned),
        },
    )
    .await
    .expect("pinned key matches");
    assert_eq!(
        s.authenticate(USER, &secret(PASSWORD)).await.expect("auth"),
        AuthOutcome::Accepted
    );
    s.close().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn legacy_algorithms_still_negotiate_with_a_modern_server() {
    let (fleet, dev, _) = linux_pair().await;
    let mut s = Session::connect_with(
        &dev.host.to_string(),
        dev.port,
        &timeouts(),
        HostKeyCheck::Off,
        &SshOptions {
            legacy_algorithms: true,
            ..SshOptions::default()
        },
    )
    .await
    .expect("connects");
    assert_eq!(
        s.authenticate(USER, &secret(PASSWORD)).await.expect("auth"),
        AuthOutcome::Accepted
    );
    let out = s
        .exec("hostname", &mut OutputAllowance::upto(1024))
        .await
        .expect("exec");
    assert_eq!(out.stdout, format!("{}\n", dev.name).into_bytes());
    s.close().await;
    fleet.shutdown().await;
}
