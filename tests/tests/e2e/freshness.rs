//! The aggregator's freshness and schedule gauges, computed from rows seeded in SQL on a
//! real Postgres and read back from the metrics exposition: stale devices per tag with
//! the `_other` and `_untagged` folds, the fleet counts, and a schedule's next due time,
//! latest fired tick and its job's status.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration as Span, Utc};
use netraven_dispatcher::aggregate::freshness::{self, Limits};
use netraven_shared::schedule::{plan, Calendar};
use netraven_shared::telemetry::metrics;
use netraven_tests::TestEnv;
use std::time::Duration;

const OK_JOB: &str = "00000000-0000-0000-0000-00000000f001";
const FAILED_JOB: &str = "00000000-0000-0000-0000-00000000f002";

/// Devices (enabled unless said; ages of the latest version's last sighting):
///
/// | device | tags | last good backup |
/// |---|---|---|
/// | core-fresh | core | 1 h |
/// | core-old | core | 3 days (an older version 1 h ago would not count: the latest does) |
/// | core-never-old | core | never, created 2 days ago: stale |
/// | core-never-new | core, lab | never, created 1 h ago: not yet stale |
/// | edge-old | edge, core | 3 days |
/// | loose-old | — | 4 days |
/// | core-disabled | core | 10 days, disabled: not counted |
async fn seed_devices(env: &TestEnv) -> Result<()> {
    env.pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO tags (name) VALUES ('core'), ('edge'), ('lab');
             INSERT INTO devices (name, host, platform, enabled, created_at)
             SELECT n, '10.0.0.1', 'cisco_ios', n <> 'core-disabled',
                    CASE n WHEN 'core-never-new' THEN now() - interval '1 hour'
                           WHEN 'core-never-old' THEN now() - interval '2 days'
                           ELSE now() - interval '30 days' END
             FROM unnest(ARRAY['core-fresh', 'core-old', 'core-never-old', 'core-never-new',
                               'edge-old', 'loose-old', 'core-disabled']) n;
             INSERT INTO device_tags SELECT d.id, t.id FROM devices d, tags t
             WHERE (t.name = 'core' AND d.name LIKE 'core-%')
                OR (t.name = 'lab' AND d.name = 'core-never-new')
                OR (t.name IN ('core', 'edge') AND d.name = 'edge-old');
             INSERT INTO device_configs (device_id, version, sha256, content, size_bytes,
                                         first_seen_at, last_seen_at)
             SELECT d.id, v.version, repeat('a', 64), 'hostname ' || d.name, 12,
                    now() - interval '20 days', now() - v.age
             FROM devices d
             JOIN (VALUES ('core-fresh', 1, interval '1 hour'),
                          ('core-old', 1, interval '1 hour'),
                          ('core-old', 2, interval '3 days'),
                          ('edge-old', 1, interval '3 days'),
                          ('loose-old', 1, interval '4 days'),
                          ('core-disabled', 1, interval '10 days')) v(name, version, age)
               ON v.name = d.name;",
        )
        .await?;
    Ok(())
}

/// Schedules: `nightly` runs, its latest FIRED tick's job succeeded (an older one failed,
/// a later tick was SKIPPED); `on-hold` is paused and its fired tick has no job yet;
/// `zz-new` never fired.
async fn seed_schedules(env: &TestEnv, next_tick: DateTime<Utc>) -> Result<()> {
    env.pool
        .get()
        .await?
        .execute(
            &format!(
                "WITH s AS (
                     INSERT INTO schedules (name, cron, time_zone, job_type, targets,
                                            catch_up_ms, paused, next_tick_at)
                     VALUES ('nightly', '0 2 * * *', 'UTC', 'config_backup', '{{\"tags\":[\"core\"]}}',
                             3600000, false, $1),
                            ('on-hold', '0 2 * * *', 'UTC', 'config_backup', '{{\"tags\":[\"edge\"]}}',
                             3600000, true, $1),
                            ('zz-new', '0 2 * * *', 'UTC', 'config_backup', '{{\"tags\":[\"lab\"]}}',
                             3600000, false, $1)
                     RETURNING id, name
                 ), runs AS (
                     INSERT INTO schedule_runs (schedule_id, tick_at, outcome, request_id,
                                                taken_by, taken_at)
                     SELECT s.id, r.tick::timestamptz, r.outcome, r.request_id, 'test',
                            r.taken::timestamptz
                     FROM s JOIN (VALUES
                         ('nightly', '2026-11-30T02:00:00Z', 'FIRED', 'schedule:nightly:old', '2026-11-30T02:01:00Z'),
                         ('nightly', '2026-12-01T02:00:00Z', 'FIRED', 'schedule:nightly:ok', '2026-12-01T02:03:05Z'),
                         ('nightly', '2026-12-02T02:00:00Z', 'SKIPPED', NULL, '2026-12-02T02:02:00Z'),
                         ('on-hold', '2026-12-01T02:00:00Z', 'FIRED', 'schedule:on-hold:x', '2026-12-01T02:04:00Z')
                     ) r(name, tick, outcome, request_id, taken) ON r.name = s.name
                     RETURNING 1
                 )
                 INSERT INTO jobs (id, request_id, job_type, request, status, deadline_at)
                 VALUES ('{FAILED_JOB}', 'schedule:nightly:old', 'config_backup', '{{}}',
                         'COMPLETED_FAILURE', now()),
                        ('{OK_JOB}', 'schedule:nightly:ok', 'config_backup', '{{}}',
                         'COMPLETED_SUCCESS', now())"
            ),
            &[&next_tick],
        )
        .await?;
    Ok(())
}

/// The value of one series in the exposition, `None` when absent.
fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    })
}

fn exposition() -> Result<String> {
    metrics::render().map_err(anyhow::Error::msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_devices_are_counted_by_tag_and_folded_past_the_cap() -> Result<()> {
    let env = TestEnv::new().await?;
    seed_devices(&env).await?;
    let mut client = env.pool.get().await?;
    let limits = Limits::of(&env.settings);
    assert_eq!(limits.stale_after, Duration::from_secs(26 * 3600));
    assert_eq!(limits.max_tags, 100);

    let r = freshness::refresh(&mut client, &limits).await?;
    assert_eq!(r.freshness.devices, 6, "the disabled device is not counted");
    // core-old, core-never-old, edge-old, loose-old.
    assert_eq!(r.freshness.stale, 4);
    let age = r.freshness.oldest_age_seconds;
    assert!(
        (4.0 * 86_400.0 - 60.0..4.0 * 86_400.0 + 60.0).contains(&age),
        "the oldest enabled backup is loose-old's, 4 days: {age}"
    );
    let text = exposition()?;
    for (tag, want) in [
        ("core", 3.0),
        ("edge", 1.0),
        ("lab", 0.0),
        ("_other", 0.0),
        ("_untagged", 1.0),
    ] {
        let series = format!("netraven_backup_stale_devices{{tag=\"{tag}\"}}");
        assert_eq!(value(&text, &series), Some(want), "{series} in:\n{text}");
    }
    assert_eq!(value(&text, "netraven_backup_stale_devices_all"), Some(4.0));
    assert_eq!(value(&text, "netraven_backup_devices"), Some(6.0));
    let exported = value(&text, "netraven_backup_oldest_success_age_seconds")
        .context("no oldest age exported")?;
    assert!((exported - age).abs() < 1.0, "{exported} vs {age}");

    // One tag kept, the one with the most stale devices: edge's 1 and lab's 0 fold into
    // _other, and their series are gone.
    let r = freshness::refresh(
        &mut client,
        &Limits {
            max_tags: 1,
            ..limits
        },
    )
    .await?;
    assert_eq!(r.tag_series.len(), 3, "{:?}", r.tag_series);
    let text = exposition()?;
    assert_eq!(
        value(&text, "netraven_backup_stale_devices{tag=\"core\"}"),
        Some(3.0)
    );
    assert_eq!(
        value(&text, "netraven_backup_stale_devices{tag=\"_other\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "netraven_backup_stale_devices{tag=\"_untagged\"}"),
        Some(1.0)
    );
    for gone in ["edge", "lab"] {
        assert!(
            !text.contains(&format!("netraven_backup_stale_devices{{tag=\"{gone}\"}}")),
            "{gone} folded into _other but still exported:\n{text}"
        );
    }

    // A backup now: core-old is fresh again (a new version), loose-old too (its latest
    // seen again).
    client
        .batch_execute(
            "INSERT INTO device_configs (device_id, version, sha256, content, size_bytes)
             SELECT id, 3, repeat('b', 64), 'hostname core-old', 17 FROM devices
             WHERE name = 'core-old';
             UPDATE device_configs SET last_seen_at = now()
             WHERE device_id = (SELECT id FROM devices WHERE name = 'loose-old');",
        )
        .await?;
    let r = freshness::refresh(&mut client, &limits).await?;
    assert_eq!(r.freshness.stale, 2, "core-never-old and edge-old");
    let text = exposition()?;
    assert_eq!(
        value(&text, "netraven_backup_stale_devices{tag=\"core\"}"),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "netraven_backup_stale_devices{tag=\"_untagged\"}"),
        Some(0.0)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_gauges_show_next_due_last_fired_and_its_job() -> Result<()> {
    let env = TestEnv::new().await?;
    let cal = Calendar::new("0 2 * * *", "UTC").map_err(anyhow::Error::msg)?;
    let next_tick = cal.next_after(Utc::now()).context("a next tick")?;
    seed_schedules(&env, next_tick).await?;
    let mut client = env.pool.get().await?;
    let limits = Limits::of(&env.settings);
    let spread = Span::milliseconds(env.settings.dispatcher.schedule_spread_ms as i64);

    let r = freshness::refresh(&mut client, &limits).await?;
    assert!(!r.schedules_over_cap);
    let names: Vec<&str> = r.schedules.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["nightly", "on-hold", "zz-new"]);
    let due = plan::due_at(&cal, "nightly", next_tick, spread);
    assert!(
        due >= next_tick && due < next_tick + spread,
        "{due} is the tick {next_tick} plus the spread offset"
    );

    let text = exposition()?;
    let seconds = |t: DateTime<Utc>| t.timestamp_millis() as f64 / 1000.0;
    let fired = DateTime::parse_from_rfc3339("2026-12-01T02:03:05Z")?.with_timezone(&Utc);
    let on_hold_fired = DateTime::parse_from_rfc3339("2026-12-01T02:04:00Z")?.with_timezone(&Utc);
    for (series, want) in [
        (
            "netraven_schedule_next_due_timestamp_seconds{schedule=\"nightly\"}",
            Some(seconds(due)),
        ),
        (
            "netraven_schedule_next_due_timestamp_seconds{schedule=\"zz-new\"}",
            Some(seconds(plan::due_at(&cal, "zz-new", next_tick, spread))),
        ),
        // Paused: no next due time.
        (
            "netraven_schedule_next_due_timestamp_seconds{schedule=\"on-hold\"}",
            None,
        ),
        // The latest FIRED tick, not the later SKIPPED one.
        (
            "netraven_schedule_last_fired_timestamp_seconds{schedule=\"nightly\"}",
            Some(seconds(fired)),
        ),
        (
            "netraven_schedule_last_fired_timestamp_seconds{schedule=\"on-hold\"}",
            Some(seconds(on_hold_fired)),
        ),
        (
            "netraven_schedule_last_fired_timestamp_seconds{schedule=\"zz-new\"}",
            None,
        ),
        (
            "netraven_schedule_last_job_status{schedule=\"nightly\",status=\"COMPLETED_SUCCESS\"}",
            Some(1.0),
        ),
        (
            "netraven_schedule_last_job_status{schedule=\"nightly\",status=\"COMPLETED_FAILURE\"}",
            None,
        ),
        // Fired, and its job not recorded yet.
        (
            "netraven_schedule_last_job_status{schedule=\"on-hold\",status=\"PENDING\"}",
            Some(1.0),
        ),
        ("netraven_schedule_paused{schedule=\"nightly\"}", Some(0.0)),
        ("netraven_schedule_paused{schedule=\"on-hold\"}", Some(1.0)),
        ("netraven_schedule_paused{schedule=\"zz-new\"}", Some(0.0)),
    ] {
        assert_eq!(value(&text, series), want, "{series} in:\n{text}");
    }
    assert!(
        !text.contains("netraven_schedule_last_job_status{schedule=\"zz-new\""),
        "a schedule never fired has no job status"
    );
    // Exported at 0 before any tick, so that the first missed one is an increase.
    assert_eq!(
        value(&text, "netraven_schedule_ticks_total{outcome=\"missed\"}"),
        Some(0.0)
    );

    // Past the cap, the schedules after it by name are left out.
    let r = freshness::refresh(
        &mut client,
        &Limits {
            max_schedules: 2,
            ..limits
        },
    )
    .await?;
    assert!(r.schedules_over_cap);
    let text = exposition()?;
    assert_eq!(
        value(&text, "netraven_schedule_paused{schedule=\"on-hold\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "netraven_schedule_paused{schedule=\"zz-new\"}"),
        None
    );
    assert!(
        !text.contains("schedule=\"zz-new\""),
        "zz-new left out:\n{text}"
    );
    Ok(())
}
