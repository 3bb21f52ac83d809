//! `cisco_ios` and `juniper_junos` devices driven through a PTY shell, as a worker would.

use crate::common::{self, Client, Shell};
use netraven_simulator::{
    scenario, DeviceSpec, Fleet, FleetOptions, FleetSpec, Platform, IOS_INVALID_INPUT, JUNOS_MORE,
    MORE, PAGE_LINES,
};

const USER: &str = "netops";
const PASSWORD: &str = "correct-horse-battery";
const ENABLE: &str = "en4ble-s3cret";

fn device(name: &str, platform: Platform, enable: Option<&str>) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, platform);
    d.accepts = vec![(USER.into(), PASSWORD.into())];
    d.enable_secret = enable.map(str::to_string);
    d.tags = vec!["fleet".into()];
    d
}

async fn fleet_of(devices: Vec<DeviceSpec>) -> Fleet {
    let spec = FleetSpec {
        drift: 0.0,
        seed: 77,
        credentials: Vec::new(),
        devices,
    };
    Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap()
}

async fn login(fleet: &Fleet, i: usize) -> Client {
    let mut c = Client::connect(&fleet.devices()[i]).await;
    assert!(c.password(USER, PASSWORD).await);
    c
}

/// Strips the echoed command and the trailing prompt, CRLF → LF.
fn body(out: &str, command: &str, prompt: &str) -> String {
    out.strip_prefix(&format!("{command}\r\n"))
        .unwrap_or_else(|| panic!("no echo of {command:?} in {out:?}"))
        .strip_suffix(prompt)
        .unwrap_or_else(|| panic!("no prompt {prompt:?} after {out:?}"))
        .replace("\r\n", "\n")
}

async fn ios_enable(sh: &mut Shell) {
    sh.send("enable\r").await;
    assert_eq!(sh.read_until("Password: ").await, "enable\r\nPassword: ");
    sh.send(&format!("{ENABLE}\r")).await;
    let out = sh.read_until("ios-1#").await;
    assert!(
        !out.contains(ENABLE),
        "the secret must not be echoed: {out:?}"
    );
}

#[tokio::test]
async fn ios_refuses_exec_and_backs_up_through_enable_and_terminal_length_0() {
    let fleet = fleet_of(vec![device("ios-1", Platform::CiscoIos, Some(ENABLE))]).await;
    let c = login(&fleet, 0).await;
    let mut ch = c.handle.channel_open_session().await.unwrap();
    assert!(
        ch.exec(true, "show running-config").await.is_err() || {
            // russh reports the refusal as a Failure message on the channel.
            let mut refused = false;
            while let Some(m) = common::within("exec refusal", ch.wait()).await {
                if matches!(m, russh::ChannelMsg::Failure) {
                    refused = true;
                    break;
                }
                assert!(
                    !matches!(m, russh::ChannelMsg::Data { .. }),
                    "exec must give no output"
                );
            }
            refused
        },
        "cisco_ios must refuse exec channels"
    );

    let (mut sh, banner) = c.shell("ios-1>").await;
    assert!(banner.ends_with("ios-1>"));
    // Not privileged yet: the backup command is refused with IOS's caret.
    sh.send("show running-config\r").await;
    let out = sh.read_until("ios-1>").await;
    assert_eq!(
        out,
        format!(
            "show running-config\r\n{}^\r\n{IOS_INVALID_INPUT}\r\n\r\nios-1>",
            " ".repeat(11)
        )
    );
    ios_enable(&mut sh).await;
    sh.send("terminal length 0\r").await;
    assert_eq!(sh.read_until("ios-1#").await, "terminal length 0\r\nios-1#");
    sh.send("show running-config\r").await;
    let out = sh.read_until("\nios-1#").await;
    // What the session printed: the stored form plus the lines IOS prints anew each time.
    let expected = fleet.config_sent("ios-1").unwrap();
    assert_eq!(body(&out, "show running-config", "ios-1#"), expected);
    assert!(expected.starts_with("Building configuration...\n\nCurrent configuration : "));
    assert!(expected.ends_with("end\n"));
    assert!(expected.contains("enable secret 5 $1$"));
    assert!(expected.contains("\n! Last configuration change at "));
    assert!(expected.contains("\nntp clock-period "));
    let stored = fleet.expected_config("ios-1").unwrap();
    assert!(stored.starts_with("\n!\n!\nversion 15.2\n"), "{stored:.40}");
    assert!(!stored.contains("ntp clock-period"));
    assert!(!out.contains(MORE));

    // Every command received, the refused exec first; the enable secret is not one.
    assert_eq!(
        fleet.commands("ios-1"),
        vec![
            "show running-config",
            "show running-config",
            "enable",
            "terminal length 0",
            "show running-config"
        ]
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn ios_pages_every_24_lines_until_answered_with_space_or_newline() {
    let fleet = fleet_of(vec![device("ios-1", Platform::CiscoIos, None)]).await;
    let c = login(&fleet, 0).await;
    let (mut sh, _) = c.shell("ios-1>").await;
    sh.send("en\r").await; // no enable secret: straight to `#`
    sh.read_until("ios-1#").await;
    sh.send("sh run\r").await;
    let mut pages = vec![sh.read_until(MORE).await];
    let mut answers = [" ", "\r"].iter().cycle();
    let last = loop {
        sh.send(answers.next().unwrap()).await;
        let chunk = sh.read_until_any(&[MORE, "ios-1#"]).await;
        if chunk.ends_with("ios-1#") {
            break chunk;
        }
        pages.push(chunk);
    };
    let expected = fleet.config_sent("ios-1").unwrap();
    let lines = expected.lines().count();
    assert_eq!(
        pages.len(),
        lines.div_ceil(PAGE_LINES) - 1,
        "one --More-- per full page"
    );
    // First page: the echo plus exactly 24 config lines.
    assert_eq!(pages[0].matches("\r\n").count(), 1 + PAGE_LINES);
    // Reassembled (pager prompts and their erasure removed) it is the config.
    let mut all = pages.concat() + &last;
    all = all.replace(MORE, "").replace('\x08', "");
    let all = all.replace("          ", "");
    assert_eq!(body(&all, "sh run", "ios-1#"), expected);
    fleet.shutdown().await;
}

#[tokio::test]
async fn ios_wrong_enable_secret_three_times_gives_bad_secrets() {
    let fleet = fleet_of(vec![device("ios-1", Platform::CiscoIos, Some(ENABLE))]).await;
    let c = login(&fleet, 0).await;
    let (mut sh, _) = c.shell("ios-1>").await;
    sh.send("enable\r").await;
    sh.read_until("Password: ").await;
    sh.send("wrong1\r").await;
    assert_eq!(sh.read_until("Password: ").await, "\r\nPassword: ");
    sh.send("wrong2\r").await;
    sh.read_until("Password: ").await;
    sh.send("wrong3\r").await;
    assert_eq!(
        sh.read_until("ios-1>").await,
        "\r\n% Bad secrets\r\n\r\nios-1>"
    );
    sh.send("bogus command\r").await;
    let out = sh.read_until("ios-1>").await;
    assert!(
        out.contains(&format!("{}^\r\n{IOS_INVALID_INPUT}", " ".repeat(6))),
        "{out:?}"
    );
    assert_eq!(fleet.commands("ios-1"), vec!["enable", "bogus command"]);
    sh.send("exit\r").await;
    sh.read_to_close().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn junos_backs_up_with_display_set_after_screen_length_0() {
    let fleet = fleet_of(vec![device("mx-1", Platform::JuniperJunos, None)]).await;
    let c = login(&fleet, 0).await;
    let prompt = "netops@mx-1> ";
    let (mut sh, _) = c.shell(prompt).await;
    sh.send("set cli screen-length 0\r").await;
    assert_eq!(
        sh.read_until(prompt).await,
        format!("set cli screen-length 0\r\nScreen length set to 0\r\n{prompt}")
    );
    let cmd = "show configuration | display set";
    sh.send(&format!("{cmd}\r")).await;
    let out = sh.read_until(&format!("\n{prompt}")).await;
    let expected = fleet.expected_config("mx-1").unwrap();
    assert_eq!(body(&out, cmd, prompt), expected);
    assert!(expected.contains("set system host-name mx-1\n"));
    assert!(expected.contains("encrypted-password \"$6$"));
    assert!(!out.contains(JUNOS_MORE));

    sh.send("show bogus\r").await;
    let out = sh.read_until(prompt).await;
    assert!(
        out.contains(&format!(
            "{}^\r\nunknown command.",
            " ".repeat(prompt.len() + 5)
        )),
        "{out:?}"
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn junos_pages_with_its_own_pager_unless_no_more() {
    let fleet = fleet_of(vec![device("mx-1", Platform::JuniperJunos, None)]).await;
    let c = login(&fleet, 0).await;
    let prompt = "netops@mx-1> ";
    let (mut sh, _) = c.shell(prompt).await;
    sh.send("show configuration | display set\r").await;
    sh.read_until(JUNOS_MORE).await;
    sh.send("q").await;
    sh.read_until(prompt).await;
    let cmd = "show configuration | display set | no-more";
    sh.send(&format!("{cmd}\r")).await;
    let out = sh.read_until(&format!("\n{prompt}")).await;
    assert_eq!(
        body(&out, cmd, prompt),
        fleet.expected_config("mx-1").unwrap()
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn multi_vendor_scenario_mixes_platforms_a_third_each() {
    let spec = scenario("multi-vendor", 300, 5).unwrap();
    for p in Platform::PRESET {
        let n = spec.devices.iter().filter(|d| d.platform == p).count();
        assert_eq!(n, 100, "{p}");
    }
    assert!(spec
        .devices
        .iter()
        .filter(|d| d.platform == Platform::CiscoIos)
        .all(|d| d.enable_secret.is_some()));
    // Same credential layout as `mixed`.
    let mixed = scenario("mixed", 300, 5).unwrap();
    let accepts = |s: &FleetSpec| {
        s.devices
            .iter()
            .map(|d| d.accepts.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(accepts(&spec), accepts(&mixed));
}
