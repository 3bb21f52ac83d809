//! `ssh::Session` against real SSH servers: the simulator fleet, a bare TCP listener, and a
//! small russh server for what the simulator does not do (keyboard-interactive only, a
//! command that never answers, one that drips output).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netraven_simulator::{
    AuthMethod, DeviceSpec, Fleet, FleetOptions, FleetSpec, Platform, RunningDevice,
    LINUX_CONFIG_COMMAND,
};
use netraven_worker::ssh::{
    fingerprint_of_line, AuthOutcome, HostKeyCheck, OutputAllowance, Phase, Session, SshError,
    SshOptions, SshTimeouts,
};
use secrecy::SecretString;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

const SEED: u64 = 7;
const USER: &str = "netops";
const PASSWORD: &str = "correct-horse";

fn timeouts() -> SshTimeouts {
    SshTimeouts {
        connect: Duration::from_secs(3),
        handshake: Duration::from_secs(3),
        auth: Duration::from_secs(5),
        command_idle: Duration::from_secs(3),
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

async fn fleet() -> (Fleet, RunningDevice, RunningDevice) {
    let mut a = DeviceSpec::new("router-a", Platform::Linux);
    a.accepts = vec![(USER.to_string(), PASSWORD.to_string())];
    let mut b = DeviceSpec::new("router-b", Platform::Linux);
    b.accepts = a.accepts.clone();
    let spec = FleetSpec {
        seed: SEED,
        credentials: Vec::new(),
        devices: vec![a, b],
    };
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .expect("simulator fleet starts");
    let devices = fleet.devices();
    let a = devices.first().cloned().expect("device a");
    let b = devices.get(1).cloned().expect("device b");
    (fleet, a, b)
}

async fn connect(device: &RunningDevice, check: HostKeyCheck) -> Result<Session, SshError> {
    Session::connect(&device.host.to_string(), device.port, &timeouts(), check).await
}

#[tokio::test]
async fn accepted_password_then_exec_returns_the_config() {
    let (fleet, dev, _) = fleet().await;
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
    let (fleet, dev, _) = fleet().await;
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
    let (fleet, dev, _) = fleet().await;
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
async fn host_key_mismatch_sends_no_secret() {
    let (fleet, dev, other) = fleet().await;
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
    let (fleet, dev, _) = fleet().await;
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
    let (fleet, dev, _) = fleet().await;
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

#[tokio::test]
async fn output_past_the_limit_stops_reading_and_keeps_the_session() {
    let (fleet, dev, _) = fleet().await;
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
async fn closed_port_is_refused_quickly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let started = Instant::now();
    let err = Session::connect("127.0.0.1", port, &timeouts(), HostKeyCheck::Off)
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, SshError::Refused), "{err:?}");
    assert_eq!(err.phase(), Phase::Connect);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn silent_listener_times_out_in_the_handshake_and_is_hung_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accepts TCP, never says a word, and reports when the client hangs up.
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 256];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {} // the client's banner
            }
        }
    });
    let t = SshTimeouts {
        handshake: Duration::from_millis(500),
        ..timeouts()
    };
    let started = Instant::now();
    let err = Session::connect("127.0.0.1", port, &t, HostKeyCheck::Off)
        .await
        .expect_err("server never speaks");
    let elapsed = started.elapsed();
    assert!(
        matches!(err, SshError::Timeout(Phase::Handshake)),
        "{err:?}"
    );
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let hung_up = tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("the client closes the socket after the timeout")
        .expect("server task");
    assert!(hung_up.duration_since(started) < Duration::from_secs(3));
}

#[tokio::test]
async fn server_closing_at_once_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
        }
    });
    let err = Session::connect("127.0.0.1", port, &timeouts(), HostKeyCheck::Off)
        .await
        .expect_err("closed before the banner");
    assert!(matches!(err, SshError::Unreachable(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// A small russh server for behaviour the simulator does not have.

mod kbd_server {
    use std::borrow::Cow;
    use std::time::Duration;

    use russh::keys::ssh_key::private::Ed25519Keypair;
    use russh::keys::PrivateKey;
    use russh::server::{Auth, ChannelOpenHandle, Msg, Response, Session};
    use russh::{Channel, ChannelId, MethodKind, MethodSet};

    pub const SECRET: &str = "kbd-secret";
    pub const STALL_USER: &str = "stall";

    pub struct Conn;

    pub fn config() -> russh::server::Config {
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&[9u8; 32]));
        russh::server::Config {
            methods: MethodSet::from(&[MethodKind::KeyboardInteractive][..]),
            auth_rejection_time: Duration::ZERO,
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![key],
            nodelay: true,
            ..Default::default()
        }
    }

    fn kbd_only() -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(MethodSet::from(&[MethodKind::KeyboardInteractive][..])),
            partial_success: false,
        }
    }

    impl russh::server::Handler for Conn {
        type Error = russh::Error;

        async fn auth_password(&mut self, _: &str, _: &str) -> Result<Auth, Self::Error> {
            Ok(kbd_only())
        }

        async fn auth_keyboard_interactive<'a>(
            &'a mut self,
            user: &str,
            _submethods: &str,
            response: Option<Response<'a>>,
        ) -> Result<Auth, Self::Error> {
            if user == STALL_USER {
                // An AAA server that never answers.
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            match response {
                None => Ok(Auth::Partial {
                    name: Cow::Borrowed(""),
                    instructions: Cow::Borrowed(""),
                    prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
                }),
                Some(answers) => {
                    let answers: Vec<_> = answers.collect();
                    if answers.len() == 1 && answers[0].as_ref() == SECRET.as_bytes() {
                        Ok(Auth::Accept)
                    } else {
                        Ok(kbd_only())
                    }
                }
            }
        }

        async fn channel_open_session(
            &mut self,
            channel: Channel<Msg>,
            reply: ChannelOpenHandle,
            _session: &mut Session,
        ) -> Result<(), Self::Error> {
            drop(channel);
            reply.accept().await;
            Ok(())
        }

        async fn exec_request(
            &mut self,
            channel: ChannelId,
            data: &[u8],
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            session.channel_success(channel)?;
            match data {
                // Never answers.
                b"hang" => {}
                // One line every 300 ms for 2.1 s, then exit 0.
                b"drip" => {
                    let handle = session.handle();
                    tokio::spawn(async move {
                        for i in 0..7 {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            let _ = handle
                                .data(channel, format!("line {i}\n").into_bytes())
                                .await;
                        }
                        let _ = handle.exit_status_request(channel, 0).await;
                        let _ = handle.eof(channel).await;
                        let _ = handle.close(channel).await;
                    });
                }
                _ => {
                    session.data(channel, b"ok\n".to_vec())?;
                    session.exit_status_request(channel, 0)?;
                    session.eof(channel)?;
                    session.close(channel)?;
                }
            }
            Ok(())
        }
    }
}

async fn start_kbd_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = Arc::new(kbd_server::config());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let config = Arc::clone(&config);
            tokio::spawn(async move {
                if let Ok(session) = russh::server::run_stream(config, sock, kbd_server::Conn).await
                {
                    let _ = session.await;
                }
            });
        }
    });
    addr
}

async fn kbd_session(addr: SocketAddr, t: &SshTimeouts) -> Session {
    Session::connect(&addr.ip().to_string(), addr.port(), t, HostKeyCheck::Off)
        .await
        .expect("connects")
}

#[tokio::test]
async fn keyboard_interactive_fallback_answers_with_the_secret() {
    let addr = start_kbd_server().await;
    let mut s = kbd_session(addr, &timeouts()).await;
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
    let addr = start_kbd_server().await;
    let t = SshTimeouts {
        auth: Duration::from_millis(500),
        ..timeouts()
    };
    let mut s = kbd_session(addr, &t).await;
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

#[tokio::test]
async fn command_idle_timeout_fires_but_resets_while_output_arrives() {
    let addr = start_kbd_server().await;
    let t = SshTimeouts {
        command_idle: Duration::from_millis(800),
        ..timeouts()
    };
    let mut s = kbd_session(addr, &t).await;
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
