//! OpenSSH's own `sshd` as the bastion: the worker logs in to it with a key credential,
//! checks its pinned host key, and reaches simulated devices through its direct-tcpip
//! channels; a wrong pin fails the devices behind it before any credential is sent.

use super::{import, site_device, JOB_TIMEOUT, SECRET, USER};
use netraven_shared::domain::Outcome;
use netraven_simulator::{Fleet, Platform, RunningDevice};
use netraven_tests::sshd::{keygen, KeyFormat, Sshd};
use netraven_tests::{request, FleetBuilder, TestEnv};
use std::collections::HashMap;
use std::fmt::Write as _;

const SITE: usize = 6;

fn device_lines(y: &mut String, fleet: &Fleet, names: &[String], jump: &str) {
    let running: HashMap<String, RunningDevice> = fleet
        .devices()
        .into_iter()
        .map(|d| (d.name.clone(), d))
        .collect();
    for name in names {
        let d = &running[name];
        let _ = writeln!(
            y,
            "  - {{ name: {name}, host: {}, port: {}, platform: {}, tags: [site], jump_host: {jump} }}",
            d.host, d.port, d.platform
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_sshd_is_a_bastion_logged_in_to_by_key() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let key = keygen(
        env.dir.path(),
        "bastion-key",
        "ed25519",
        None,
        KeyFormat::OpenSsh,
    )?;
    let sshd = Sshd::start(&[&key.public])?;
    let other = keygen(
        env.dir.path(),
        "other-host",
        "ed25519",
        None,
        KeyFormat::OpenSsh,
    )?;

    let names: Vec<String> = (1..=SITE).map(|i| format!("behind-sshd-{i}")).collect();
    let wrong: Vec<String> = vec!["behind-wrong-pin".to_string()];
    let platforms = [Platform::Linux, Platform::CiscoIos, Platform::JuniperJunos];
    let fleet = FleetBuilder::new(2207)
        .devices(
            names
                .iter()
                .chain(&wrong)
                .enumerate()
                .map(|(i, n)| site_device(n, platforms[i % 3])),
        )
        .start()
        .await?;

    let mut y = String::new();
    let _ = writeln!(
        y,
        "tags:\n  - name: site\n  - name: jump\ncredentials:\n  \
         - {{ name: tacacs, username: {USER}, secret: {SECRET}, tags: [site] }}\n  \
         - {{ name: bastion-key, username: {}, key_file: {}, tags: [jump] }}",
        sshd.user,
        key.file.display()
    );
    let pinned = |line: &str| {
        line.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(
        y,
        "jump_hosts:\n  \
         - {{ name: openssh, host: 127.0.0.1, port: {port}, credential: bastion-key, host_key: {right}, max_channels: 3 }}\n  \
         - {{ name: openssh-wrong-pin, host: 127.0.0.1, port: {port}, credential: bastion-key, host_key: {wrong_key} }}",
        port = sshd.port,
        right = sshd.host_key,
        wrong_key = pinned(&other.public),
    );
    y.push_str("devices:\n");
    device_lines(&mut y, &fleet, &names, "openssh");
    device_lines(&mut y, &fleet, &wrong, "openssh-wrong-pin");
    import(&env, &y).await?;

    let roles = env.start(1);
    let job = env
        .run_job(&request("config_backup", &["site"], &[]), JOB_TIMEOUT)
        .await?;
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(results.len(), SITE + 1);
    for r in &results {
        if r.device_name == "behind-wrong-pin" {
            assert_eq!(r.outcome, Outcome::HostKeyMismatch, "{}", r.reason);
            assert!(r.reason.contains("openssh-wrong-pin"), "{}", r.reason);
            assert_eq!(r.attempts, 0, "no device credential tried: {}", r.reason);
        } else {
            assert_eq!(
                r.outcome,
                Outcome::Success,
                "{}: {}",
                r.device_name,
                r.reason
            );
            assert_eq!(r.credential.as_deref(), Some("tacacs"));
        }
    }

    // sshd took the key once (one shared connection for the worker) and never saw the
    // connection whose pin did not match get as far as a login.
    let log = sshd.log();
    let accepted = log.matches("Accepted publickey for").count();
    assert_eq!(accepted, 1, "one login to the bastion:\n{log}");
    assert!(
        log.contains(&format!("Accepted publickey for {}", sshd.user)) && log.contains("ED25519"),
        "{log}"
    );
    assert!(!log.contains("Failed publickey"), "{log}");

    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
