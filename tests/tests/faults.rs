//! The worker against every fault the simulator can play, end to end: each device ends in
//! the outcome an operator expects, with a reason that says what happened, within its
//! timeouts, and with exactly the logins the simulator saw (its ground truth).

use netraven_shared::domain::{HostKeyPolicy, JobStatus, Outcome};
use netraven_simulator::{
    scenario, AuthMethod, CredentialSpec, DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec,
    LoginAttempt, Platform,
};
use netraven_tests::{request, TestEnv};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const JOB_TIMEOUT: Duration = Duration::from_secs(45);
const SEED: u64 = 404;
const HOSTILE_SEED: u64 = 77;
/// Per-device deadline of the jobs here; every phase timeout below is shorter.
const DEADLINE_MS: u64 = 5_000;
const HANDSHAKE_MS: u64 = 1_500;
const AUTH_MS: u64 = 1_500;
const IDLE_MS: u64 = 1_500;
const MAX_OUTPUT: usize = 64 * 1024;
/// Slack for scheduling on a busy 2-core machine: bounds, never tight timings.
const MARGIN_MS: u64 = 2_000;
const LEGACY_PROFILE: &str = "linux_legacy";

/// Short timeouts, a small output cap and a user profile folder with a legacy profile.
fn tune(env: &mut TestEnv) -> anyhow::Result<()> {
    let w = &mut env.settings.worker;
    w.connect_timeout_ms = 1_000;
    w.handshake_timeout_ms = HANDSHAKE_MS;
    w.auth_timeout_ms = AUTH_MS;
    w.command_idle_timeout_ms = IDLE_MS;
    w.max_output_bytes = MAX_OUTPUT;
    let profiles = env.dir.path().join("profiles");
    std::fs::create_dir_all(&profiles)?;
    std::fs::write(
        profiles.join("linux_legacy.toml"),
        format!(
            "name = \"{LEGACY_PROFILE}\"\ntransport = \"exec\"\nlegacy_algorithms = true\n\
             error_patterns = [\"^sh: \\\\d+: .*: not found$\"]\n\n[commands]\n\
             config_backup = \"cat /etc/netraven/running-config\"\n"
        ),
    )?;
    w.profiles_dir = Some(profiles);
    Ok(())
}

fn credential(
    name: &str,
    username: &str,
    password: &str,
    priority: i32,
    tags: &[&str],
) -> CredentialSpec {
    CredentialSpec {
        name: name.into(),
        username: username.into(),
        password: password.into(),
        priority,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn device(name: &str, platform: Platform, fault: Option<Fault>, tag: &str) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, platform);
    d.tags = vec![tag.to_string()];
    d.accepts = vec![("netops".into(), "tacacs-secret".into())];
    d.fault = fault;
    if platform == Platform::CiscoIos {
        d.enable_secret = Some("tacacs-secret".into());
    }
    d
}

/// Writes the fleet's inventory, gives the named devices another platform name, imports.
async fn import_with_platforms(
    env: &TestEnv,
    fleet: &Fleet,
    platforms: &[(&str, &str)],
) -> anyhow::Result<()> {
    let path = env
        .dir
        .path()
        .join(format!("inventory-{}.yaml", uuid::Uuid::new_v4().simple()));
    fleet.write_inventory(&path)?;
    rewrite_platforms(&path, platforms)?;
    env.import_file(&path).await?;
    Ok(())
}

fn rewrite_platforms(path: &Path, platforms: &[(&str, &str)]) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut current: Option<&str> = None;
    let mut out = String::with_capacity(text.len());
    let mut rewritten = 0;
    for line in text.lines() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(name) = trimmed.strip_prefix("name: ") {
            current = platforms
                .iter()
                .find(|(d, _)| *d == name.trim())
                .map(|(_, p)| *p);
        }
        match (current, trimmed.strip_prefix("platform: ")) {
            (Some(p), Some(_)) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                out.push_str(&format!("{indent}platform: {p}\n"));
                rewritten += 1;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    anyhow::ensure!(
        rewritten == platforms.len(),
        "platforms rewritten: {rewritten}"
    );
    std::fs::write(path, out)?;
    Ok(())
}

/// What the simulator must have seen on a device.
#[derive(Debug, Clone, Copy)]
enum Logins {
    /// No authentication request at all (no secret left the worker).
    None,
    /// `netops` logged in with `method`, after no rejected secret.
    AcceptedBy(AuthMethod),
    /// Any number of logins; checked by the case itself.
    Any,
}

struct Case {
    device: &'static str,
    outcome: Outcome,
    /// Every one of these appears in the reason (case-insensitive).
    reason: &'static [&'static str],
    /// Worker-measured time on the device stays under this.
    max_ms: u64,
    logins: Logins,
}

fn cases() -> Vec<Case> {
    use Outcome::*;
    let c = |device, outcome, reason, max_ms, logins| Case {
        device,
        outcome,
        reason,
        max_ms,
        logins,
    };
    let handshake = HANDSHAKE_MS + MARGIN_MS;
    let deadline = DEADLINE_MS + MARGIN_MS;
    vec![
        c(
            "healthy-linux",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "healthy-ios",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "healthy-junos",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "port-closed",
            Unreachable,
            &["refused"],
            1_000 + MARGIN_MS,
            Logins::None,
        ),
        c(
            "silent",
            Timeout,
            &["handshake", "within 1500 ms"],
            handshake,
            Logins::None,
        ),
        c(
            "slow-banner-short",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "slow-banner-long",
            Timeout,
            &["handshake", "within 1500 ms"],
            handshake,
            Logins::None,
        ),
        c(
            "slow-auth",
            Timeout,
            &["timed out during auth", "within 1500 ms"],
            HANDSHAKE_MS + AUTH_MS + MARGIN_MS,
            Logins::Any,
        ),
        c(
            "kbd-interactive",
            Success,
            &["configuration stored"],
            deadline,
            Logins::Any,
        ),
        c(
            "max-auth-tries",
            Success,
            &["configuration stored"],
            deadline,
            Logins::Any,
        ),
        c(
            "max-auth-tries-1",
            Success,
            &["configuration stored"],
            deadline,
            Logins::Any,
        ),
        c(
            "hang-linux",
            Timeout,
            &["timed out during command", "no output for 1500 ms"],
            IDLE_MS + 1_000 + MARGIN_MS,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "hang-ios",
            Timeout,
            &[
                "opening the shell",
                "timed out during command",
                "no output for 1500 ms",
            ],
            IDLE_MS + 1_000 + MARGIN_MS,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "drop-linux",
            CommandFailed,
            &[
                "cat /etc/netraven/running-config",
                "disconnected during command",
            ],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "drop-ios",
            CommandFailed,
            &["show running-config", "disconnected during command"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "endless-linux",
            CommandFailed,
            &["exceeded 65536 bytes"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "endless-ios",
            CommandFailed,
            &["exceeded 65536 bytes"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "legacy-default",
            Unreachable,
            &["no common", "algorithm", "legacy"],
            handshake,
            Logins::None,
        ),
        c(
            "legacy-profile",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
    ]
}

fn fault_fleet() -> FleetSpec {
    use Platform::*;
    let f = |name, platform, fault| device(name, platform, fault, "faults");
    let mut devices = vec![
        f("healthy-linux", Linux, None),
        f("healthy-ios", CiscoIos, None),
        f("healthy-junos", JuniperJunos, None),
        f("port-closed", Linux, Some(Fault::PortClosed)),
        f("silent", Linux, Some(Fault::Silent)),
        f(
            "slow-banner-short",
            Linux,
            Some(Fault::SlowBanner { delay_ms: 300 }),
        ),
        f(
            "slow-banner-long",
            Linux,
            Some(Fault::SlowBanner { delay_ms: 4_000 }),
        ),
        f(
            "slow-auth",
            Linux,
            Some(Fault::SlowAuth { delay_ms: 4_000 }),
        ),
        f(
            "kbd-interactive",
            Linux,
            Some(Fault::KeyboardInteractiveOnly),
        ),
        f("hang-linux", Linux, Some(Fault::HangAfterLogin)),
        f("hang-ios", CiscoIos, Some(Fault::HangAfterLogin)),
        f("drop-linux", Linux, Some(Fault::DropMidOutput)),
        f("drop-ios", CiscoIos, Some(Fault::DropMidOutput)),
        f("endless-linux", Linux, Some(Fault::EndlessOutput)),
        f("endless-ios", CiscoIos, Some(Fault::EndlessOutput)),
        f("legacy-default", Linux, Some(Fault::LegacyAlgorithms)),
        f("legacy-profile", Linux, Some(Fault::LegacyAlgorithms)),
    ];
    // MaxAuthTries: three credentials of one username (tried on one connection), the
    // third accepted; the devices hang up after two rejections, or after each one.
    for (name, tries) in [("max-auth-tries", 2), ("max-auth-tries-1", 1)] {
        let mut max = device(
            name,
            Linux,
            Some(Fault::MaxAuthTries { tries }),
            "same-user",
        );
        max.accepts = vec![("netops".into(), "third-secret".into())];
        devices.push(max);
    }
    FleetSpec {
        seed: SEED,
        credentials: vec![
            credential("tacacs", "netops", "tacacs-secret", 10, &["faults"]),
            credential("first", "netops", "first-secret", 10, &["same-user"]),
            credential("second", "netops", "second-secret", 20, &["same-user"]),
            credential("third", "netops", "third-secret", 30, &["same-user"]),
        ],
        devices,
    }
}

fn logins_by(attempts: &[LoginAttempt]) -> Vec<(AuthMethod, bool)> {
    attempts.iter().map(|a| (a.method, a.accepted)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_ends_in_its_outcome_with_a_reason_within_its_timeouts() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    tune(&mut env)?;
    let fleet = Fleet::start(fault_fleet(), FleetOptions::random_base()).await?;
    import_with_platforms(&env, &fleet, &[("legacy-profile", LEGACY_PROFILE)]).await?;
    let roles = env.start(1);

    let mut r = request("config_backup", &["faults", "same-user"], &[]);
    r.limits.device_deadline_ms = Some(DEADLINE_MS);
    let started = Instant::now();
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    let took = started.elapsed();
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    let by_name: HashMap<&str, _> = results
        .iter()
        .map(|r| (r.device_name.as_str(), r))
        .collect();
    let cases = cases();
    assert_eq!(
        results.len(),
        cases.len(),
        "one result per device: {results:#?}"
    );
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    assert!(
        took < Duration::from_millis(DEADLINE_MS + 10_000),
        "the whole job took {took:?}"
    );

    let mut failures = Vec::new();
    let mut table = String::new();
    for case in &cases {
        let r = by_name[case.device];
        let seen = fleet.attempts(case.device);
        table.push_str(&format!(
            "{:<18} {:<15} {:>5} ms  logins {:?}  {}\n",
            case.device,
            r.outcome.as_str(),
            r.duration_ms,
            logins_by(&seen),
            r.reason
        ));
        if r.outcome != case.outcome {
            failures.push(format!(
                "{}: {} instead of {}",
                case.device,
                r.outcome.as_str(),
                case.outcome.as_str()
            ));
        }
        let reason = r.reason.to_lowercase();
        for word in case.reason {
            if !reason.contains(&word.to_lowercase()) {
                failures.push(format!(
                    "{}: reason {:?} lacks {word:?}",
                    case.device, r.reason
                ));
            }
        }
        if r.duration_ms as u64 > case.max_ms {
            failures.push(format!(
                "{}: took {} ms, bound {} ms",
                case.device, r.duration_ms, case.max_ms
            ));
        }
        let logins_ok = match case.logins {
            Logins::None => {
                seen.is_empty()
                    && fleet
                        .report(case.device)
                        .is_some_and(|d| d.secrets_received == 0)
            }
            Logins::AcceptedBy(m) => logins_by(&seen) == vec![(m, true)],
            Logins::Any => true,
        };
        if !logins_ok {
            failures.push(format!(
                "{}: the simulator saw {:?}",
                case.device,
                logins_by(&seen)
            ));
        }
        // What the worker recorded agrees with the simulator on accepted logins.
        let used = r.credential.is_some();
        if used != (r.outcome == Outcome::Success) {
            failures.push(format!(
                "{}: credential {:?} with {}",
                case.device,
                r.credential,
                r.outcome.as_str()
            ));
        }
        // A failed backup stores nothing: no truncated config passes for a backup.
        let stored: i64 = client
            .query_one(
                "SELECT count(*) FROM device_configs WHERE device_id = $1",
                &[&r.device_id],
            )
            .await?
            .get(0);
        if stored != i64::from(r.outcome == Outcome::Success) {
            failures.push(format!("{}: {stored} configs stored", case.device));
        }
    }
    assert!(failures.is_empty(), "{}\n\n{table}", failures.join("\n"));
    eprintln!("{table}");

    // Keyboard-interactive: the secret went by keyboard-interactive and logged in.
    let kbd = fleet.attempts("kbd-interactive");
    assert!(
        kbd.iter()
            .any(|a| a.method == AuthMethod::KeyboardInteractive && a.accepted),
        "{kbd:?}"
    );
    assert_eq!(kbd.iter().filter(|a| a.accepted).count(), 1);

    // MaxAuthTries: rejections, a hang-up, and the third credential accepted on a new
    // connection. A rejection is judged even when the device hangs up right after it: no
    // secret is sent twice, and the recorded attempts and counters hold judged logins only.
    for (device, tries) in [("max-auth-tries", 2u64), ("max-auth-tries-1", 1)] {
        let seen = fleet.attempts(device);
        let summary: Vec<(AuthMethod, bool, u64)> = seen
            .iter()
            .map(|a| (a.method, a.accepted, a.connection))
            .collect();
        let pw = AuthMethod::Password;
        let want = if tries == 2 {
            vec![(pw, false, 1), (pw, false, 1), (pw, true, 2)]
        } else {
            vec![(pw, false, 1), (pw, false, 2), (pw, true, 3)]
        };
        assert_eq!(summary, want, "{device}: logins the simulator saw");
        assert_eq!(by_name[device].credential.as_deref(), Some("third"));
        let rows = client
            .query(
                "SELECT c.name, a.outcome FROM credential_attempts a JOIN credentials c ON c.id = a.credential_id
                 JOIN devices d ON d.id = a.device_id WHERE d.name = $1 ORDER BY a.attempt",
                &[&device],
            )
            .await?;
        let recorded: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let expected_rows = vec![
            ("first".to_string(), "REJECTED".to_string()),
            ("second".to_string(), "REJECTED".to_string()),
            ("third".to_string(), "SUCCESS".to_string()),
        ];
        assert_eq!(
            recorded, expected_rows,
            "{device}: one attempt per judged login"
        );
        assert_eq!(by_name[device].attempts, 3);
    }
    for (name, ok, bad) in [("first", 0i64, 2i64), ("second", 0, 2), ("third", 2, 0)] {
        let row = client
            .query_one(
                "SELECT success_count, failure_count FROM credentials WHERE name = $1",
                &[&name],
            )
            .await?;
        assert_eq!(
            (row.get::<_, i64>(0), row.get::<_, i64>(1)),
            (ok, bad),
            "counters of {name}"
        );
    }

    // Slow authentication: one attempt recorded as ERROR (the device never judged it).
    let rows = client
        .query(
            "SELECT a.outcome FROM credential_attempts a JOIN devices d ON d.id = a.device_id
             WHERE d.name = 'slow-auth'",
            &[],
        )
        .await?;
    let outcomes: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(outcomes, ["ERROR"], "slow-auth attempts");
    // tacacs was never rejected: logins the devices never judged (slow-auth) and the
    // keyboard-interactive fallback are no failures of the credential.
    let logged_in = cases
        .iter()
        .filter(|c| matches!(c.logins, Logins::AcceptedBy(_)) || c.device == "kbd-interactive")
        .count() as i64;
    let row = client
        .query_one(
            "SELECT success_count, failure_count, last_used_at IS NOT NULL FROM credentials WHERE name = 'tacacs'",
            &[],
        )
        .await?;
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, bool>(2)
        ),
        (logged_in, 0, true),
        "tacacs counters"
    );

    // The hard deadline: shorter than the auth and command idle timeouts, it still ends
    // the device, and a login it cuts is still recorded.
    let mut r = request("config_backup", &[], &["slow-auth", "hang-linux"]);
    r.limits.device_deadline_ms = Some(1_000);
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    for r in netraven_dispatcher::job_rows::results(&client, job.id).await? {
        assert_eq!(
            r.outcome,
            Outcome::Timeout,
            "{}: {}",
            r.device_name,
            r.reason
        );
        let phase = if r.device_name == "slow-auth" {
            "authentication"
        } else {
            "command"
        };
        assert!(
            r.reason.contains(&format!(
                "device deadline of 1000 ms exceeded during {phase}"
            )),
            "{}: {}",
            r.device_name,
            r.reason
        );
        assert!(
            r.duration_ms < 1_000 + MARGIN_MS as i64,
            "{}: {} ms",
            r.device_name,
            r.duration_ms
        );
        assert_eq!(
            r.attempts, 1,
            "{}: the cut login is recorded",
            r.device_name
        );
        eprintln!(
            "{:<18} {:<15} {:>5} ms  {}",
            r.device_name,
            r.outcome.as_str(),
            r.duration_ms,
            r.reason
        );
    }

    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await
}

/// The OpenSSH line (`ssh-ed25519 AAAA...`) of the key a device of `fleet` presents.
fn presented_key(fleet: &Fleet, device: &str) -> String {
    let d = fleet
        .devices()
        .into_iter()
        .find(|d| d.name == device)
        .expect("device in fleet");
    d.host_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn pinned(env: &TestEnv, device: &str) -> anyhow::Result<Option<String>> {
    let client = env.pool.get().await?;
    Ok(client
        .query_opt(
            "SELECT k.public_key FROM host_keys k JOIN devices d ON d.id = k.device_id WHERE d.name = $1",
            &[&device],
        )
        .await?
        .map(|r| r.get(0)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_fails_the_device_before_any_secret_is_sent() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    tune(&mut env)?;
    let spec = |changed: bool| FleetSpec {
        seed: SEED,
        credentials: vec![credential(
            "tacacs",
            "netops",
            "tacacs-secret",
            10,
            &["faults"],
        )],
        devices: [
            ("hk-linux", Platform::Linux),
            ("hk-ios", Platform::CiscoIos),
            ("never-seen", Platform::Linux),
        ]
        .into_iter()
        .map(|(name, platform)| {
            let fault = (changed && name.starts_with("hk-")).then_some(Fault::HostKeyChanged);
            device(name, platform, fault, "faults")
        })
        .collect(),
    };
    let hk = ["hk-linux", "hk-ios"];

    // First run, accept-new: the keys are pinned.
    let before = Fleet::start(spec(false), FleetOptions::random_base()).await?;
    env.import(&before).await?;
    let roles = env.start(1);
    let first = env
        .run_job(&request("config_backup", &[], &hk), JOB_TIMEOUT)
        .await?;
    assert_eq!(first.counts.status, JobStatus::CompletedSuccess);
    let mut pins = HashMap::new();
    for d in hk {
        let pin = pinned(&env, d).await?;
        assert_eq!(
            pin.as_deref(),
            Some(presented_key(&before, d).as_str()),
            "{d} pinned"
        );
        pins.insert(d, pin);
    }
    before.shutdown().await;

    // The devices come back with other keys (same names, new ports: re-imported).
    let after = Fleet::start(spec(true), FleetOptions::random_base()).await?;
    env.import(&after).await?;
    for d in hk {
        assert_ne!(
            presented_key(&after, d),
            pins[d].clone().unwrap_or_default(),
            "{d}"
        );
    }
    let started = Instant::now();
    let second = env
        .run_job(&request("config_backup", &[], &hk), JOB_TIMEOUT)
        .await?;
    assert!(started.elapsed() < Duration::from_millis(DEADLINE_MS + MARGIN_MS));
    assert_eq!(second.counts.status, JobStatus::CompletedFailure);
    let client = env.pool.get().await?;
    for r in netraven_dispatcher::job_rows::results(&client, second.id).await? {
        eprintln!(
            "{:<12} {:<18} {:>5} ms  {}",
            r.device_name,
            r.outcome.as_str(),
            r.duration_ms,
            r.reason
        );
        assert_eq!(
            r.outcome,
            Outcome::HostKeyMismatch,
            "{}: {}",
            r.device_name,
            r.reason
        );
        let pinned_fp = netraven_worker::ssh::fingerprint_of_line(
            pins[r.device_name.as_str()].as_deref().unwrap_or(""),
        )
        .expect("pinned key parses");
        let presented_fp =
            netraven_worker::ssh::fingerprint_of_line(&presented_key(&after, &r.device_name))
                .expect("presented key parses");
        assert!(
            r.reason.contains("host key mismatch")
                && r.reason.contains(&pinned_fp)
                && r.reason.contains(&presented_fp),
            "{}: the reason names both keys: {}",
            r.device_name,
            r.reason
        );
        assert_eq!(r.attempts, 0);
        assert!(r.credential.is_none());
        assert!(r.duration_ms < HANDSHAKE_MS as i64 + MARGIN_MS as i64);
        // Ground truth: the device was contacted, and got no login and no secret.
        let report = after.report(&r.device_name).expect("report");
        assert!(report.connections >= 1, "{report:?}");
        assert!(report.attempts.is_empty(), "{report:?}");
        assert_eq!(report.secrets_received, 0, "{report:?}");
        assert!(!report.secret_sent_after_host_key_change);
        // The pin stands: a mismatch never re-pins.
        assert_eq!(
            pinned(&env, &r.device_name).await?,
            pins[r.device_name.as_str()]
        );
    }
    assert!(after.secrets_sent_to_changed_host_keys().is_empty());

    // Strict, with nothing pinned: refused before authentication, and nothing pinned.
    let mut strict = request("config_backup", &[], &["never-seen"]);
    strict.limits.host_key_policy = Some(HostKeyPolicy::Strict);
    let job = env.run_job(&strict, JOB_TIMEOUT).await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(results.len(), 1);
    let r = &results[0];
    eprintln!(
        "{:<12} {:<18} {:>5} ms  {}",
        r.device_name,
        r.outcome.as_str(),
        r.duration_ms,
        r.reason
    );
    assert_eq!(r.outcome, Outcome::HostKeyMismatch, "{}", r.reason);
    assert!(
        r.reason.contains("not pinned") && r.reason.contains("strict"),
        "{}",
        r.reason
    );
    assert!(after.attempts("never-seen").is_empty());
    assert_eq!(
        after.report("never-seen").map(|d| d.secrets_received),
        Some(0)
    );
    assert_eq!(
        pinned(&env, "never-seen").await?,
        None,
        "strict pins nothing"
    );

    // Policy off: the changed key is let through (the operator's explicit choice).
    let mut off = request("config_backup", &[], &["hk-linux"]);
    off.limits.host_key_policy = Some(HostKeyPolicy::Off);
    let job = env.run_job(&off, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);

    roles.stop().await?;
    after.shutdown().await;
    env.teardown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_fleet_finishes_with_every_device_accounted_for_once() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    // Timeouts as a patient operator sets them: the 3 s slow banner and slow auth of the
    // preset get through; silence and hangs do not.
    let w = &mut env.settings.worker;
    w.connect_timeout_ms = 1_000;
    w.handshake_timeout_ms = 4_000;
    w.auth_timeout_ms = 4_000;
    w.command_idle_timeout_ms = 2_000;
    w.max_output_bytes = 1 << 20;
    let deadline_ms = 8_000;
    let spec = scenario("hostile", 40, HOSTILE_SEED)?;
    let fleet = Fleet::start(spec.clone(), FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    // An earlier run pinned the seed's keys: the host_key_changed devices now differ.
    let client = env.pool.get().await?;
    for d in spec
        .devices
        .iter()
        .filter(|d| d.fault == Some(Fault::HostKeyChanged))
    {
        let key = netraven_simulator::host_key(HOSTILE_SEED, &d.name)?;
        let line = key.public_key().to_openssh()?;
        let line = line
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let fingerprint = netraven_worker::ssh::fingerprint_of_line(&line).expect("parses");
        client
            .execute(
                "INSERT INTO host_keys (device_id, algorithm, public_key, fingerprint)
                 SELECT id, 'ssh-ed25519', $2, $3 FROM devices WHERE name = $1",
                &[&d.name, &line, &fingerprint],
            )
            .await?;
    }
    let roles = env.start(2);
    let mut r = request("config_backup", &["fleet"], &[]);
    r.limits.device_deadline_ms = Some(deadline_ms);
    let started = Instant::now();
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    let took = started.elapsed();
    assert_eq!(job.counts.total_devices, 40);
    assert_eq!(job.counts.completed_devices, 40);
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    assert!(
        took < Duration::from_millis(deadline_ms + 10_000),
        "job took {took:?}"
    );

    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    let mut names: Vec<&str> = results.iter().map(|r| r.device_name.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), 40, "every device exactly once");
    let mut failures = Vec::new();
    let mut tally: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &results {
        let d = spec
            .devices
            .iter()
            .find(|d| d.name == r.device_name)
            .expect("in spec");
        let want = match d.fault {
            None
            | Some(Fault::SlowBanner { .. })
            | Some(Fault::SlowAuth { .. })
            | Some(Fault::KeyboardInteractiveOnly)
            | Some(Fault::MaxAuthTries { .. }) => Outcome::Success,
            Some(Fault::PortClosed)
            | Some(Fault::LegacyAlgorithms)
            | Some(Fault::SshRsaSha1Only) => Outcome::Unreachable,
            Some(Fault::Silent) | Some(Fault::HangAfterLogin) => Outcome::Timeout,
            Some(Fault::DropMidOutput) | Some(Fault::EndlessOutput) => Outcome::CommandFailed,
            Some(Fault::HostKeyChanged) => Outcome::HostKeyMismatch,
        };
        let fault = d.fault.map_or("healthy".to_string(), |f| f.to_string());
        *tally
            .entry(format!("{fault} {}", r.outcome.as_str()))
            .or_default() += 1;
        if r.outcome != want {
            failures.push(format!(
                "{} ({fault}, {}): {} {}",
                r.device_name,
                d.platform,
                r.outcome.as_str(),
                r.reason
            ));
        }
        if r.duration_ms > (deadline_ms + MARGIN_MS) as i64 {
            failures.push(format!("{} ({fault}): {} ms", r.device_name, r.duration_ms));
        }
        // Ground truth: a success logged in exactly once; no secret where it must not go.
        let seen = fleet.attempts(&r.device_name);
        let accepted = seen.iter().filter(|a| a.accepted).count();
        if accepted != usize::from(r.outcome == Outcome::Success)
            && want != Outcome::Timeout
            && want != Outcome::CommandFailed
        {
            failures.push(format!(
                "{} ({fault}): simulator accepted {accepted}",
                r.device_name
            ));
        }
    }
    assert!(failures.is_empty(), "{}\n{tally:#?}", failures.join("\n"));
    eprintln!("{tally:#?}");
    assert!(fleet.secrets_sent_to_changed_host_keys().is_empty());

    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_jobs_store_each_output_and_report_a_refused_command() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    tune(&mut env)?;
    let fleet = Fleet::start(
        FleetSpec {
            seed: SEED,
            credentials: vec![credential(
                "tacacs",
                "netops",
                "tacacs-secret",
                10,
                &["faults"],
            )],
            devices: vec![
                device("cmd-linux", Platform::Linux, None, "faults"),
                device("cmd-ios", Platform::CiscoIos, None, "faults"),
            ],
        },
        FleetOptions::random_base(),
    )
    .await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let client = env.pool.get().await?;
    let outputs = |job: uuid::Uuid, device: &'static str| {
        let client = &client;
        async move {
            let rows = client
                .query(
                    "SELECT o.command, o.output, o.exit_status FROM command_outputs o
                     JOIN devices d ON d.id = o.device_id WHERE o.job_id = $1 AND d.name = $2 ORDER BY o.seq",
                    &[&job, &device],
                )
                .await?;
            anyhow::Ok(
                rows.iter()
                    .map(|r| {
                        (
                            r.get::<_, String>(0),
                            r.get::<_, String>(1),
                            r.get::<_, Option<i32>>(2),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
        }
    };

    // Exec: every command runs and its output is stored, in order.
    let mut r = request("command", &[], &["cmd-linux"]);
    r.commands = vec!["hostname".into(), "echo hello from the test".into()];
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let stored = outputs(job.id, "cmd-linux").await?;
    assert_eq!(
        stored,
        vec![
            ("hostname".into(), "cmd-linux\n".into(), Some(0)),
            (
                "echo hello from the test".into(),
                "hello from the test\n".into(),
                Some(0)
            ),
        ]
    );
    assert_eq!(
        fleet.commands("cmd-linux"),
        r.commands,
        "the device ran exactly these"
    );

    // Shell: the same through enable, paging off and the prompt.
    let mut r = request("command", &[], &["cmd-ios"]);
    r.commands = vec!["show version".into()];
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let stored = outputs(job.id, "cmd-ios").await?;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].1.contains("Cisco IOS"), "{:?}", stored[0].1);
    assert!(
        !stored[0].1.contains("cmd-ios#"),
        "no prompt in the output: {:?}",
        stored[0].1
    );

    // A command the device refuses: COMMAND_FAILED with the device's own words.
    for (device, bad, words) in [
        (
            "cmd-linux",
            "frobnicate --all",
            "sh: 1: frobnicate: not found",
        ),
        ("cmd-ios", "show frobnication", "% Invalid input detected"),
    ] {
        let mut r = request("command", &[], &[device]);
        r.commands = vec![bad.to_string()];
        let job = env.run_job(&r, JOB_TIMEOUT).await?;
        let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
        let r = &results[0];
        eprintln!(
            "{:<10} {:<15} {:>5} ms  {}",
            r.device_name,
            r.outcome.as_str(),
            r.duration_ms,
            r.reason
        );
        assert_eq!(r.outcome, Outcome::CommandFailed, "{device}: {}", r.reason);
        assert!(
            r.reason.contains(bad) && r.reason.contains(words),
            "{device}: {}",
            r.reason
        );
        // The login itself succeeded, and is counted as such.
        assert_eq!(r.attempts, 1);
    }

    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reachability_checks_use_no_credential() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    tune(&mut env)?;
    let fleet = Fleet::start(
        FleetSpec {
            seed: SEED,
            credentials: vec![credential(
                "tacacs",
                "netops",
                "tacacs-secret",
                10,
                &["faults"],
            )],
            devices: vec![
                device("up-linux", Platform::Linux, None, "faults"),
                device("up-ios", Platform::CiscoIos, None, "faults"),
                device("closed", Platform::Linux, Some(Fault::PortClosed), "faults"),
                device("mute", Platform::Linux, Some(Fault::Silent), "faults"),
            ],
        },
        FleetOptions::random_base(),
    )
    .await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let job = env
        .run_job(&request("reachability", &["faults"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let client = env.pool.get().await?;
    for r in netraven_dispatcher::job_rows::results(&client, job.id).await? {
        eprintln!(
            "{:<10} {:<12} {:>5} ms  {}",
            r.device_name,
            r.outcome.as_str(),
            r.duration_ms,
            r.reason
        );
        let (want, words) = match r.device_name.as_str() {
            "closed" => (Outcome::Unreachable, "refused"),
            // TCP answers; that is all a reachability check asks.
            _ => (Outcome::Success, "open"),
        };
        assert_eq!(r.outcome, want, "{}: {}", r.device_name, r.reason);
        assert!(r.reason.contains(words), "{}: {}", r.device_name, r.reason);
        assert_eq!(r.attempts, 0, "{}", r.device_name);
        assert!(r.credential.is_none());
        assert!(r.duration_ms < 1_000 + MARGIN_MS as i64);
    }
    // Ground truth: not one login, not one secret.
    assert!(
        fleet.all_attempts().is_empty(),
        "{:?}",
        fleet.all_attempts()
    );
    assert!(fleet.reports().iter().all(|d| d.secrets_received == 0));
    let attempts: i64 = client
        .query_one("SELECT count(*) FROM credential_attempts", &[])
        .await?
        .get(0);
    assert_eq!(attempts, 0);

    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await
}
