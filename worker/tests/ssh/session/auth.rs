//! Passwords and keyboard-interactive, several attempts on one connection, and the bounds
//! on both.

use std::time::{Duration, Instant};

use netraven_simulator::{AuthMethod, LINUX_CONFIG_COMMAND};
use netraven_worker::ssh::{
    fingerprint_of_line, AuthOutcome, HostKeyCheck, OutputAllowance, Phase, SshError, SshTimeouts,
};

use crate::common::{connect, connect_to, linux_pair, secret, timeouts, PASSWORD, USER};
use crate::kbd_server;

#[tokio::test]
async fn accepted_password_then_exec_returns_the_config() {
    let (fleet, dev, _) = linux_pair().await;
    let mut s = connect(&dev, HostKeyCheck::AcceptNew { pinned: None })
        .await
        .expect("connects");

    let key = s.presented_key().clone();
    assert_eq!(key.algorithm, "ssh-ed25519");
    assert!(
        dev.host_key.starts_with(&key.public_key),
        "presented {} is the device key {}",
        key.public_key,
        dev.host_key
    );
    assert_eq!(fingerprint_of_line(&dev.host_key), Some(key.fingerprint));

    assert_eq!(
        s.authenticate(USER, &secret(PASSWORD)).await.expect("auth"),
        AuthOutcome::Accepted
    );
    let out = s
        .exec(LINUX_CONFIG_COMMAND, &mut OutputAllowance::upto(1 << 20))
        .await
        .expect("exec runs");
    assert_eq!(out.exit_status, Some(0));
    let expected = fleet.expected_config(&dev.name).expect("config");
    assert_eq!(String::from_utf8(out.stdout).expect("utf-8"), expected);
    assert!(out.stderr.is_empty());

    // A second command on the same connection, with stderr and a failing status.
    let out = s
        .exec("cat /nonexistent", &mut OutputAllowance::upto(1 << 20))
        .await
        .expect("exec runs");
    assert_eq!(out.exit_status, Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such file"));

    s.close().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn two_passwords_on_one_connection() {
    let (fleet, dev, _) = linux_pair().await;
    let mut s = connect(&dev, HostKeyCheck::AcceptNew { pinned: None })
        .await
        .expect("connects");
    assert_eq!(
        s.authenticate(USER, &secret("wrong")).await.expect("auth"),
        AuthOutcome::Rejected
    );
    assert!(s.is_open(), "a rejection leaves the connection open");
    assert!(s.can_try_username(USER));
    assert!(!s.can_try_username("someone-else"));
    assert_eq!(
        s.authenticate(USER, &secret(PASSWORD)).await.expect("auth"),
        AuthOutcome::Accepted
    );
    assert!(s.is_authenticated());

    let attempts = fleet.attempts(&dev.name);
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts.iter().all(|a| a.method == AuthMethod::Password));
    assert!(attempts
        .iter()
        .all(|a| a.connection == attempts[0].connection));
    assert_eq!(
        attempts.iter().map(|a| a.accepted).collect::<Vec<_>>(),
        vec![false, true]
    );
    assert_eq!(fleet.connections(&dev.name), 1);
    s.close().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn too_many_attempts_is_never_reported_as_accepted() {
    let (fleet, dev, _) = linux_pair().await;
    let mut s = connect(&dev, HostKeyCheck::AcceptNew { pinned: None })
        .await
        .expect("connects");
    let mut rejected = 0;
    for _ in 0..10 {
        if !s.is_open() {
            break;
        }
        match s.authenticate(USER, &secret("wrong")).await {
            Ok(AuthOutcome::Rejected) => rejected += 1,
            Ok(AuthOutcome::Accepted) => panic!("wrong password accepted"),
            Err(e) => {
                assert!(
                    matches!(e, SshError::Disconnected(Phase::Auth, _)),
                    "server hang-up is a disconnect, got {e:?}"
                );
                break;
            }
        }
    }
    assert!(!s.is_open(), "the server hangs up after MaxAuthTries");
    let seen = fleet.attempts(&dev.name).len();
    assert!(
        seen <= netraven_simulator::MAX_AUTH_TRIES,
        "{seen} attempts"
    );
    assert!(rejected >= seen.saturating_sub(1), "{rejected} of {seen}");
    fleet.shutdown().await;
}

#[tokio::test]
async fn keyboard_interactive_fallback_answers_with_the_secret() {
    let addr = kbd_server::start().await;
    let mut s = connect_to(addr, &timeouts()).await;
    assert_eq!(
        s.authenticate("admin", &secret("wrong"))
            .await
            .expect("auth"),
        AuthOutcome::Rejected
    );
    assert!(s.is_open());
    assert_eq!(
        s.authenticate("admin", &secret(kbd_server::SECRET))
            .await
            .expect("auth"),
        AuthOutcome::Accepted
    );
    let out = s
        .exec("anything", &mut OutputAllowance::upto(1024))
        .await
        .expect("exec");
    assert_eq!(out.stdout, b"ok\n");
    s.close().await;
}

#[tokio::test]
async fn authentication_is_bounded_by_the_auth_timeout() {
    let addr = kbd_server::start().await;
    let t = SshTimeouts {
        auth: Duration::from_millis(500),
        ..timeouts()
    };
    let mut s = connect_to(addr, &t).await;
    let started = Instant::now();
    let err = s
        .authenticate(kbd_server::STALL_USER, &secret("whatever"))
        .await
        .expect_err("the server never answers");
    let elapsed = started.elapsed();
    assert!(matches!(err, SshError::Timeout(Phase::Auth)), "{err:?}");
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(
        !s.is_open(),
        "a half-done attempt leaves the connection unusable"
    );
    assert!(!err.to_string().contains("whatever"), "no secret in errors");
}
