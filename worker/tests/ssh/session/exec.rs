//! Exec channels: the output allowance and the idle timeout.

use std::time::{Duration, Instant};

use netraven_simulator::LINUX_CONFIG_COMMAND;
use netraven_worker::ssh::{
    AuthOutcome, HostKeyCheck, OutputAllowance, Phase, SshError, SshTimeouts,
};

use crate::common::{connect, connect_to, linux_pair, secret, timeouts, PASSWORD, USER};
use crate::kbd_server;

#[tokio::test]
async fn output_past_the_limit_stops_reading_and_keeps_the_session() {
    let (fleet, dev, _) = linux_pair().await;
    let mut s = connect(&dev, HostKeyCheck::Off).await.expect("connects");
    assert_eq!(
        s.authenticate(USER, &secret(PASSWORD)).await.expect("auth"),
        AuthOutcome::Accepted
    );
    let err = s
        .exec(LINUX_CONFIG_COMMAND, &mut OutputAllowance::upto(100))
        .await
        .expect_err("config is larger than 100 bytes");
    assert!(
        matches!(err, SshError::OutputTooLarge { limit: 100 }),
        "{err:?}"
    );
    assert!(s.is_open());
    let out = s
        .exec("hostname", &mut OutputAllowance::upto(1024))
        .await
        .expect("session still usable");
    assert_eq!(out.exit_status, Some(0));
    s.close().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn command_idle_timeout_fires_but_resets_while_output_arrives() {
    let addr = kbd_server::start().await;
    let t = SshTimeouts {
        command_idle: Duration::from_millis(800),
        ..timeouts()
    };
    let mut s = connect_to(addr, &t).await;
    assert_eq!(
        s.authenticate("admin", &secret(kbd_server::SECRET))
            .await
            .expect("auth"),
        AuthOutcome::Accepted
    );

    // 2.1 s of output in 300 ms steps: longer than the idle timeout, never idle that long.
    let out = s
        .exec("drip", &mut OutputAllowance::upto(1 << 16))
        .await
        .expect("idle timer resets on output");
    assert_eq!(out.stdout.iter().filter(|b| **b == b'\n').count(), 7);
    assert_eq!(out.exit_status, Some(0));

    let started = Instant::now();
    let err = s
        .exec("hang", &mut OutputAllowance::upto(1 << 16))
        .await
        .expect_err("never answers");
    let elapsed = started.elapsed();
    assert!(matches!(err, SshError::Timeout(Phase::Command)), "{err:?}");
    assert!(elapsed >= Duration::from_millis(750), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}
