//! Which credential, and why: `device credentials` against what real jobs try on a
//! simulated device; `credential disable`, `enable` and `remove` (its history stays);
//! `credential list`'s recent window beside the lifetime rate.

use super::netraven::{json, netraven, run, text, JOB_TIMEOUT};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{AuthMethod, DeviceSpec, Fleet, Platform};
use netraven_tests::{credential, request, FleetBuilder, TestEnv};
use serde_json::Value;
use uuid::Uuid;

/// `r1` (tag core) accepts netops/good only. Of the credentials, by priority: `off` (2,
/// disabled before any job), `stale` (5, rejected), `tacacs` (10, the one that works),
/// `backup` (20), `extra` (30); `lab` (1) has no tag of r1's.
fn fleet() -> FleetBuilder {
    let mut r1 = DeviceSpec::new("r1", Platform::Linux);
    r1.tags = vec!["core".into()];
    r1.accepts = vec![("netops".into(), "good".into())];
    FleetBuilder::new(22)
        .credential(
            credential("lab", "lab", "lab-secret")
                .priority(1)
                .tags(&["lab"]),
        )
        .credential(
            credential("off", "off", "off-secret")
                .priority(2)
                .tags(&["core"]),
        )
        .credential(
            credential("stale", "old", "old-secret")
                .priority(5)
                .tags(&["core"]),
        )
        .credential(
            credential("tacacs", "netops", "good")
                .priority(10)
                .tags(&["core", "lab"]),
        )
        .credential(
            credential("backup", "backup", "b-secret")
                .priority(20)
                .tags(&["core"]),
        )
        .credential(
            credential("extra", "extra", "e-secret")
                .priority(30)
                .tags(&["core"]),
        )
        .device(r1)
}

fn field<'a>(v: &'a Value, list: &str, key: &str) -> Vec<&'a str> {
    v[list]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e[key].as_str()).collect())
        .unwrap_or_default()
}

fn entry<'a>(v: &'a Value, name: &str) -> &'a Value {
    ["tried", "left_out"]
        .iter()
        .filter_map(|l| v[l].as_array())
        .flatten()
        .find(|e| e["name"] == name)
        .unwrap_or(&Value::Null)
}

/// The usernames r1 was offered a password for, in order, since `from`.
fn offered(fleet: &Fleet, from: usize) -> Vec<String> {
    fleet
        .all_attempts()
        .get("r1")
        .map(|a| {
            a.iter()
                .filter(|a| a.method == AuthMethod::Password)
                .skip(from)
                .map(|a| a.username.clone())
                .collect()
        })
        .unwrap_or_default()
}

async fn credential_names_tried(env: &TestEnv, job: Uuid) -> anyhow::Result<Vec<String>> {
    Ok(env
        .pool
        .get()
        .await?
        .query(
            "SELECT COALESCE(c.name, rc.name, '?') FROM credential_attempts a
             LEFT JOIN credentials c ON c.id = a.credential_id
             LEFT JOIN removed_credentials rc ON rc.id = a.credential_id
             WHERE a.job_id = $1 ORDER BY a.attempt",
            &[&job],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_credentials_shows_what_jobs_try_and_disabled_or_removed_ones_stay_out(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = fleet().start().await?;
    env.import(&fleet).await?;

    // Disable, idempotently; a name that is no credential is exit 1.
    let off = json(&env, &["credential", "disable", "off"])?;
    assert_eq!(
        (off["action"].as_str(), off["state"].as_str()),
        (Some("disabled"), Some("disabled"))
    );
    let again = netraven(&env, &["credential", "disable", "off"], 0)?;
    assert!(again.contains("already disabled"), "{again}");
    let nope = run(env.command()?.args(["credential", "disable", "nope"]))?;
    assert_eq!(nope.status.code(), Some(1));
    assert!(
        text(&nope.stderr).contains("no credential named \"nope\""),
        "{}",
        text(&nope.stderr)
    );

    // Before any job: priority order; the cap, a missing tag and `disabled` explained.
    let v = json(&env, &["device", "credentials", "r1"])?;
    assert_eq!(
        field(&v, "tried", "name"),
        ["stale", "tacacs", "backup", "extra"]
    );
    assert_eq!(v["cap"], 5);
    assert_eq!(v["cap_from"], "dispatcher.max_credentials_per_device");
    assert_eq!(v["tags"], serde_json::json!(["core"]));
    assert_eq!(entry(&v, "lab")["reason"], "no_shared_tag");
    assert_eq!(entry(&v, "off")["reason"], "disabled");
    let v = json(&env, &["device", "credentials", "r1", "--max", "2"])?;
    assert_eq!(field(&v, "tried", "name"), ["stale", "tacacs"]);
    assert_eq!(
        field(&v, "left_out", "reason"),
        ["beyond_cap", "beyond_cap", "no_shared_tag", "disabled"]
    );
    let table = netraven(&env, &["device", "credentials", "r1", "--max", "2"], 0)?;
    for want in [
        "a job tries 2 credentials, cap 2 (--max)",
        "no shared tag: the device has core; the credential lab",
        "disabled (netraven credential enable off)",
        "beyond the cap of 2 (--max 3 shows it)",
    ] {
        assert!(table.contains(want), "{want:?} missing:\n{table}");
    }

    // A real job: the disabled credential is never offered; the others in the view's order.
    let roles = env.start(1);
    let first = env
        .run_job(&request("config_backup", &[], &["r1"]), JOB_TIMEOUT)
        .await?;
    assert_eq!(first.counts.status, JobStatus::CompletedSuccess);
    assert_eq!(offered(&fleet, 0), ["old", "netops"]);
    assert_eq!(
        credential_names_tried(&env, first.id).await?,
        ["stale", "tacacs"]
    );

    // Affinity: the credential that worked goes first, with its logins on this device.
    let v = json(&env, &["device", "credentials", "r1"])?;
    assert_eq!(
        field(&v, "tried", "name"),
        ["tacacs", "stale", "backup", "extra"]
    );
    assert_eq!(v["tried"][0]["reason"], "affinity");
    assert_eq!(v["tried"][0]["on_device"]["successes"], 1);
    assert_eq!(v["tried"][0]["on_device"]["recent_successes"], 1);
    assert_eq!(v["tried"][1]["on_device"]["failures"], 1);
    // A job capped at one tries what `--max 1` shows, and only that.
    let v = json(&env, &["device", "credentials", "r1", "--max", "1"])?;
    assert_eq!(field(&v, "tried", "name"), ["tacacs"]);
    let mut capped = request("config_backup", &[], &["r1"]);
    capped.limits.max_credentials_per_device = Some(1);
    let seen = offered(&fleet, 0).len();
    let second = env.run_job(&capped, JOB_TIMEOUT).await?;
    assert_eq!(second.counts.status, JobStatus::CompletedSuccess);
    assert_eq!(offered(&fleet, seen), ["netops"]);

    // Disabled even though it last worked: never offered, the job fails on the others.
    json(&env, &["credential", "disable", "tacacs"])?;
    let v = json(&env, &["device", "credentials", "r1"])?;
    assert_eq!(field(&v, "tried", "name"), ["stale", "backup", "extra"]);
    assert_eq!(entry(&v, "tacacs")["reason"], "disabled");
    assert_eq!(entry(&v, "tacacs")["affinity"], true);
    let seen = offered(&fleet, 0).len();
    let third = env
        .run_job(&request("config_backup", &[], &["r1"]), JOB_TIMEOUT)
        .await?;
    assert_eq!(third.counts.status, JobStatus::CompletedFailure);
    assert_eq!(offered(&fleet, seen), ["old", "backup", "extra"]);
    let enabled = json(&env, &["credential", "enable", "tacacs"])?;
    assert_eq!(enabled["action"], "enabled");
    assert_eq!(
        json(&env, &["credential", "enable", "tacacs"])?["action"],
        "unchanged"
    );
    let fourth = env
        .run_job(&request("config_backup", &[], &["r1"]), JOB_TIMEOUT)
        .await?;
    assert_eq!(fourth.counts.status, JobStatus::CompletedSuccess);
    roles.stop().await?;

    // Remove: the secret and the row go, the attempts stay and still name it.
    let client = env.pool.get().await?;
    let (id, attempts): (i64, i64) = {
        let r = client
            .query_one(
                "SELECT c.id, (SELECT count(*) FROM credential_attempts a WHERE a.credential_id = c.id)
                 FROM credentials c WHERE c.name = 'tacacs'",
                &[],
            )
            .await?;
        (r.get(0), r.get(1))
    };
    assert_eq!(attempts, 3, "first, second and fourth jobs");
    let removed = json(&env, &["credential", "remove", "tacacs"])?;
    assert_eq!(removed["action"], "removed");
    assert_eq!(removed["attempts_kept"], 3);
    assert_eq!(removed["affinity_devices"], 1);
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM credentials WHERE id = $1),
                    (SELECT count(*) FROM credential_attempts WHERE credential_id = $1),
                    (SELECT count(*) FROM device_credential_affinity WHERE credential_id = $1),
                    (SELECT name FROM removed_credentials WHERE id = $1)",
            &[&id],
        )
        .await?;
    assert_eq!(
        row.get::<_, i64>(0),
        0,
        "the row and its sealed secret are gone"
    );
    assert_eq!(row.get::<_, i64>(1), 3, "its attempts stay");
    assert_eq!(row.get::<_, i64>(2), 0, "no device tries it first any more");
    assert_eq!(row.get::<_, String>(3), "tacacs");
    assert_eq!(
        credential_names_tried(&env, first.id).await?,
        ["stale", "tacacs"]
    );
    let results = json(&env, &["job", "results", &first.id.to_string()])?;
    assert_eq!(results[0]["outcome"], Outcome::Success.as_str());
    assert_eq!(
        results[0]["credential"], "tacacs",
        "the result still names it"
    );
    // Again: nothing to do, exit 0; other commands say it was removed, exit 1.
    let again = netraven(&env, &["credential", "remove", "tacacs"], 0)?;
    assert!(again.contains("already removed"), "{again}");
    let gone = run(env.command()?.args(["credential", "enable", "tacacs"]))?;
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        text(&gone.stderr).contains("was removed"),
        "{}",
        text(&gone.stderr)
    );
    netraven(&env, &["credential", "remove", "nope"], 1)?;
    let v = json(&env, &["device", "credentials", "r1"])?;
    assert_eq!(field(&v, "tried", "name"), ["stale", "backup", "extra"]);
    assert!(entry(&v, "tacacs").is_null());
    assert!(!json(&env, &["credential", "list"])?
        .to_string()
        .contains("\"tacacs\""));
    netraven(&env, &["device", "credentials", "nope"], 1)?;
    netraven(&env, &["device", "credentials", "r1", "--max", "0"], 2)?;
    Ok(())
}

/// `credential list`: the recent window beside the lifetime rate, on attempts seeded in
/// SQL: `flaky` worked 390 times of 400 before today and 2 of 10 in the last hour;
/// `steady` always half; `fresh` only today.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_list_marks_a_credential_that_just_broke() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    env.pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO credentials (name, username, sealed_secret, priority, success_count,
                                      failure_count, success_rate)
             VALUES ('flaky', 'a', 'nrv1:k:x', 10, 392, 18, 392.0 / 410),
                    ('steady', 'b', 'nrv1:k:x', 20, 205, 205, 0.5),
                    ('fresh', 'c', 'nrv1:k:x', 30, 0, 10, 0);
             INSERT INTO credential_attempts (job_id, device_id, credential_id, attempt, outcome,
                                              duration_ms, attempted_at)
             SELECT gen_random_uuid(), g, c.id, 1,
                    CASE WHEN g <= o.ok THEN 'SUCCESS' ELSE 'REJECTED' END, 5,
                    now() - interval '1 hour'
             FROM credentials c
             JOIN (VALUES ('flaky', 2), ('steady', 5), ('fresh', 0)) AS o(name, ok)
               ON o.name = c.name
             CROSS JOIN generate_series(1, 10) g;
             -- Never judged: counts for nothing.
             INSERT INTO credential_attempts (job_id, device_id, credential_id, attempt, outcome,
                                              duration_ms, attempted_at)
             SELECT gen_random_uuid(), 99, id, 1, 'ERROR', 5, now() FROM credentials
             WHERE name = 'flaky';",
        )
        .await?;

    let list = json(&env, &["credential", "list"])?;
    let by = |name: &str| {
        list.as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let flaky = by("flaky");
    assert_eq!(flaky["recent"]["window_secs"], 86_400);
    assert_eq!(flaky["recent"]["attempts"], 10);
    assert_eq!(flaky["recent"]["successes"], 2);
    assert_eq!(flaky["recent"]["success_rate"], 0.2);
    assert_eq!(flaky["attempts"], 410);
    assert_eq!(flaky["dropped"], true);
    assert_eq!(by("steady")["dropped"], false);
    assert_eq!(by("fresh")["dropped"], false, "nothing before to fall from");
    let table = netraven(&env, &["credential", "list"], 0)?;
    for want in [
        "LAST 24h",
        "LIFETIME",
        "▼ 20.0% of 10",
        "95.6% of 410",
        "▼ flaky:",
    ] {
        assert!(table.contains(want), "{want:?} missing:\n{table}");
    }

    // A window that ends before the seeded hour: nothing recent, nothing marked.
    let list = json(&env, &["credential", "list", "--window", "30min"])?;
    assert!(list.as_array().is_some_and(|a| a
        .iter()
        .all(|c| c["recent"]["attempts"] == 0 && c["dropped"] == false)));
    assert_eq!(list[0]["recent"]["window_secs"], 1_800);
    let table = netraven(&env, &["credential", "list", "--window", "30min"], 0)?;
    assert!(
        table.contains("LAST 30min") && !table.contains('▼'),
        "{table}"
    );
    netraven(&env, &["credential", "list", "--window", "yesterday"], 2)?;
    Ok(())
}
