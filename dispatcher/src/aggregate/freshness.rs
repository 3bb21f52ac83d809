//! Backup freshness and schedule gauges, computed from Postgres by every aggregator every
//! `aggregator.freshness_interval_ms`, so that each aggregator exports the same values
//! (dashboards and alerts take the `max` across instances).
//!
//! **Stale.** A device's last good backup is its latest configuration version's
//! `last_seen_at`, as `netraven device list` has it (a successful backup stores a version
//! or marks the latest seen). An enabled device is stale when that is older than
//! `aggregator.backup_stale_after_ms` (26 h); a device never backed up counts from its
//! `created_at`, so it turns stale once it has existed that long without a backup.
//! Disabled devices are not counted at all. Ages are read on the database's clock, the
//! one that wrote those timestamps.
//!
//! **Tags.** A device counts under each of its tags, so the tags' series do not add up to
//! the fleet: `netraven_backup_stale_devices_all` is the fleet. At most
//! `aggregator.freshness_max_tags` tags are exported, those with the most stale devices
//! (then by name); the others' counts are summed under `tag="_other"`, and devices without
//! a tag are `tag="_untagged"` (both always exported, 0 when empty). Every tag with an
//! enabled device is exported, at 0 when none is stale, so that a panel shows the tag and
//! an alert's series does not appear from nothing. The series are replaced at each
//! refresh: a tag that drops out is gone.
//!
//! **Schedules.** Per schedule, up to `aggregator.freshness_max_schedules` by name: when
//! its next tick is due (`next_tick_at` plus its spread offset, as the dispatchers take it;
//! absent while paused or without a next tick), when its latest `FIRED` tick was taken,
//! that tick's job status (`PENDING` until the job row exists) and whether it is paused.
//!
//! A refresh that fails (database down) leaves the gauges as they were and is logged; the
//! next interval tries again.

use super::periodic::Periodic;
use crate::error::Result;
use chrono::{DateTime, Duration as Span, Utc};
use deadpool_postgres::GenericClient;
use netraven_shared::config::Settings;
use netraven_shared::schedule::{plan, Calendar};
use netraven_shared::telemetry::metrics;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The tag value of the tags past `freshness_max_tags`, summed.
pub const OTHER_TAG: &str = "_other";
/// The tag value of devices without a tag.
pub const UNTAGGED: &str = "_untagged";

/// What a refresh computes, and how much of it it exports.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A last good backup older than this is stale.
    pub stale_after: Duration,
    /// Tag values exported at most, besides `_other` and `_untagged`.
    pub max_tags: usize,
    /// Schedules exported at most.
    pub max_schedules: usize,
    /// The dispatchers' spread window, for each schedule's due time.
    pub spread: Duration,
}

impl Limits {
    pub fn of(settings: &Settings) -> Limits {
        Limits {
            stale_after: Duration::from_millis(settings.aggregator.backup_stale_after_ms),
            max_tags: settings.aggregator.freshness_max_tags as usize,
            max_schedules: settings.aggregator.freshness_max_schedules as usize,
            spread: Duration::from_millis(settings.dispatcher.schedule_spread_ms),
        }
    }
}

/// The fleet's freshness, as one query reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Freshness {
    /// Each tag with an enabled device, and its stale devices.
    pub tags: Vec<(String, i64)>,
    /// Stale devices without a tag.
    pub untagged: i64,
    /// Stale devices, fleet-wide.
    pub stale: i64,
    /// Enabled devices.
    pub devices: i64,
    /// Age of the oldest last good backup among enabled devices (0 without any).
    pub oldest_age_seconds: f64,
}

/// One schedule as its gauges show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleGauges {
    pub name: String,
    pub paused: bool,
    /// When its next tick is due, offset included; `None` while paused or without a tick.
    pub next_due: Option<DateTime<Utc>>,
    /// When its latest `FIRED` tick was taken.
    pub last_fired: Option<DateTime<Utc>>,
    /// The status of that tick's job (`PENDING` before the job row exists).
    pub last_job_status: Option<String>,
}

/// What one refresh exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Refreshed {
    pub freshness: Freshness,
    /// The tag series as exported: the kept tags, `_other`, `_untagged`.
    pub tag_series: Vec<(String, i64)>,
    pub schedules: Vec<ScheduleGauges>,
    /// More schedules exist than `max_schedules`: the rest were left out.
    pub schedules_over_cap: bool,
}

/// Every enabled device's last good backup (its creation when never backed up), then one
/// row per tag with its stale devices, and one summary row (tag NULL): stale untagged,
/// stale in all, enabled devices, the oldest age. `$1`: the stale age in milliseconds.
/// The latest version is found by the (device_id, version) unique index, one probe per
/// device.
const FRESHNESS_SQL: &str = "
WITH d AS MATERIALIZED (
    SELECT d.id,
           COALESCE((SELECT c.last_seen_at FROM device_configs c
                     WHERE c.device_id = d.id ORDER BY c.version DESC LIMIT 1),
                    d.created_at) AS good_at
    FROM devices d
    WHERE d.enabled
), cutoff AS (
    SELECT now() - $1::bigint * interval '1 millisecond' AS at
)
SELECT t.name AS tag, count(*) FILTER (WHERE d.good_at < cutoff.at) AS stale,
       NULL::bigint AS stale_all, NULL::bigint AS devices, NULL::float8 AS oldest_age
FROM d JOIN device_tags dt ON dt.device_id = d.id JOIN tags t ON t.id = dt.tag_id, cutoff
GROUP BY t.name
UNION ALL
SELECT NULL,
       count(*) FILTER (WHERE d.good_at < cutoff.at
                        AND NOT EXISTS (SELECT 1 FROM device_tags dt WHERE dt.device_id = d.id)),
       count(*) FILTER (WHERE d.good_at < cutoff.at),
       count(*),
       COALESCE(extract(epoch FROM now() - min(d.good_at))::float8, 0)
FROM d, cutoff";

/// Reads the fleet's freshness in one statement.
pub async fn read_freshness<C: GenericClient>(db: &C, stale_after: Duration) -> Result<Freshness> {
    let ms = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
    let rows = db.query(FRESHNESS_SQL, &[&ms]).await?;
    let mut f = Freshness::default();
    for row in &rows {
        match row.get::<_, Option<String>>("tag") {
            Some(tag) => f.tags.push((tag, row.get("stale"))),
            None => {
                f.untagged = row.get("stale");
                f.stale = row.get("stale_all");
                f.devices = row.get("devices");
                // A backup stamped ahead of the database's clock is not negative age.
                f.oldest_age_seconds = row.get::<_, f64>("oldest_age").max(0.0);
            }
        }
    }
    Ok(f)
}

/// The tag series to export: the `max` tags with the most stale devices (ties by name),
/// the rest summed under `_other`, then `_untagged`.
pub fn fold(mut tags: Vec<(String, i64)>, untagged: i64, max: usize) -> Vec<(String, i64)> {
    tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let other: i64 = tags.iter().skip(max).map(|(_, n)| n).sum();
    tags.truncate(max);
    tags.push((OTHER_TAG.to_string(), other));
    tags.push((UNTAGGED.to_string(), untagged));
    tags
}

/// Each schedule by name with its latest `FIRED` run and that run's job; `$1` rows at most.
const SCHEDULES_SQL: &str = "
SELECT s.name, s.cron, s.time_zone, s.paused, s.next_tick_at, r.taken_at,
       CASE WHEN r.taken_at IS NULL THEN NULL ELSE COALESCE(j.status, 'PENDING') END AS status
FROM schedules s
LEFT JOIN LATERAL (
    SELECT taken_at, request_id FROM schedule_runs
    WHERE schedule_id = s.id AND outcome = 'FIRED'
    ORDER BY tick_at DESC LIMIT 1
) r ON true
LEFT JOIN jobs j ON j.request_id = r.request_id
ORDER BY s.name
LIMIT $1";

/// Reads up to `max` schedules by name; `true` when there were more.
pub async fn read_schedules<C: GenericClient>(
    db: &C,
    max: usize,
    spread: Duration,
) -> Result<(Vec<ScheduleGauges>, bool)> {
    let limit = i64::try_from(max).unwrap_or(i64::MAX).saturating_add(1);
    let rows = db.query(SCHEDULES_SQL, &[&limit]).await?;
    let over = rows.len() > max;
    let spread = Span::from_std(spread).unwrap_or(Span::zero());
    let schedules = rows
        .iter()
        .take(max)
        .map(|row| {
            let name: String = row.get("name");
            let paused: bool = row.get("paused");
            let next_tick: Option<DateTime<Utc>> = row.get("next_tick_at");
            let next_due = next_tick.filter(|_| !paused).map(|tick| {
                match Calendar::new(row.get("cron"), row.get("time_zone")) {
                    Ok(cal) => plan::due_at(&cal, &name, tick, spread),
                    // Stored schedules were checked; one that no longer parses is shown
                    // at its nominal tick rather than not at all.
                    Err(e) => {
                        tracing::warn!(schedule = %name, error = %e,
                            "schedule's calendar does not parse; its next due time leaves out the spread");
                        tick
                    }
                }
            });
            ScheduleGauges {
                name,
                paused,
                next_due,
                last_fired: row.get("taken_at"),
                last_job_status: row.get("status"),
            }
        })
        .collect();
    Ok((schedules, over))
}

/// Reads freshness and schedules and replaces the gauges with them.
///
/// Both reads share one read-only snapshot. JIT is off for them: on a large fleet the
/// planner prices the freshness query's one index probe per device above
/// `jit_above_cost`, and compiling it cost 270 ms of a 500 ms run on 50,000 devices, for
/// nothing (190 ms without).
pub async fn refresh(client: &mut deadpool_postgres::Client, limits: &Limits) -> Result<Refreshed> {
    let tx = client
        .build_transaction()
        .read_only(true)
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await?;
    tx.batch_execute("SET LOCAL jit = off").await?;
    let freshness = read_freshness(&tx, limits.stale_after).await?;
    let (schedules, schedules_over_cap) =
        read_schedules(&tx, limits.max_schedules, limits.spread).await?;
    tx.commit().await?;
    let tag_series = fold(freshness.tags.clone(), freshness.untagged, limits.max_tags);
    let refreshed = Refreshed {
        freshness,
        tag_series,
        schedules,
        schedules_over_cap,
    };
    export(&refreshed);
    Ok(refreshed)
}

/// Replaces every freshness and schedule series with `r`'s (no await in between, so a
/// scrape sees the old set or the new one, but for the instant of the swap).
fn export(r: &Refreshed) {
    let m = metrics::get();
    let seconds = |t: &DateTime<Utc>| t.timestamp_millis() as f64 / 1000.0;
    m.backup_stale_devices.reset();
    for (tag, n) in &r.tag_series {
        m.backup_stale_devices.with_label_values(&[tag]).set(*n);
    }
    m.backup_stale_devices_all.set(r.freshness.stale);
    m.backup_devices.set(r.freshness.devices);
    m.backup_oldest_success_age_seconds
        .set(r.freshness.oldest_age_seconds);
    m.schedule_next_due_timestamp_seconds.reset();
    m.schedule_last_fired_timestamp_seconds.reset();
    m.schedule_last_job_status.reset();
    m.schedule_paused.reset();
    for s in &r.schedules {
        let name = s.name.as_str();
        m.schedule_paused
            .with_label_values(&[name])
            .set(i64::from(s.paused));
        if let Some(due) = &s.next_due {
            m.schedule_next_due_timestamp_seconds
                .with_label_values(&[name])
                .set(seconds(due));
        }
        if let Some(fired) = &s.last_fired {
            m.schedule_last_fired_timestamp_seconds
                .with_label_values(&[name])
                .set(seconds(fired));
        }
        if let Some(status) = &s.last_job_status {
            m.schedule_last_job_status
                .with_label_values(&[name, status])
                .set(1);
        }
    }
}

/// The aggregator's freshness task: refreshes at start and then every `every`, until
/// `stop`. A failed refresh is logged and tried again at the next interval.
pub(super) async fn run(
    pool: deadpool_postgres::Pool,
    limits: Limits,
    every: Duration,
    stop: CancellationToken,
) {
    let mut clock = Periodic::every(every);
    let mut over_cap_said = false;
    while clock.tick(&stop).await {
        let started = std::time::Instant::now();
        let refreshed = async {
            let mut client = pool.get().await?;
            refresh(&mut client, &limits).await
        };
        match refreshed.await {
            Ok(r) => {
                tracing::debug!(
                    stale = r.freshness.stale,
                    devices = r.freshness.devices,
                    schedules = r.schedules.len(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "freshness gauges refreshed"
                );
                if r.schedules_over_cap && !over_cap_said {
                    tracing::warn!(
                        exported = limits.max_schedules,
                        "more schedules than aggregator.freshness_max_schedules: the gauges \
                         of those past it (by name) are left out; raise the setting to see them"
                    );
                }
                over_cap_said = r.schedules_over_cap;
            }
            Err(e) => tracing::warn!(error = %e,
                "freshness gauges not refreshed (they keep their last values); trying again next interval"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[(&str, i64)]) -> Vec<(String, i64)> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn the_tags_with_most_stale_devices_are_kept_and_the_rest_summed() {
        let folded = fold(
            tags(&[("a", 1), ("b", 5), ("c", 0), ("d", 5), ("e", 2)]),
            3,
            2,
        );
        assert_eq!(
            folded,
            tags(&[("b", 5), ("d", 5), ("_other", 3), ("_untagged", 3)])
        );
        let all = fold(tags(&[("a", 0)]), 0, 100);
        assert_eq!(all, tags(&[("a", 0), ("_other", 0), ("_untagged", 0)]));
    }
}
