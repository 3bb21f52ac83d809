//! The simulator against a client that shares no code with it: OpenSSH's `ssh`. Exec on
//! `linux`, an expect-style `ssh -tt` session on `cisco_ios` (paging on and off, enable
//! with a secret), and faults as OpenSSH reports them. Passwords reach `ssh` through
//! `SSH_ASKPASS` (`SSH_ASKPASS_REQUIRE=force`): no extra package needed.

use crate::common;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use netraven_simulator::{
    host_key, DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec, Platform, RunningDevice,
    LINUX_CONFIG_COMMAND, MORE,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const SSH: &str = "/usr/bin/ssh";
const USER: &str = "netops";
const PASSWORD: &str = "open-sesame-22";
const ENABLE: &str = "en-4ble";
const SEED: u64 = 31;
const LIMIT: Duration = Duration::from_secs(20);

fn device(name: &str, platform: Platform, fault: Option<Fault>) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, platform);
    d.accepts = vec![(USER.into(), PASSWORD.into())];
    d.fault = fault;
    if platform == Platform::CiscoIos {
        d.enable_secret = Some(ENABLE.into());
        d.config_bytes = 6000; // several pages
    }
    d
}

async fn fleet(devices: Vec<DeviceSpec>) -> (Fleet, Vec<RunningDevice>) {
    let spec = FleetSpec {
        drift: 0.0,
        seed: SEED,
        credentials: Vec::new(),
        devices,
    };
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .unwrap();
    let devices = fleet.devices();
    (fleet, devices)
}

/// A folder with an askpass script printing `secret`.
fn askpass(secret: &str) -> PathBuf {
    assert!(
        Path::new(SSH).exists(),
        "these tests need OpenSSH's client at {SSH}: apt-get install -y openssh-client"
    );
    let dir = common::scratch_dir("askpass");
    let script = dir.join("askpass.sh");
    std::fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' '{secret}'\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    script
}

/// `ssh` to `dev` with no config, no keys, no agent, password from `askpass`. `extra`
/// comes first: for `-o` options OpenSSH keeps the first value it reads.
fn ssh(dev: &RunningDevice, askpass: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(SSH);
    c.args(extra)
        .args(["-F", "/dev/null", "-p", &dev.port.to_string()])
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "GlobalKnownHostsFile=/dev/null"])
        .args(["-o", "PubkeyAuthentication=no", "-o", "IdentityAgent=none"])
        .args([
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ])
        .args(["-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=5"])
        .arg(format!("{USER}@{}", dev.host))
        .env("SSH_ASKPASS", askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .kill_on_drop(true);
    c
}

async fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null());
    tokio::time::timeout(LIMIT, cmd.output())
        .await
        .expect("ssh did not finish")
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn openssh_exec_on_linux_returns_the_config_and_exit_statuses() {
    let (fleet, devs) = fleet(vec![device("lnx-1", Platform::Linux, None)]).await;
    let pass = askpass(PASSWORD);
    let out = run({
        let mut c = ssh(&devs[0], &pass, &[]);
        c.arg(LINUX_CONFIG_COMMAND);
        c
    })
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(Some(text(&out.stdout)), fleet.expected_config("lnx-1"));

    let out = run({
        let mut c = ssh(&devs[0], &pass, &[]);
        c.arg("false");
        c
    })
    .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "the remote exit status comes back"
    );

    let wrong = run(ssh(&devs[0], &askpass("not-it"), &[])).await;
    assert_eq!(wrong.status.code(), Some(255));
    assert!(
        text(&wrong.stderr).contains("Permission denied"),
        "{}",
        text(&wrong.stderr)
    );

    let accepted: Vec<bool> = fleet
        .attempts("lnx-1")
        .iter()
        .filter(|a| a.method == "password")
        .map(|a| a.accepted)
        .collect();
    assert_eq!(accepted, vec![true, true, false]);
    assert_eq!(fleet.commands("lnx-1"), vec![LINUX_CONFIG_COMMAND, "false"]);
    fleet.shutdown().await;
}

/// `ssh -tt` driven through its stdin and stdout, expect-style.
struct Tty {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    buf: String,
}

impl Tty {
    async fn send(&mut self, s: &str) {
        self.stdin.write_all(s.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Everything up to and including the first of `pats`.
    async fn expect(&mut self, pats: &[&str]) -> String {
        loop {
            if let Some(taken) = common::take_through_first(&mut self.buf, pats) {
                return taken;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(LIMIT, self.stdout.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("waiting for {pats:?}; got {:?}", self.buf))
                .unwrap();
            assert!(n > 0, "ssh ended waiting for {pats:?}; got {:?}", self.buf);
            self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }
}

#[tokio::test]
async fn openssh_tty_session_on_cisco_ios_enables_and_reads_the_config_paged_and_unpaged() {
    let (fleet, devs) = fleet(vec![device("ios-1", Platform::CiscoIos, None)]).await;
    let mut cmd = ssh(&devs[0], &askpass(PASSWORD), &["-tt", "-e", "none"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let mut tty = Tty {
        _child: child,
        stdin,
        stdout,
        buf: String::new(),
    };
    tty.expect(&["ios-1>"]).await;
    tty.send("enable\r").await;
    tty.expect(&["Password: "]).await;
    tty.send(&format!("{ENABLE}\r")).await;
    let out = tty.expect(&["ios-1#"]).await;
    assert!(!out.contains(ENABLE), "the secret is not echoed");

    // Paging on: answer every --More-- with a space.
    tty.send("show running-config\r").await;
    let mut all = String::new();
    loop {
        let chunk = tty.expect(&[MORE, "\nios-1#"]).await;
        all.push_str(&chunk);
        if chunk.ends_with("ios-1#") {
            break;
        }
        tty.send(" ").await;
    }
    let expected = fleet.config_sent("ios-1").unwrap();
    let pages = all.matches(MORE).count();
    assert!(pages >= 2, "a 6 kB config spans pages: {pages}");
    let erase = format!("{0}{1}{0}", "\x08".repeat(10), " ".repeat(10));
    let paged = all
        .replace(MORE, "")
        .replace(&erase, "")
        .replace("\r\n", "\n");
    assert_eq!(
        paged,
        format!("show running-config\n{expected}ios-1#"),
        "reassembled pages are the config"
    );
    // Paging off.
    tty.send("terminal length 0\r").await;
    tty.expect(&["ios-1#"]).await;
    tty.send("show running-config\r").await;
    let out = tty.expect(&["\nios-1#"]).await;
    assert!(!out.contains(MORE));
    let again = fleet.config_sent("ios-1").unwrap();
    assert_ne!(again, expected, "the time or ntp clock-period moved");
    assert_eq!(
        out.replace("\r\n", "\n"),
        format!("show running-config\n{again}ios-1#")
    );
    tty.send("exit\r").await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn openssh_meets_the_faults_as_a_user_would() {
    let (fleet, devs) = fleet(vec![
        device("kbd", Platform::Linux, Some(Fault::KeyboardInteractiveOnly)),
        device("legacy", Platform::Linux, Some(Fault::LegacyAlgorithms)),
        device("rekeyed", Platform::Linux, Some(Fault::HostKeyChanged)),
        device("closed", Platform::Linux, Some(Fault::PortClosed)),
    ])
    .await;
    let pass = askpass(PASSWORD);
    let hostname = |dev: &RunningDevice, extra: &[&str]| {
        let mut c = ssh(dev, &pass, extra);
        c.arg("hostname");
        c
    };

    // keyboard-interactive only: the same secret answers the prompt.
    let out = run(hostname(&devs[0], &[])).await;
    assert_eq!(text(&out.stdout), "kbd\n", "{}", text(&out.stderr));
    assert!(fleet
        .attempts("kbd")
        .iter()
        .any(|a| a.method == "keyboard-interactive" && a.accepted));

    // Legacy algorithms: refused by default, fine once the legacy lists are enabled.
    let out = run(hostname(&devs[1], &[])).await;
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("no matching"),
        "{}",
        text(&out.stderr)
    );
    let legacy = [
        "-o",
        "KexAlgorithms=+diffie-hellman-group14-sha1",
        "-o",
        "Ciphers=+aes128-cbc",
        "-o",
        "MACs=+hmac-sha1",
    ];
    let out = run(hostname(&devs[1], &legacy)).await;
    assert_eq!(text(&out.stdout), "legacy\n", "{}", text(&out.stderr));

    // Changed host key: with the seed's key pinned, ssh stops before any password.
    let pinned = common::scratch_dir("known").join("known_hosts");
    let seed_key = host_key(SEED, "rekeyed")
        .unwrap()
        .public_key()
        .to_openssh()
        .unwrap();
    std::fs::write(
        &pinned,
        format!("[{}]:{} {seed_key}\n", devs[2].host, devs[2].port),
    )
    .unwrap();
    let strict = format!("UserKnownHostsFile={}", pinned.display());
    let out = run(hostname(
        &devs[2],
        &["-o", &strict, "-o", "StrictHostKeyChecking=yes"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        text(&out.stderr)
    );
    assert!(fleet.secrets_sent_to_changed_host_keys().is_empty());
    assert_eq!(fleet.report("rekeyed").unwrap().secrets_received, 0);

    // Port closed.
    let out = run(hostname(&devs[3], &[])).await;
    assert!(
        text(&out.stderr).contains("Connection refused"),
        "{}",
        text(&out.stderr)
    );
    fleet.shutdown().await;
}
