//! Every fault of the table ends in its outcome with a reason, within its timeouts.

use super::cases::{cases, fault_fleet, logins_by, Logins};
use super::setup::{
    import_with_platforms, tune, DEADLINE_MS, JOB_TIMEOUT, LEGACY_PROFILE, MARGIN_MS,
};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::AuthMethod;
use netraven_tests::{request, FleetBuilder, TestEnv};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_ends_in_its_outcome_with_a_reason_within_its_timeouts() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    tune(&mut env)?;
    let fleet = FleetBuilder::from_spec(fault_fleet()).start().await?;
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
    Ok(())
}
