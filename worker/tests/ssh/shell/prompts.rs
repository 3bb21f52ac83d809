//! Output that looks like a prompt at the wrong moment, and the shell's idle timeout.

use std::time::{Duration, Instant};

use netraven_worker::ssh::{
    AuthOutcome, OutputAllowance, Phase, Session, Shell, ShellOptions, SshError, SshTimeouts,
};

use crate::common::{connect_to, secret, timeouts};
use crate::shell::profiles::{re, IOS_PROMPT};
use crate::tricky_server;

const QUIET: Duration = Duration::from_millis(300);

async fn tricky_shell(t: &SshTimeouts, quiet: Duration) -> (Session, Shell) {
    let mut s = connect_to(tricky_server::start().await, t).await;
    assert_eq!(
        s.authenticate("any", &secret("any")).await.expect("auth"),
        AuthOutcome::Accepted
    );
    let mut o = ShellOptions::new(re(IOS_PROMPT));
    o.prompt_quiet = quiet;
    let sh = s.shell(o).await.expect("shell opens");
    (s, sh)
}

#[tokio::test]
async fn prompt_lookalikes_in_banner_and_output_are_not_prompts() {
    let (s, mut sh) = tricky_shell(&timeouts(), QUIET).await;
    assert_eq!(sh.banner(), "\nR1#\nAuthorized access only\n\n");
    let out = sh
        .command("show tricky", &mut OutputAllowance::upto(4096))
        .await
        .expect("runs");
    assert_eq!(out, "hostname R1\nbanner\nR1#\n end of banner\n");
    // And the shell is in step for the next command.
    assert_eq!(
        sh.command("next", &mut OutputAllowance::upto(4096))
            .await
            .expect("runs"),
        ""
    );
    s.close().await;
}

#[tokio::test]
async fn shell_idle_timeout_resets_on_output_and_fires_on_silence() {
    let t = SshTimeouts {
        command_idle: Duration::from_secs(1),
        ..timeouts()
    };
    let (s, mut sh) = tricky_shell(&t, QUIET).await;
    let out = sh
        .command("show slow", &mut OutputAllowance::upto(4096))
        .await
        .expect("keeps producing");
    assert_eq!(out, "step 0\nstep 1\nstep 2\nstep 3\n");

    let started = Instant::now();
    let err = sh
        .command("hang", &mut OutputAllowance::upto(4096))
        .await
        .expect_err("never answers");
    let elapsed = started.elapsed();
    assert!(matches!(err, SshError::Timeout(Phase::Command)), "{err:?}");
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert!(!sh.is_usable());
    s.close().await;
}
