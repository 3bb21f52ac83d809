//! Faults in authentication: slow answers, keyboard-interactive only, a cap on attempts.

use std::time::{Duration, Instant};

use crate::common::{within, Client};
use netraven_simulator::{AuthMethod, Fault};
use russh::client::KeyboardInteractiveAuthResponse;
use russh::MethodKind;

use super::setup::{fleet_with, logged_in, PASSWORD, USER};

#[tokio::test]
async fn slow_auth_answers_late_both_ways() {
    let (fleet, dev) = fleet_with(Fault::SlowAuth { delay_ms: 400 }).await;
    let mut c = Client::connect(&dev).await;
    let started = Instant::now();
    assert!(!c.password(USER, "wrong").await);
    assert!(started.elapsed() >= Duration::from_millis(380));
    let started = Instant::now();
    assert!(c.password(USER, PASSWORD).await);
    assert!(started.elapsed() >= Duration::from_millis(380));
    fleet.shutdown().await;
}

#[tokio::test]
async fn keyboard_interactive_only_refuses_password_and_takes_the_secret_at_its_prompt() {
    let (fleet, dev) = fleet_with(Fault::KeyboardInteractiveOnly).await;
    let mut c = Client::connect(&dev).await;
    let r = within("password", c.handle.authenticate_password(USER, PASSWORD))
        .await
        .unwrap();
    match r {
        russh::client::AuthResult::Failure {
            remaining_methods, ..
        } => {
            let offered: Vec<MethodKind> = remaining_methods.iter().copied().collect();
            assert_eq!(offered, vec![MethodKind::KeyboardInteractive]);
        }
        russh::client::AuthResult::Success => panic!("password must not be accepted"),
    }
    let start = within(
        "kbd start",
        c.handle.authenticate_keyboard_interactive_start(USER, None),
    )
    .await
    .unwrap();
    let KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } = start else {
        panic!("expected a prompt, got {start:?}");
    };
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0].prompt, "Password: ");
    assert!(!prompts[0].echo);
    let done = within(
        "kbd respond",
        c.handle
            .authenticate_keyboard_interactive_respond(vec![PASSWORD.into()]),
    )
    .await
    .unwrap();
    assert!(matches!(done, KeyboardInteractiveAuthResponse::Success));
    assert_eq!(c.exec("hostname").await.status, Some(0));
    let seen: Vec<_> = fleet
        .attempts(&dev.name)
        .into_iter()
        .map(|a| (a.method, a.accepted))
        .collect();
    assert_eq!(
        seen,
        vec![
            (AuthMethod::Password, false),
            (AuthMethod::KeyboardInteractive, true)
        ]
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn max_auth_tries_disconnects_after_n_rejections() {
    let (fleet, dev) = fleet_with(Fault::MaxAuthTries { tries: 2 }).await;
    let mut c = Client::connect(&dev).await;
    assert!(!c.password(USER, "one").await);
    assert!(!c.password(USER, "two").await);
    let third = within("third", c.handle.authenticate_password(USER, PASSWORD)).await;
    assert!(
        third.is_err() || !third.unwrap().success(),
        "a third try, even the right one, must not get in"
    );
    within("disconnect", async {
        while !c.handle.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(fleet.attempts(&dev.name).len(), 2);
    // A new connection starts afresh.
    let c = logged_in(&dev).await;
    drop(c);
    fleet.shutdown().await;
}
