//! `schedule add`, `list`, `show`, `pause`, `resume` and `remove`, with their `--json`
//! shapes, their refusals and their exit codes. Runs are seeded in SQL as a dispatcher
//! writes them, with a job for the FIRED one.

use super::{one, outputs};
use crate::views::netraven::{json, netraven};
use chrono::{DateTime, Utc};
use netraven_shared::schedule::Calendar;
use netraven_tests::TestEnv;

fn time(v: &serde_json::Value) -> anyhow::Result<DateTime<Utc>> {
    let s = v
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("not a time: {v}"))?;
    Ok(DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_list_show_pause_resume_remove() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let before = Utc::now();
    let added = netraven(
        &env,
        &[
            "schedule",
            "add",
            "core-nightly",
            "--cron",
            "0 2 * * *",
            "--time-zone",
            "Europe/Paris",
            "--job-type",
            "config_backup",
            "--tag",
            "core",
            "--catch-up",
            "6h",
            "--job-deadline",
            "2h",
            "--device-deadline",
            "2m",
            "--max-credentials",
            "2",
            "--host-key-policy",
            "strict",
            "--description",
            "the core, nightly",
        ],
        0,
    )?;
    assert!(
        added.contains("added schedule core-nightly; next tick"),
        "{added}"
    );
    netraven(
        &env,
        &[
            "schedule",
            "add",
            "edge-uptime",
            "--cron",
            "*/15 * * * *",
            "--job-type",
            "command",
            "--device",
            "edge-1",
            "--command",
            "show version",
            "--command",
            "show clock",
            "--overlap",
            "allow",
            "--paused",
        ],
        0,
    )?;

    // A name that exists is refused, saying how to change it; nothing is written.
    let (_, err) = outputs(
        &env,
        &[
            "schedule",
            "add",
            "core-nightly",
            "--cron",
            "0 3 * * *",
            "--job-type",
            "reachability",
            "--tag",
            "x",
        ],
        1,
    )?;
    assert!(
        err.contains("exists already") && err.contains("schedule apply"),
        "{err}"
    );
    // A schedule that is not valid exits 10 and says what is wrong.
    for (args, want) in [
        (
            vec![
                "--cron",
                "0 2 * *",
                "--job-type",
                "config_backup",
                "--tag",
                "x",
            ],
            "cron expression",
        ),
        (
            vec![
                "--cron",
                "0 2 * * *",
                "--time-zone",
                "Europe/Pariss",
                "--job-type",
                "config_backup",
                "--tag",
                "x",
            ],
            "unknown time zone",
        ),
        (
            vec!["--cron", "0 2 * * *", "--job-type", "command", "--tag", "x"],
            "needs commands",
        ),
        (
            vec!["--cron", "0 2 * * *", "--job-type", "config_backup"],
            "targets name no",
        ),
    ] {
        let mut all = vec!["schedule", "add", "bad"];
        all.extend(args);
        let (_, err) = outputs(&env, &all, 10)?;
        assert!(err.contains(want), "{want:?} not in {err}");
    }
    // A bad name or flag value is clap's: exit 2.
    outputs(
        &env,
        &[
            "schedule",
            "add",
            "x",
            "--cron",
            "* * * * *",
            "--job-type",
            "backup",
            "--tag",
            "x",
        ],
        2,
    )?;
    let (_, err) = outputs(
        &env,
        &[
            "schedule",
            "add",
            "no spaces",
            "--cron",
            "* * * * *",
            "--job-type",
            "reachability",
            "--tag",
            "x",
        ],
        10,
    )?;
    assert!(err.contains("schedule name"), "{err}");
    assert_eq!(one::<i64>(&env, "SELECT count(*) FROM schedules").await?, 2);

    // The stored row is what the flags said, and its next tick the calendar's.
    let list = json(&env, &["schedule", "list"])?;
    let all = list.as_array().ok_or_else(|| anyhow::anyhow!("{list}"))?;
    assert_eq!(all.len(), 2);
    let core = &all[0];
    assert_eq!(core["name"], "core-nightly", "sorted by name");
    assert_eq!(core["description"], "the core, nightly");
    assert_eq!(core["cron"], "0 2 * * *");
    assert_eq!(core["time_zone"], "Europe/Paris");
    assert_eq!(core["job_type"], "config_backup");
    assert_eq!(core["targets"], serde_json::json!({ "tags": ["core"] }));
    assert_eq!(
        core["limits"],
        serde_json::json!({ "job_deadline_ms": 7_200_000, "device_deadline_ms": 120_000,
                            "max_credentials_per_device": 2, "host_key_policy": "strict" })
    );
    assert_eq!(core["overlap"], "skip");
    assert_eq!(core["catch_up_ms"], 6 * 3_600_000);
    assert_eq!(core["paused"], false);
    assert!(core["last_run"].is_null(), "no run yet: {core}");
    let paris = Calendar::new("0 2 * * *", "Europe/Paris").map_err(anyhow::Error::msg)?;
    let next = time(&core["next_tick_at"])?;
    let expected = paris
        .next_after(before)
        .ok_or_else(|| anyhow::anyhow!("no tick"))?;
    assert_eq!(next, expected, "the first tick after now");
    assert_eq!(core["next_tick_local"], paris.local(next));
    let edge = &all[1];
    assert_eq!(edge["time_zone"], "UTC", "the default zone");
    assert_eq!(
        edge["commands"],
        serde_json::json!(["show version", "show clock"])
    );
    assert_eq!(edge["overlap"], "allow");
    assert_eq!(edge["catch_up_ms"], 3_600_000, "the default catch-up");
    assert_eq!(edge["paused"], true);

    let table = netraven(&env, &["schedule", "list"], 0)?;
    for want in [
        "core-nightly",
        "Europe/Paris",
        "tags core",
        "devices edge-1",
        "paused",
        "running",
        "2 schedules",
    ] {
        assert!(table.contains(want), "{want:?} not in\n{table}");
    }

    // Three runs as dispatchers write them: FIRED (its job done), SKIPPED, MISSED.
    env.pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO jobs (id, request_id, job_type, request, status, total_devices,
                               created_at, deadline_at)
             VALUES ('00000000-0000-0000-0000-0000000005c1',
                     'schedule:core-nightly:2026-12-01T01:00:00Z', 'config_backup', '{}',
                     'COMPLETED_SUCCESS', 3, now(), now());
             INSERT INTO schedule_runs (schedule_id, tick_at, outcome, request_id,
                                        ticks_missed, reason, taken_by, taken_at)
             SELECT id, t, o, r, m, why, 'disp-1:4242', t + interval '2 minutes'
             FROM schedules, (VALUES
                 ('2026-12-01T01:00:00Z'::timestamptz, 'FIRED',
                  'schedule:core-nightly:2026-12-01T01:00:00Z', 0, NULL),
                 ('2026-12-02T01:00:00Z', 'SKIPPED', NULL, 0, 'the previous job still runs'),
                 ('2026-12-04T01:00:00Z', 'MISSED', NULL, 1, 'due 7h ago, past the catch-up'))
                 AS v(t, o, r, m, why)
             WHERE name = 'core-nightly';",
        )
        .await?;
    let show = json(&env, &["schedule", "show", "core-nightly", "--runs", "2"])?;
    assert_eq!(show["name"], "core-nightly");
    assert_eq!(show["limits"]["host_key_policy"], "strict");
    let runs = show["runs"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("{show}"))?;
    assert_eq!(runs.len(), 2, "--runs 2: {show}");
    assert_eq!(runs[0]["outcome"], "MISSED", "newest first");
    assert_eq!(runs[0]["ticks_missed"], 1);
    assert_eq!(runs[0]["reason"], "due 7h ago, past the catch-up");
    assert_eq!(runs[1]["outcome"], "SKIPPED");
    assert_eq!(runs[1]["taken_by"], "disp-1:4242");
    // Due at the tick plus its spread offset, within dispatcher.schedule_spread_ms.
    let offset = show["spread_offset_ms"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("{show}"))?;
    assert!((0..300_000).contains(&offset), "{offset}");
    assert_eq!(
        time(&show["next_due_at"])?,
        next + chrono::Duration::milliseconds(offset)
    );
    let all_runs = json(&env, &["schedule", "show", "core-nightly"])?;
    let fired = &all_runs["runs"][2];
    assert_eq!(fired["outcome"], "FIRED");
    assert_eq!(
        fired["request_id"],
        "schedule:core-nightly:2026-12-01T01:00:00Z"
    );
    assert_eq!(
        fired["job_id"], "00000000-0000-0000-0000-0000000005c1",
        "joined on the request id"
    );
    assert_eq!(fired["job_status"], "COMPLETED_SUCCESS");
    let text = netraven(&env, &["schedule", "show", "core-nightly"], 0)?;
    for want in [
        "due at",
        "spread offset",
        "MISSED",
        "COMPLETED_SUCCESS",
        "catch-up     6h",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let list = json(&env, &["schedule", "list"])?;
    assert_eq!(list[0]["last_run"]["outcome"], "MISSED", "the latest run");
    assert_eq!(list[1]["last_run"], serde_json::Value::Null);

    // Pause and resume say what they did, and again that nothing was to do.
    let out = netraven(&env, &["schedule", "pause", "core-nightly"], 0)?;
    assert!(out.contains("paused schedule core-nightly"), "{out}");
    let out = netraven(&env, &["schedule", "pause", "core-nightly"], 0)?;
    assert!(out.contains("already paused"), "{out}");
    assert!(
        one::<bool>(
            &env,
            "SELECT paused FROM schedules WHERE name = 'core-nightly'"
        )
        .await?
    );
    // Paused for a long time: its stored tick is far in the past.
    env.pool
        .get()
        .await?
        .execute(
            "UPDATE schedules SET next_tick_at = now() - interval '3 days'
             WHERE name = 'core-nightly'",
            &[],
        )
        .await?;
    let resumed_at = Utc::now();
    let out = netraven(&env, &["schedule", "resume", "core-nightly"], 0)?;
    assert!(
        out.contains("resumed schedule core-nightly") && out.contains("not run"),
        "{out}"
    );
    let next: DateTime<Utc> = one(
        &env,
        "SELECT next_tick_at FROM schedules WHERE name = 'core-nightly'",
    )
    .await?;
    assert_eq!(
        Some(next),
        paris.next_after(resumed_at),
        "resume takes the ticks from the next one after now"
    );
    let out = netraven(&env, &["schedule", "resume", "core-nightly"], 0)?;
    assert!(out.contains("already running"), "{out}");

    // No such schedule: exit 1, saying where the names are.
    for cmd in ["show", "pause", "resume", "remove"] {
        let (_, err) = outputs(&env, &["schedule", cmd, "nope"], 1)?;
        assert!(
            err.contains("no schedule \"nope\"") && err.contains("schedule list"),
            "{err}"
        );
    }

    // Remove takes the schedule and its runs, and leaves its jobs.
    let out = netraven(&env, &["schedule", "remove", "core-nightly"], 0)?;
    assert!(
        out.contains("its 3 runs") && out.contains("jobs it started are kept"),
        "{out}"
    );
    assert_eq!(
        one::<i64>(&env, "SELECT count(*) FROM schedule_runs").await?,
        0
    );
    assert_eq!(one::<i64>(&env, "SELECT count(*) FROM jobs").await?, 1);
    let names = json(&env, &["schedule", "list"])?;
    assert_eq!(names.as_array().map(Vec::len), Some(1));
    Ok(())
}
