//! A job's devices (`job_devices`): recorded once, when the job is dispatched, before any
//! of its tasks goes out, so that the sweeper knows every one of them whatever happens to
//! the dispatcher; then read a page at a time by `dispatch::resolve::Stream::page`.

use crate::error::Result;
use deadpool_postgres::GenericClient;
use netraven_shared::domain::Lane;
use netraven_shared::messages::Targets;
use uuid::Uuid;

/// The enabled devices the targets name: the same union as the resolution's own query
/// (`DEVICES_SQL` in dispatch/resolve.rs), appended to the job in one statement that
/// Postgres runs on its own, so that no device list passes through the dispatcher.
/// `total_devices` becomes the count of the job's members (those of an earlier dispatch
/// of the same request included, which the statement cannot see among its own inserts).
const ADD_MEMBERS_SQL: &str = "
WITH target AS (
    SELECT dt.device_id AS id FROM device_tags dt
    WHERE dt.tag_id = ANY(ARRAY(SELECT t.id FROM tags t WHERE t.name = ANY($3)))
    UNION
    SELECT d.id FROM devices d WHERE d.name = ANY($1) OR d.id = ANY($2)
), added AS (
    INSERT INTO job_devices (job_id, device_id)
    SELECT $4, d.id FROM target t JOIN devices d ON d.id = t.id AND d.enabled
    WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $4 AND status = 'PENDING')
    ON CONFLICT DO NOTHING
    RETURNING 1
)
UPDATE jobs
SET total_devices = ((SELECT count(*) FROM job_devices WHERE job_id = $4)
                     + (SELECT count(*) FROM added))::integer
WHERE id = $4 AND status = 'PENDING'
RETURNING total_devices";

/// Records the devices `targets` match as the job's members and returns how many the job
/// has; `None` when the job is no longer pending (the sweeper ended it meanwhile).
pub async fn add_members<C: GenericClient>(
    db: &C,
    job_id: Uuid,
    targets: &Targets,
) -> Result<Option<i64>> {
    let row = db
        .query_opt(
            ADD_MEMBERS_SQL,
            &[
                &targets.devices,
                &targets.device_ids,
                &targets.tags,
                &job_id,
            ],
        )
        .await?;
    Ok(row.map(|r| i64::from(r.get::<_, i32>(0))))
}

/// Named devices (and ids, as `#id`) that do not exist or are disabled, in the targets'
/// order. The request's limits bound both lists.
pub async fn missing_targets<C: GenericClient>(db: &C, targets: &Targets) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    if !targets.devices.is_empty() {
        let rows = db
            .query(
                "SELECT u.name FROM unnest($1::text[]) WITH ORDINALITY AS u(name, i)
                 WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.name = u.name AND d.enabled)
                 ORDER BY u.i",
                &[&targets.devices],
            )
            .await?;
        missing.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    if !targets.device_ids.is_empty() {
        let rows = db
            .query(
                "SELECT u.id FROM unnest($1::bigint[]) WITH ORDINALITY AS u(id, i)
                 WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = u.id AND d.enabled)
                 ORDER BY u.i",
                &[&targets.device_ids],
            )
            .await?;
        missing.extend(rows.iter().map(|r| format!("#{}", r.get::<_, i64>(0))));
    }
    Ok(missing)
}

/// Records the task lane the job's tasks go to (`bulk` or `interactive`), before any
/// does; only while the job is pending.
pub async fn set_lane<C: GenericClient>(db: &C, job_id: Uuid, lane: Lane) -> Result<()> {
    db.execute(
        "UPDATE jobs SET lane = $2 WHERE id = $1 AND status = 'PENDING'",
        &[&job_id, &lane.as_str()],
    )
    .await?;
    Ok(())
}
