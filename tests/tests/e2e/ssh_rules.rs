//! Devices at the edges of SSH's rules, and past them:
//!
//! - one that ignores the maximum packet size the worker advertises (32 KiB) and sends its
//!   output in larger packets: its session ends at the first such packet with a reason
//!   that says so, and a device that keeps to the rule is read in full;
//! - one whose command is killed mid-output (`exit-signal`, as OpenSSH's sshd reports it):
//!   what it sent is incomplete and is never stored as a configuration.
//!
//! Neither the simulator (russh) nor OpenSSH's sshd can be made to send an oversized
//! packet, so the device here is `tests/peers/misbehaving_ssh.py`, a paramiko server
//! (Debian's `python3-paramiko`, which scripts/test installs).

use anyhow::{bail, Context, Result};
use netraven_worker::ssh::{
    ExecOutput, HostKeyCheck, OutputBudget, Phase, Session, SshError, SshOptions, SshTimeouts,
};
use secrecy::SecretString;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const PYTHON: &str = "/usr/bin/python3";

/// The paramiko server, killed when dropped.
struct Peer {
    child: Child,
    port: u16,
}

impl Peer {
    fn start() -> Result<Peer> {
        let ready = Command::new(PYTHON)
            .args(["-c", "import paramiko"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ready {
            bail!(
                "{PYTHON} with paramiko is missing: run `sudo apt-get install -y python3-paramiko` \
                 (scripts/test does so as root)"
            );
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/misbehaving_ssh.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {script}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("the peer's stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let port = match line.split_whitespace().next().map(str::parse::<u16>) {
            Some(Ok(port)) => port,
            _ => {
                let _ = child.kill();
                bail!("{script} printed {line:?}, not its port");
            }
        };
        Ok(Peer { child, port })
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn exec_as(peer: &Peer, username: &str) -> Result<Result<ExecOutput, SshError>> {
    let mut session = Session::connect_with(
        "127.0.0.1",
        peer.port,
        &SshTimeouts::default(),
        HostKeyCheck::Off,
        &SshOptions::default(),
    )
    .await?;
    let outcome = session
        .authenticate(username, &SecretString::from("any-password"))
        .await?;
    anyhow::ensure!(
        outcome == netraven_worker::ssh::AuthOutcome::Accepted,
        "{outcome:?}"
    );
    let budget = OutputBudget::new(1 << 20, 1 << 20, 1);
    let mut allowance = budget.allowance();
    let out = session.exec("show running-config", &mut allowance).await;
    session.close().await;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_packet_over_the_advertised_maximum_ends_the_session_with_its_reason() -> Result<()>
{
    let peer = Peer::start()?;

    // The same server keeping to the rule: 128 KiB in packets of 32 KiB at most, read whole.
    let honest = exec_as(&peer, "honest").await?;
    let stdout = honest
        .map_err(|e| anyhow::anyhow!("the honest exec failed: {e}"))?
        .stdout;
    assert_eq!(stdout.len(), 131_072);
    assert!(stdout.starts_with(b"line 000000 of a configuration"));

    // 128 KiB in one packet: refused at that packet, never handed out as output.
    match exec_as(&peer, "oversized").await? {
        Err(SshError::Disconnected(Phase::Command, reason)) => {
            assert!(
                reason.contains("131072 bytes in one SSH data packet")
                    && reason.contains("over the 32768"),
                "{reason}"
            );
        }
        other => panic!(
            "expected the session to end in the command phase, got {:?}",
            other.map(|o| o.stdout.len())
        ),
    }
    Ok(())
}

/// In a job: the device that breaks the packet rule and the one whose command was killed
/// end `COMMAND_FAILED` with their reasons, and store nothing; their neighbour on the same
/// server, keeping to the rules, is backed up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_job_only_the_devices_breaking_the_rules_fail() -> Result<()> {
    use netraven_shared::domain::{JobStatus, Outcome};
    use netraven_tests::{request, TestEnv};
    use std::time::Duration;

    let peer = Peer::start()?;
    let env = TestEnv::new().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("inventory.yaml");
    std::fs::write(
        &path,
        format!(
            "tags:\n  - name: over\n  - name: killed\n  - name: honest\ncredentials:\n\
             \x20 - {{ name: over, username: oversized, priority: 10, tags: [over], secret_env: NRT_PACKETS_PW }}\n\
             \x20 - {{ name: killed, username: killed, priority: 10, tags: [killed], secret_env: NRT_PACKETS_PW }}\n\
             \x20 - {{ name: honest, username: honest, priority: 10, tags: [honest], secret_env: NRT_PACKETS_PW }}\n\
             devices:\n\
             \x20 - {{ name: over-1, host: 127.0.0.1, port: {port}, platform: linux, tags: [over] }}\n\
             \x20 - {{ name: killed-1, host: 127.0.0.1, port: {port}, platform: linux, tags: [killed] }}\n\
             \x20 - {{ name: honest-1, host: 127.0.0.1, port: {port}, platform: linux, tags: [honest] }}\n",
            port = peer.port
        ),
    )?;
    // The import reads the secret from its own environment: this test's process.
    std::env::set_var("NRT_PACKETS_PW", "any-password");
    env.import_file(&path).await?;

    let roles = env.start(1);
    let job = env
        .run_job(
            &request("config_backup", &["over", "killed", "honest"], &[]),
            Duration::from_secs(60),
        )
        .await?;
    roles.stop().await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    let named = |name: &str| results.iter().find(|r| r.device_name == name);
    let (Some(over), Some(killed), Some(honest)) =
        (named("over-1"), named("killed-1"), named("honest-1"))
    else {
        bail!("a device has no result: {results:?}");
    };
    assert_eq!(over.outcome, Outcome::CommandFailed, "{}", over.reason);
    assert!(
        over.reason.contains("131072 bytes in one SSH data packet"),
        "{}",
        over.reason
    );
    assert_eq!(killed.outcome, Outcome::CommandFailed, "{}", killed.reason);
    assert!(
        killed
            .reason
            .contains("was ended by signal KILL: Killed; its output is incomplete"),
        "{}",
        killed.reason
    );
    assert_eq!(honest.outcome, Outcome::Success, "{}", honest.reason);
    let stored: Vec<(String, i32)> = client
        .query(
            "SELECT d.name, octet_length(c.content) FROM device_configs c
             JOIN devices d ON d.id = c.device_id ORDER BY d.name",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0, "honest-1");
    assert!(stored[0].1 > 100_000, "{stored:?}");
    Ok(())
}

/// A command killed mid-output: the session answers what arrived and the signal, so the
/// caller can tell the output is incomplete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_killed_by_a_signal_is_reported_with_its_signal() -> Result<()> {
    let peer = Peer::start()?;
    let out = exec_as(&peer, "killed")
        .await?
        .map_err(|e| anyhow::anyhow!("the killed exec failed at the SSH level: {e}"))?;
    assert_eq!(out.stdout.len(), 49_152);
    assert_eq!(out.exit_status, None);
    assert_eq!(out.exit_signal.as_deref(), Some("KILL: Killed"));
    Ok(())
}
