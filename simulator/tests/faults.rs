//! Every fault, observed the way a client meets it (raw TCP and russh), and the ground
//! truth each leaves behind.
#![allow(clippy::unwrap_used)]

mod common;

use std::borrow::Cow;
use std::time::{Duration, Instant};

use common::{within, Client};
use netraven_simulator::{
    changed_host_key, host_key, AuthMethod, DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec,
    Platform, RunningDevice, LINUX_CONFIG_COMMAND,
};
use russh::client::KeyboardInteractiveAuthResponse;
use russh::{cipher, kex, mac, ChannelMsg, MethodKind, Preferred};
use tokio::io::AsyncReadExt as _;

const USER: &str = "netops";
const PASSWORD: &str = "fault-line-7";
const SEED: u64 = 5;
const QUIET: Duration = Duration::from_millis(400);

async fn fleet_with(fault: Fault) -> (Fleet, RunningDevice) {
    let mut d = DeviceSpec::new(fault.name(), Platform::Linux);
    d.accepts = vec![(USER.into(), PASSWORD.into())];
    d.fault = Some(fault);
    let spec = FleetSpec {
        seed: SEED,
        credentials: Vec::new(),
        devices: vec![d],
    };
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    let dev = fleet.devices().remove(0);
    assert_eq!(dev.fault, Some(fault));
    (fleet, dev)
}

async fn logged_in(dev: &RunningDevice) -> Client {
    let mut c = Client::connect(dev).await;
    assert!(c.password(USER, PASSWORD).await, "{}", dev.name);
    c
}

/// Bytes from a fresh TCP connection within `wait` (empty if none came).
async fn first_bytes(dev: &RunningDevice, wait: Duration) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect((dev.host, dev.port))
        .await
        .unwrap();
    let mut buf = vec![0u8; 64];
    match tokio::time::timeout(wait, s.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].to_vec(),
        _ => Vec::new(),
    }
}

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

#[tokio::test]
async fn hang_after_login_acknowledges_and_then_says_nothing() {
    let (fleet, dev) = fleet_with(Fault::HangAfterLogin).await;
    let c = logged_in(&dev).await;
    let mut ch = within("open", c.handle.channel_open_session())
        .await
        .unwrap();
    ch.exec(true, LINUX_CONFIG_COMMAND).await.unwrap();
    let deadline = Instant::now() + QUIET;
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline.into(), ch.wait()).await {
        assert!(matches!(msg, ChannelMsg::Success), "got {msg:?}");
    }
    let shell = within("open", c.handle.channel_open_session())
        .await
        .unwrap();
    shell.request_shell(true).await.unwrap();
    shell.data_bytes(b"hostname\r".to_vec()).await.unwrap();
    let (mut shell, deadline) = (shell, Instant::now() + QUIET);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline.into(), shell.wait()).await {
        assert!(matches!(msg, ChannelMsg::Success), "no prompt: got {msg:?}");
    }
    assert_eq!(fleet.commands(&dev.name), vec![LINUX_CONFIG_COMMAND]);
    fleet.shutdown().await;
}

#[tokio::test]
async fn drop_mid_output_sends_half_the_config_and_cuts_the_connection() {
    let (fleet, dev) = fleet_with(Fault::DropMidOutput).await;
    let full = fleet.expected_config(&dev.name).unwrap();
    let c = logged_in(&dev).await;
    let mut ch = within("open", c.handle.channel_open_session())
        .await
        .unwrap();
    ch.exec(true, LINUX_CONFIG_COMMAND).await.unwrap();
    let (mut got, mut status) = (Vec::new(), None);
    while let Some(msg) = within("output until the cut", ch.wait()).await {
        match msg {
            ChannelMsg::Data { data } => got.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            _ => {}
        }
    }
    assert_eq!(status, None, "a cut connection gives no exit status");
    assert_eq!(got.len(), full.len() / 2);
    assert!(full.as_bytes().starts_with(&got));
    within("connection closed", async {
        while !c.handle.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn endless_output_runs_until_the_client_closes_the_channel() {
    let (fleet, dev) = fleet_with(Fault::EndlessOutput).await;
    let full = fleet.expected_config(&dev.name).unwrap();
    let c = logged_in(&dev).await;
    let mut ch = within("open", c.handle.channel_open_session())
        .await
        .unwrap();
    ch.exec(true, LINUX_CONFIG_COMMAND).await.unwrap();
    let mut got = 0usize;
    while got < 20 * full.len() {
        match within("endless output", ch.wait()).await {
            Some(ChannelMsg::Data { data }) => got += data.len(),
            Some(ChannelMsg::ExitStatus { .. } | ChannelMsg::Eof | ChannelMsg::Close) | None => {
                panic!("output ended after {got} bytes")
            }
            Some(_) => {}
        }
    }
    // The client gives up on the channel; the connection stays usable.
    ch.close().await.unwrap();
    drop(ch);
    assert_eq!(c.exec("hostname").await.stdout, "endless_output\n");
    fleet.shutdown().await;
}

#[tokio::test]
async fn changed_host_key_differs_from_the_seeds_and_a_careful_client_sends_no_secret() {
    let (fleet, dev) = fleet_with(Fault::HostKeyChanged).await;
    let seed_key = host_key(SEED, &dev.name)
        .unwrap()
        .public_key()
        .to_openssh()
        .unwrap();
    let served = changed_host_key(SEED, &dev.name)
        .unwrap()
        .public_key()
        .to_openssh()
        .unwrap();
    assert_ne!(common::key_body(&seed_key), common::key_body(&served));
    assert_eq!(
        common::key_body(&dev.host_key),
        common::key_body(&served),
        "the device lists the key it serves"
    );
    // A client that pinned the seed's key refuses the connection before auth.
    let pinned = russh::client::connect(
        std::sync::Arc::new(russh::client::Config::default()),
        (dev.host, dev.port),
        common::Pinned(seed_key),
    )
    .await;
    assert!(
        pinned.is_err(),
        "a pinned client must refuse the changed key"
    );
    let report = fleet.report(&dev.name).unwrap();
    assert!(report.host_key_changed);
    assert!(!report.secret_sent_after_host_key_change);
    assert!(fleet.secrets_sent_to_changed_host_keys().is_empty());
    // A careless client sends its password anyway: the ground truth says so.
    let c = Client::connect(&dev).await;
    assert_eq!(common::key_body(&c.server_key()), common::key_body(&served));
    drop(logged_in(&dev).await);
    drop(c);
    let report = fleet.report(&dev.name).unwrap();
    assert!(report.secret_sent_after_host_key_change);
    assert_eq!(report.secrets_received, 1);
    assert_eq!(
        fleet.secrets_sent_to_changed_host_keys(),
        vec![dev.name.clone()]
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn ssh_rsa_sha1_only_negotiates_only_with_ssh_rsa_offered() {
    use russh::keys::{Algorithm, HashAlg};
    let (fleet, dev) = fleet_with(Fault::SshRsaSha1Only).await;
    assert!(dev.host_key.starts_with("ssh-rsa "), "{}", dev.host_key);
    let sha2_only = russh::client::Config {
        preferred: Preferred {
            key: Cow::Owned(vec![
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512),
                },
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256),
                },
            ]),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    };
    assert!(
        Client::try_connect(&dev, sha2_only).await.is_err(),
        "a client without ssh-rsa must find no common host key algorithm"
    );
    let sha1 = russh::client::Config {
        preferred: Preferred {
            key: Cow::Owned(vec![Algorithm::Rsa { hash: None }]),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    };
    let mut c = Client::try_connect(&dev, sha1).await.unwrap();
    assert_eq!(
        common::key_body(&c.server_key()),
        common::key_body(&dev.host_key)
    );
    assert!(c.password(USER, PASSWORD).await);
    fleet.shutdown().await;
}

#[tokio::test]
async fn legacy_algorithms_negotiate_only_with_legacy_lists_enabled() {
    let (fleet, dev) = fleet_with(Fault::LegacyAlgorithms).await;
    let modern = Client::try_connect(&dev, russh::client::Config::default()).await;
    assert!(
        modern.is_err(),
        "a default client must find no common algorithm"
    );
    let legacy = russh::client::Config {
        preferred: Preferred {
            kex: Cow::Owned(vec![kex::CURVE25519, kex::DH_G14_SHA1]),
            cipher: Cow::Owned(vec![cipher::AES_256_GCM, cipher::AES_128_CBC]),
            mac: Cow::Owned(vec![mac::HMAC_SHA256, mac::HMAC_SHA1]),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    };
    let mut c = Client::try_connect(&dev, legacy).await.unwrap();
    assert!(c.password(USER, PASSWORD).await);
    assert_eq!(
        Some(c.exec(LINUX_CONFIG_COMMAND).await.stdout),
        fleet.expected_config(&dev.name)
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn shell_platforms_misbehave_on_the_config_command_too() {
    let mut endless = DeviceSpec::new("ios-endless", Platform::CiscoIos);
    endless.accepts = vec![(USER.into(), PASSWORD.into())];
    endless.fault = Some(Fault::EndlessOutput);
    let mut cut = DeviceSpec::new("junos-cut", Platform::JuniperJunos);
    cut.accepts = endless.accepts.clone();
    cut.fault = Some(Fault::DropMidOutput);
    let spec = FleetSpec {
        seed: SEED,
        credentials: Vec::new(),
        devices: vec![endless, cut],
    };
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    let devs = fleet.devices();

    let c = logged_in(&devs[0]).await;
    let (mut sh, _) = c.shell("ios-endless>").await;
    sh.send("enable\r").await;
    sh.read_until("ios-endless#").await;
    sh.send("show running-config\r").await;
    // Far more than one config, and no pager or prompt ever.
    let full = fleet.expected_config("ios-endless").unwrap();
    let mut got = 0usize;
    while got < 10 * full.len() {
        match within("endless shell output", sh.ch.wait()).await {
            Some(ChannelMsg::Data { data }) => {
                assert!(!String::from_utf8_lossy(&data).contains("ios-endless#"));
                got += data.len();
            }
            Some(_) => {}
            None => panic!("channel closed after {got} bytes"),
        }
    }
    sh.ch.close().await.unwrap();

    let c = logged_in(&devs[1]).await;
    let (mut sh, _) = c.shell("netops@junos-cut> ").await;
    sh.send("show configuration | display set\r").await;
    let rest = sh.read_to_close().await;
    assert!(rest.len() > 100, "part of the config arrives: {rest:?}");
    assert!(!rest.contains("netops@junos-cut>"), "no prompt after a cut");
    fleet.shutdown().await;
}
