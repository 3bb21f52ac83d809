//! The `linux` platform as a backup client sees it: exec commands and the PTY shell.

use crate::common::Client;
use netraven_simulator::{scenario, Fleet, FleetOptions, LINUX_CONFIG_COMMAND};

async fn logged_in() -> (Fleet, Client) {
    let spec = scenario("all-good", 1, 11).unwrap();
    let (user, pw) = spec.devices[0].accepts[0].clone();
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    let mut c = Client::connect(&fleet.devices()[0]).await;
    assert!(c.password(&user, &pw).await);
    (fleet, c)
}

#[tokio::test]
async fn config_command_returns_exactly_the_expected_config() {
    let (fleet, c) = logged_in().await;
    let out = c.exec(LINUX_CONFIG_COMMAND).await;
    let expected = fleet.expected_config("dev-00001").unwrap();
    assert_eq!(out.status, Some(0));
    assert_eq!(out.stderr, "");
    assert_eq!(out.stdout, expected);
    // It looks like a router config and carries secrets that redaction must remove.
    assert!(expected.contains("hostname dev-00001\n"));
    assert!(expected.contains("enable secret 5 $1$"));
    assert!(expected.contains("snmp-server community "));
    assert!(expected.contains("username admin privilege 15 password 7 "));
    let secrets = fleet.config_secrets("dev-00001");
    assert!(secrets.len() >= 4);
    assert!(secrets.iter().all(|s| expected.contains(s.as_str())));
    // About config_bytes long.
    assert!(
        (3500..5000).contains(&expected.len()),
        "{} bytes",
        expected.len()
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn unknown_command_fails_like_sh_with_127() {
    let (fleet, c) = logged_in().await;
    let out = c.exec("show running-config").await;
    assert_eq!(out.status, Some(127));
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "sh: 1: show: not found\n");
    fleet.shutdown().await;
}

#[tokio::test]
async fn simple_commands_answer_and_every_command_is_recorded_in_order() {
    let (fleet, c) = logged_in().await;
    assert_eq!(c.exec("hostname").await.stdout, "dev-00001\n");
    assert_eq!(c.exec("echo hello  world").await.stdout, "hello  world\n");
    let uname = c.exec("uname -a").await;
    assert!(
        uname.stdout.starts_with("Linux dev-00001 "),
        "{}",
        uname.stdout
    );
    assert_eq!(uname.status, Some(0));
    assert_eq!(
        fleet.commands("dev-00001"),
        vec!["hostname", "echo hello  world", "uname -a"]
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn pty_shell_has_a_prompt_echoes_and_runs_commands() {
    let (fleet, c) = logged_in().await;
    let (mut sh, banner) = c.shell("dev-00001:~$ ").await;
    assert!(banner.ends_with("dev-00001:~$ "));
    sh.send("hostname\r").await;
    let out = sh.read_until("dev-00001:~$ ").await;
    assert_eq!(out, "hostname\r\ndev-00001\r\ndev-00001:~$ ");
    sh.send(&format!("{LINUX_CONFIG_COMMAND}\n")).await;
    let out = sh.read_until("dev-00001:~$ ").await;
    let body = out
        .strip_prefix(&format!("{LINUX_CONFIG_COMMAND}\r\n"))
        .unwrap()
        .strip_suffix("dev-00001:~$ ")
        .unwrap()
        .replace("\r\n", "\n");
    assert_eq!(Some(body), fleet.expected_config("dev-00001"));
    sh.send("exit\n").await;
    let rest = sh.read_to_close().await;
    assert!(rest.contains("logout"), "{rest:?}");
    assert_eq!(
        fleet.commands("dev-00001"),
        vec!["hostname", LINUX_CONFIG_COMMAND, "exit"]
    );
    fleet.shutdown().await;
}
