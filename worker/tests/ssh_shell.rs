//! `ssh::Shell` against real SSH servers: the simulator's `cisco_ios`, `juniper_junos` and
//! `linux` PTY shells, and a small russh server whose output is built to look like
//! prompts at the wrong moment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netraven_simulator::{DeviceSpec, Fleet, FleetOptions, FleetSpec, Platform, RunningDevice};
use netraven_worker::ssh::{
    AuthOutcome, HostKeyCheck, OutputAllowance, Phase, Session, Shell, ShellOptions, SshError,
    SshTimeouts,
};
use regex::Regex;
use secrecy::SecretString;
use tokio::net::TcpListener;

const USER: &str = "netops";
const PASSWORD: &str = "correct-horse";
const ENABLE: &str = "enable-me";

// The built-in profiles' patterns (worker/profiles/*.toml).
const IOS_PROMPT: &str = r"(?m)^[\w.\-@()/:]{1,63}[>#]\s*$";
const IOS_PRIVILEGED: &str = r"(?m)^[\w.\-@()/:]{1,63}#\s*$";
const IOS_PASSWORD: &str = r"(?im)^password:\s*$";
const IOS_PAGER: &str = r"\s*--More--\s*";
const JUNOS_PROMPT: &str = r"(?m)^[\w.\-]+@[\w.\-]+[>#%]\s*$";
const JUNOS_PAGER: &str = r"\s*---\(more[^)]*\)---\s*";
const GENERIC_PROMPT: &str = r"(?m)^\S{1,63}[>#$]\s*$";

fn re(p: &str) -> Regex {
    Regex::new(p).expect("test pattern compiles")
}

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
    let mut s = Session::connect(
        &dev.host.to_string(),
        dev.port,
        &timeouts(),
        HostKeyCheck::Off,
    )
    .await
    .expect("connects");
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
    let expected = fleet.expected_config(&dev.name).expect("config");
    assert!(expected.lines().count() > 2 * netraven_simulator::PAGE_LINES);
    let paged = sh
        .command("show running-config", &mut OutputAllowance::upto(1 << 20))
        .await
        .expect("show run");
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
    assert_eq!(unpaged, expected);

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

// ---------------------------------------------------------------------------------------
// A shell server with output built to trip prompt detection.

mod tricky {
    use std::collections::HashMap;
    use std::time::Duration;

    use russh::keys::ssh_key::private::Ed25519Keypair;
    use russh::keys::PrivateKey;
    use russh::server::{Auth, ChannelOpenHandle, Handle, Msg, Session};
    use russh::{Channel, ChannelId, MethodKind, MethodSet};

    pub const PROMPT: &str = "R1#";

    pub fn config() -> russh::server::Config {
        russh::server::Config {
            methods: MethodSet::from(&[MethodKind::Password][..]),
            auth_rejection_time: Duration::ZERO,
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![PrivateKey::from(Ed25519Keypair::from_seed(&[3u8; 32]))],
            nodelay: true,
            ..Default::default()
        }
    }

    #[derive(Default)]
    pub struct Conn {
        lines: HashMap<ChannelId, Vec<u8>>,
    }

    async fn send(h: &Handle, c: ChannelId, s: &str) {
        let _ = h.data(c, s.as_bytes().to_vec()).await;
    }

    /// Output of a typed line, in timed pieces.
    async fn answer(h: Handle, c: ChannelId, line: String) {
        match line.as_str() {
            // A config line equal to the prompt, cut right after it by a pause shorter
            // than the quiet window (300 ms in these tests); colours and a title escape
            // on the way.
            "show tricky" => {
                send(
                    &h,
                    c,
                    "\x1b]0;R1\x07\x1b[1mhostname R1\x1b[0m\r\nbanner\r\nR1#",
                )
                .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                send(&h, c, "\r\n end of banner\r\n").await;
                send(&h, c, PROMPT).await;
            }
            // Output that keeps coming in 400 ms steps (idle timeout 1 s), then a prompt.
            "show slow" => {
                for i in 0..4 {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    send(&h, c, &format!("step {i}\r\n")).await;
                }
                send(&h, c, PROMPT).await;
            }
            // Never comes back.
            "hang" => {}
            _ => send(&h, c, PROMPT).await,
        }
    }

    impl russh::server::Handler for Conn {
        type Error = russh::Error;

        async fn auth_password(&mut self, _: &str, _: &str) -> Result<Auth, Self::Error> {
            Ok(Auth::Accept)
        }

        async fn channel_open_session(
            &mut self,
            channel: Channel<Msg>,
            reply: ChannelOpenHandle,
            _session: &mut Session,
        ) -> Result<(), Self::Error> {
            self.lines.insert(channel.id(), Vec::new());
            drop(channel);
            reply.accept().await;
            Ok(())
        }

        #[allow(clippy::too_many_arguments)]
        async fn pty_request(
            &mut self,
            channel: ChannelId,
            _: &str,
            _: u32,
            _: u32,
            _: u32,
            _: u32,
            _: &[(russh::Pty, u32)],
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            session.channel_success(channel)
        }

        async fn shell_request(
            &mut self,
            channel: ChannelId,
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            session.channel_success(channel)?;
            // A MOTD with a prompt-looking line, then the real prompt.
            session.data(
                channel,
                b"\r\nR1#\r\nAuthorized access only\r\n\r\nR1#".to_vec(),
            )?;
            Ok(())
        }

        async fn data(
            &mut self,
            channel: ChannelId,
            data: &[u8],
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            let Some(buf) = self.lines.get_mut(&channel) else {
                return Ok(());
            };
            for &b in data {
                if b == b'\r' || b == b'\n' {
                    let line = String::from_utf8_lossy(&std::mem::take(buf)).into_owned();
                    session.data(channel, format!("{line}\r\n").into_bytes())?;
                    tokio::spawn(answer(session.handle(), channel, line));
                } else {
                    buf.push(b);
                }
            }
            Ok(())
        }
    }
}

const QUIET: Duration = Duration::from_millis(300);

async fn start_tricky() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = Arc::new(tricky::config());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let config = Arc::clone(&config);
            tokio::spawn(async move {
                if let Ok(session) =
                    russh::server::run_stream(config, sock, tricky::Conn::default()).await
                {
                    let _ = session.await;
                }
            });
        }
    });
    addr
}

async fn tricky_shell(t: &SshTimeouts, quiet: Duration) -> (Session, Shell) {
    let addr = start_tricky().await;
    let mut s = Session::connect(&addr.ip().to_string(), addr.port(), t, HostKeyCheck::Off)
        .await
        .expect("connects");
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
