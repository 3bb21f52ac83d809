//! Faults after login: a session that hangs, output cut half-way or without end, on exec
//! and in shells.

use std::time::{Duration, Instant};

use crate::common::within;
use netraven_simulator::{
    DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec, Platform, LINUX_CONFIG_COMMAND,
};
use russh::ChannelMsg;

use super::setup::{fleet_with, logged_in, PASSWORD, QUIET, SEED, USER};

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
async fn shell_platforms_misbehave_on_the_config_command_too() {
    let mut endless = DeviceSpec::new("ios-endless", Platform::CiscoIos);
    endless.accepts = vec![(USER.into(), PASSWORD.into())];
    endless.fault = Some(Fault::EndlessOutput);
    let mut cut = DeviceSpec::new("junos-cut", Platform::JuniperJunos);
    cut.accepts = endless.accepts.clone();
    cut.fault = Some(Fault::DropMidOutput);
    let spec = FleetSpec {
        drift: 0.0,
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
