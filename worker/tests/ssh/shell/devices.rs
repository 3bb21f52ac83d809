//! The simulator's `cisco_ios`, `juniper_junos` and `linux` shells: enable, pagers,
//! banners and whole configurations.

use netraven_simulator::{DeviceSpec, Fleet, FleetOptions, FleetSpec, Platform, RunningDevice};
use netraven_worker::ssh::{
    AuthOutcome, HostKeyCheck, OutputAllowance, Session, Shell, ShellOptions, SshError,
};

use crate::common::{connect, secret, PASSWORD, USER};
use crate::shell::profiles::{
    re, GENERIC_PROMPT, IOS_PAGER, IOS_PASSWORD, IOS_PRIVILEGED, IOS_PROMPT, JUNOS_PAGER,
    JUNOS_PROMPT,
};

const ENABLE: &str = "enable-me";

async fn fleet() -> Fleet {
    let accepts = vec![(USER.to_string(), PASSWORD.to_string())];
    let mut ios = DeviceSpec::new("core-ios", Platform::CiscoIos);
    ios.accepts = accepts.clone();
    ios.enable_secret = Some(ENABLE.to_string());
    ios.config_bytes = 8192; // several pages
    let mut junos = DeviceSpec::new("edge-junos", Platform::JuniperJunos);
    junos.accepts = accepts.clone();
    junos.config_bytes = 8192;
    let mut linux = DeviceSpec::new("box-linux", Platform::Linux);
    linux.accepts = accepts;
    let spec = FleetSpec {
        drift: 0.0,
        seed: 11,
        credentials: Vec::new(),
        devices: vec![ios, junos, linux],
    };
    Fleet::start(spec, FleetOptions::random_base())
        .await
        .expect("simulator fleet starts")
}

fn device(fleet: &Fleet, name: &str) -> RunningDevice {
    fleet
        .devices()
        .into_iter()
        .find(|d| d.name == name)
        .expect("device in fleet")
}

async fn logged_in(dev: &RunningDevice) -> Session {
    let mut s = connect(dev, HostKeyCheck::Off).await.expect("connects");
    assert_eq!(
        s.authenticate(USER, &secret(PASSWORD)).await.expect("auth"),
        AuthOutcome::Accepted
    );
    s
}

fn ios_options() -> ShellOptions {
    let mut o = ShellOptions::new(re(IOS_PROMPT));
    o.pager = Some(re(IOS_PAGER));
    o
}

#[tokio::test]
async fn cisco_ios_enable_and_paged_running_config() {
    let fleet = fleet().await;
    let dev = device(&fleet, "core-ios");
    let mut s = logged_in(&dev).await;
    let mut sh: Shell = s.shell(ios_options()).await.expect("shell opens");
    assert_eq!(sh.prompt(), "core-ios>");

    // Wrong secret: back at the user prompt, and the secret is nowhere in the output.
    let enabled = sh
        .enable(
            "enable",
            &re(IOS_PASSWORD),
            &re(IOS_PRIVILEGED),
            Some(&secret("not-it")),
        )
        .await
        .expect("enable runs");
    assert!(!enabled);
    assert_eq!(sh.prompt(), "core-ios>");

    let enabled = sh
        .enable(
            "enable",
            &re(IOS_PASSWORD),
            &re(IOS_PRIVILEGED),
            Some(&secret(ENABLE)),
        )
        .await
        .expect("enable runs");
    assert!(enabled);
    assert_eq!(sh.prompt(), "core-ios#");

    // Paging still on: every ` --More-- ` is answered and removed.
    let paged = sh
        .command("show running-config", &mut OutputAllowance::upto(1 << 20))
        .await
        .expect("show run");
    // What this session printed: the time and `ntp clock-period` change every time.
    let expected = fleet.config_sent(&dev.name).expect("config");
    assert!(expected.lines().count() > 2 * netraven_simulator::PAGE_LINES);
    assert!(!paged.contains("More"), "pager text left in output");
    assert_eq!(paged, expected);

    assert_eq!(
        sh.command("terminal length 0", &mut OutputAllowance::upto(4096))
            .await
            .expect("term len"),
        ""
    );
    let unpaged = sh
        .command("show running-config", &mut OutputAllowance::upto(1 << 20))
        .await
        .expect("show run");
    assert_eq!(unpaged, fleet.config_sent(&dev.name).expect("config"));

    let invalid = sh
        .command("show nonsense", &mut OutputAllowance::upto(4096))
        .await
        .expect("runs");
    assert!(invalid.contains("% Invalid input detected"), "{invalid:?}");
    assert!(sh.is_usable());

    let commands = fleet.commands(&dev.name);
    assert!(
        !commands
            .iter()
            .any(|c| c.contains(ENABLE) || c.contains("not-it")),
        "secrets are not commands: {commands:?}"
    );
    assert_eq!(
        commands
            .iter()
            .filter(|c| c.as_str() == "show running-config")
            .count(),
        2
    );
    sh.close().await;
    s.close().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn cisco_ios_without_enable_secret_given_is_refused_cleanly() {
    let fleet = fleet().await;
    let dev = device(&fleet, "core-ios");
    let mut s = logged_in(&dev).await;
    let mut sh = s.shell(ios_options()).await.expect("shell opens");
    let enabled = sh
        .enable("enable", &re(IOS_PASSWORD), &re(IOS_PRIVILEGED), None)
        .await
        .expect("enable runs");
    assert!(!enabled);
    assert_eq!(sh.prompt(), "core-ios>");
    // Still in sync: the next command gets its own output.
    let out = sh
        .command("show version", &mut OutputAllowance::upto(1 << 16))
        .await
        .expect("runs");
    assert!(out.starts_with("Cisco IOS Software"), "{out:?}");
    s.close().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn junos_banner_pager_and_configuration() {
    let fleet = fleet().await;
    let dev = device(&fleet, "edge-junos");
    let mut s = logged_in(&dev).await;
    let mut o = ShellOptions::new(re(JUNOS_PROMPT));
    o.pager = Some(re(JUNOS_PAGER));
    let mut sh = s.shell(o).await.expect("shell opens");
    assert!(sh.banner().contains("JUNOS"), "{:?}", sh.banner());
    assert_eq!(sh.prompt(), format!("{USER}@edge-junos>"));
    let out = sh
        .command(
            "show configuration | display set",
            &mut OutputAllowance::upto(1 << 20),
        )
        .await
        .expect("show configuration");
    assert_eq!(out, fleet.expected_config(&dev.name).expect("config"));
    s.close().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn linux_shell_with_the_generic_prompt() {
    let fleet = fleet().await;
    let dev = device(&fleet, "box-linux");
    let mut s = logged_in(&dev).await;
    let mut sh = s
        .shell(ShellOptions::new(re(GENERIC_PROMPT)))
        .await
        .expect("shell opens");
    assert!(sh.banner().contains("Welcome"), "{:?}", sh.banner());
    let out = sh
        .command(
            netraven_simulator::LINUX_CONFIG_COMMAND,
            &mut OutputAllowance::upto(1 << 20),
        )
        .await
        .expect("cat config");
    assert_eq!(out, fleet.expected_config(&dev.name).expect("config"));
    assert_eq!(
        sh.command("hostname", &mut OutputAllowance::upto(4096))
            .await
            .expect("runs"),
        "box-linux\n"
    );
    let err = sh
        .command(
            netraven_simulator::LINUX_CONFIG_COMMAND,
            &mut OutputAllowance::upto(64),
        )
        .await
        .expect_err("larger than 64 bytes");
    assert!(
        matches!(err, SshError::OutputTooLarge { limit: 64 }),
        "{err:?}"
    );
    assert!(!sh.is_usable());
    s.close().await;
    fleet.shutdown().await;
}
