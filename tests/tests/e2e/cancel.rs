//! Cancelling a job mid-way (`netraven job cancel`, the `cancel` message): two workers on
//! a slow fleet, the job cancelled once devices have run. Devices in progress finish,
//! devices not started are recorded `CANCELLED` without a connection (the simulator's
//! ground truth), the job ends `CANCELLED` with its counts, and the events say so; a
//! second cancel, an unknown job, a canceller without permission and a malformed cancel
//! are each answered. Real RabbitMQ, Postgres and SSH devices.

use netraven_shared::broker;
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_shared::messages::{
    events, CancelAnswer, CancelReply, JobCancel, JobEvent, CANCEL_TYPE, VERSION,
};
use netraven_shared::telemetry::metrics;
use netraven_tests::{request, FleetBuilder, Roles, Spy, TestEnv};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(60);
const DEVICES: usize = 16;

/// Publishes a cancel body with AMQP type `cancel` (as `user_id`, or anonymously), asking
/// for the answer on `inbox`; returns the answer.
async fn cancel_as(
    env: &TestEnv,
    inbox: &mut Spy,
    body: Vec<u8>,
    user_id: Option<&str>,
) -> anyhow::Result<CancelReply> {
    let props = broker::json_properties()
        .with_type(CANCEL_TYPE.into())
        .with_reply_to(inbox.name.clone().into());
    match user_id {
        Some(u) => env.publish_raw(body, props.with_user_id(u.into())).await?,
        None => env.publish_as(&env.settings.amqp, body, props).await?,
    }
    Ok(serde_json::from_slice(&inbox.next().await?.data)?)
}

fn cancel_body(job_id: Uuid) -> Vec<u8> {
    serde_json::to_vec(&JobCancel {
        version: VERSION,
        job_id,
        reason: None,
    })
    .expect("encodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_mid_way_skips_what_has_not_started() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let user = broker::user(&env.settings.amqp)?;
    // Two workers, one device each at a time, every login 1.5 s long: the job runs in
    // eight waves, and most of it is still queued when it is cancelled.
    env.settings.worker.max_in_flight = 1;
    let fleet = FleetBuilder::slow_logins(DEVICES, 23)?.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 2);
    let mut watched = Spy::new(&env, Some((&env.names.events_exchange(), "job.*"))).await?;
    let client = env.pool.get().await?;

    let r = request("config_backup", &["fleet"], &[]);
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, TIMEOUT).await?;
    // Cancelled once two devices are recorded: the rest wait in the queue.
    env.wait_recorded(id, 2, TIMEOUT).await?;
    let out = env
        .command()?
        .args(["job", "cancel", &id.to_string(), "--reason", "wrong tag"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "cancelled RUNNING");

    let job = env.wait_final(id, TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::Cancelled);
    assert_eq!(job.counts.completed_devices, DEVICES as i64);

    // What ran has its result; what did not was never contacted.
    let rows = client
        .query(
            "SELECT device_name, outcome, reason, config_sha256 FROM job_results WHERE job_id = $1",
            &[&id],
        )
        .await?;
    assert_eq!(rows.len(), DEVICES, "one result per device");
    let mut by_outcome: HashMap<String, i64> = HashMap::new();
    for row in &rows {
        let (name, outcome): (String, String) = (row.get(0), row.get(1));
        let reason: String = row.get(2);
        *by_outcome.entry(outcome.clone()).or_default() += 1;
        if outcome == Outcome::Cancelled.as_str() {
            assert_eq!(
                fleet.connections(&name),
                0,
                "{name} was skipped yet contacted"
            );
            assert!(
                reason.contains(&format!("job cancelled by {user}")),
                "{name}: {reason}"
            );
        } else {
            assert_eq!(outcome, Outcome::Success.as_str(), "{name}: {reason}");
            assert!(
                row.get::<_, Option<String>>(3).is_some(),
                "{name}: no config"
            );
            assert!(
                fleet.connections(&name) >= 1,
                "{name} ran without a connection"
            );
        }
    }
    let (succeeded, skipped) = (
        by_outcome.get("SUCCESS").copied().unwrap_or(0),
        by_outcome.get("CANCELLED").copied().unwrap_or(0),
    );
    assert!(succeeded >= 2, "{by_outcome:?}");
    assert!(skipped >= 1, "nothing skipped: {by_outcome:?}");
    assert_eq!(succeeded + skipped, DEVICES as i64, "{by_outcome:?}");
    assert_eq!(job.counts.succeeded_devices, succeeded);

    // Who, when, why and what ran: in the job row and in `job show`.
    let row = client
        .query_one(
            "SELECT cancelled_by, cancel_reason, cancel_requested_at IS NOT NULL FROM jobs WHERE id = $1",
            &[&id],
        )
        .await?;
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some(user.as_str())
    );
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("wrong tag")
    );
    assert!(row.get::<_, bool>(2));
    let out = env
        .command()?
        .args(["job", "show", &id.to_string()])
        .output()?;
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&format!("cancelled  by {user} at")),
        "{shown}"
    );
    assert!(shown.contains(": wrong tag"), "{shown}");
    assert!(
        shown.contains(&format!(
            "{succeeded} succeeded, 0 failed, {skipped} skipped"
        )),
        "{shown}"
    );

    // The events: created, running, cancelling, then completed with CANCELLED.
    let mut seen = Vec::new();
    while !seen.iter().any(|e: &JobEvent| e.event == events::COMPLETED) {
        let event: JobEvent = serde_json::from_slice(&watched.next_within(TIMEOUT).await?.data)?;
        if event.job_id == id {
            seen.push(event);
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            events::CREATED,
            events::RUNNING,
            events::CANCELLING,
            events::COMPLETED
        ]
    );
    assert_eq!(seen[2].status, JobStatus::Running);
    assert_eq!(seen[3].status, JobStatus::Cancelled);
    assert_eq!(seen[3].completed_devices, DEVICES as i64);

    // A second cancel: already final, the job's own exit code.
    let out = env
        .command()?
        .args(["job", "cancel", &id.to_string()])
        .output()?;
    assert_eq!(out.status.code(), Some(11));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "already_final CANCELLED"
    );
    // An unknown job: refused, exit 1.
    let out = env
        .command()?
        .args(["job", "cancel", &Uuid::now_v7().to_string()])
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no_such_job"), "{stderr}");

    // Who may not: the tests' user (without cancel_any_job) on an anonymous job, and an
    // anonymous cancel on the user's own job. A malformed cancel is answered and
    // dead-lettered.
    let mut inbox = Spy::new(&env, None).await?;
    let other = request("config_backup", &["no-such-tag"], &[]);
    env.publish_as(
        &env.settings.amqp,
        serde_json::to_vec(&other)?,
        broker::json_properties(),
    )
    .await?;
    let other_id = env.job_id(&other.request_id, TIMEOUT).await?;
    let reply = cancel_as(&env, &mut inbox, cancel_body(other_id), Some(&user)).await?;
    assert_eq!(reply.answer, CancelAnswer::NotPermitted, "{reply:?}");
    let error = reply.error.unwrap_or_default();
    assert!(error.contains(&format!("{user} may not cancel")), "{error}");
    let reply = cancel_as(&env, &mut inbox, cancel_body(id), None).await?;
    assert_eq!(reply.answer, CancelAnswer::NotPermitted, "{reply:?}");
    let reply = cancel_as(
        &env,
        &mut inbox,
        br#"{"version":1,"job_id":"job-7"}"#.to_vec(),
        Some(&user),
    )
    .await?;
    assert_eq!(reply.answer, CancelAnswer::Invalid, "{reply:?}");
    assert_eq!(
        env.wait_final(other_id, TIMEOUT).await?.counts.status,
        JobStatus::CompletedNoDevices,
        "a refused cancel changes nothing"
    );

    // The metrics, by answer (the roles run in this process).
    let m = &metrics::get().job_cancels_total;
    for (answer, n) in [
        ("cancelled", 1),
        ("already_final", 1),
        ("no_such_job", 1),
        ("not_permitted", 2),
        ("invalid", 1),
    ] {
        assert_eq!(m.with_label_values(&[answer]).get(), n, "{answer}");
    }
    let jobs = &metrics::get().jobs_total;
    assert_eq!(
        jobs.with_label_values(&["config_backup", "CANCELLED"])
            .get(),
        1
    );
    roles.stop().await
}

/// The dispatcher's side, on the job rows alone: a job cancelled while it is still being
/// dispatched records the devices it never sent `CANCELLED`, once, and ends `CANCELLED`
/// when the devices it did send are recorded; the first cancel stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_while_dispatching_records_what_was_never_sent() -> anyhow::Result<()> {
    use netraven_dispatcher::job_rows::{self, Created, Recorded};
    let env = TestEnv::new().await?;
    let client = env.pool.get().await?;
    let names: Vec<String> = (0..5).map(|i| format!("d{i}")).collect();
    for name in &names {
        client
            .execute(
                "INSERT INTO devices (name, host, platform) VALUES ($1, '127.0.0.1', 'cisco_ios')",
                &[name],
            )
            .await?;
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let r = request("config_backup", &[], &refs);
    let deadline = chrono::Utc::now() + chrono::Duration::hours(1);
    let Created::New(id) = job_rows::create(&client, &r, Some("alice"), deadline).await? else {
        anyhow::bail!("a new job expected");
    };
    assert_eq!(
        job_rows::add_members(&client, id, &r.targets).await?,
        Some(5)
    );
    let ids: Vec<i64> = client
        .query("SELECT id FROM devices ORDER BY id", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!job_rows::cancel_requested(&client, id).await?);

    // Cancelled after the first two devices' tasks went out.
    match job_rows::request_cancel(&client, id, "alice", Some("first")).await? {
        Some(Recorded::Now(counts)) => assert_eq!(counts.status, JobStatus::Pending),
        other => anyhow::bail!("expected the cancel recorded, got {other:?}"),
    }
    assert_eq!(
        job_rows::request_cancel(&client, id, "bob", Some("second")).await?,
        Some(Recorded::Before(JobStatus::Pending))
    );
    assert!(job_rows::cancel_requested(&client, id).await?);
    assert_eq!(job_rows::record_unsent(&client, id, ids[1]).await?, 3);
    assert_eq!(
        job_rows::record_unsent(&client, id, ids[1]).await?,
        0,
        "once"
    );
    let skipped = client
        .query(
            "SELECT device_id, reason FROM job_results WHERE job_id = $1 AND outcome = 'CANCELLED'
             ORDER BY device_id",
            &[&id],
        )
        .await?;
    assert_eq!(
        skipped.iter().map(|row| row.get(0)).collect::<Vec<i64>>(),
        ids[2..].to_vec()
    );
    let reason: String = skipped[0].get(1);
    assert_eq!(reason, "job cancelled by alice before its task was sent");

    // Running with the two sent; it ends once they are recorded, CANCELLED.
    assert!(job_rows::mark_running(&client, id, 2).await?.is_some());
    assert_eq!(job_rows::finalize_if_complete(&client, id).await?, None);
    client
        .execute(
            "INSERT INTO job_results (job_id, device_id, device_name, outcome)
             SELECT $1, d.id, d.name, 'SUCCESS' FROM devices d WHERE d.id = ANY($2)",
            &[&id, &&ids[..2]],
        )
        .await?;
    client
        .execute(
            "UPDATE jobs SET completed_devices = completed_devices + 2,
                    succeeded_devices = succeeded_devices + 2 WHERE id = $1",
            &[&id],
        )
        .await?;
    let done = job_rows::finalize_if_complete(&client, id)
        .await?
        .expect("finished");
    assert_eq!(done.status, JobStatus::Cancelled);
    assert_eq!((done.completed_devices, done.succeeded_devices), (5, 2));
    assert_eq!(
        job_rows::request_cancel(&client, id, "alice", None).await?,
        Some(Recorded::Final(JobStatus::Cancelled))
    );
    let row = client
        .query_one(
            "SELECT cancelled_by, cancel_reason FROM jobs WHERE id = $1",
            &[&id],
        )
        .await?;
    assert_eq!(row.get::<_, String>(0), "alice", "the first cancel stands");
    assert_eq!(row.get::<_, String>(1), "first");
    assert_eq!(
        job_rows::request_cancel(&client, Uuid::now_v7(), "alice", None).await?,
        None
    );
    Ok(())
}

/// A cancelled job dispatched again: its first dispatcher sent every task and died before
/// the job left PENDING, the workers recorded every device, then the job was cancelled,
/// and the request came back. The second dispatch records no device as "never sent" (it
/// cannot tell what the first one sent) and the job ends CANCELLED with what its devices
/// did. Before, it looked for devices not yet sent from the first one on, found none
/// without a result, and ended the job COMPLETED_NO_DEVICES, "the targets match no device".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_dispatched_again_keeps_what_its_devices_did() -> anyhow::Result<()> {
    use netraven_dispatcher::job_rows::{self, Created};
    const DEVICES: i32 = 3;
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", DEVICES as usize, 19)?
        .start()
        .await?;
    env.import(&fleet).await?;
    let client = env.pool.get().await?;
    let r = request("config_backup", &["fleet"], &[]);
    let user = broker::user(&env.settings.amqp)?;
    let deadline = chrono::Utc::now() + chrono::Duration::hours(1);
    // What the first dispatcher and the workers left: the members, every device recorded
    // (and counted, as the aggregator counts), the job still PENDING.
    let Created::New(id) = job_rows::create(&client, &r, Some(&user), deadline).await? else {
        anyhow::bail!("a new job expected");
    };
    assert_eq!(
        job_rows::add_members(&client, id, &r.targets).await?,
        Some(i64::from(DEVICES))
    );
    client
        .execute(
            "INSERT INTO job_results (job_id, device_id, device_name, outcome)
             SELECT $1, d.id, d.name, 'SUCCESS' FROM devices d",
            &[&id],
        )
        .await?;
    client
        .execute(
            "UPDATE jobs SET completed_devices = $2, succeeded_devices = $2 WHERE id = $1",
            &[&id, &DEVICES],
        )
        .await?;
    assert!(job_rows::request_cancel(&client, id, &user, Some("stop"))
        .await?
        .is_some());
    // The request, back in the queue after its dispatcher died.
    env.publish_redelivered(&r).await?;

    let roles = env.start(1);
    let job = env
        .wait_final(id, std::time::Duration::from_secs(60))
        .await?;
    roles.stop().await?;
    assert_eq!(job.counts.status, JobStatus::Cancelled, "{job:?}");
    let outcomes: Vec<String> = client
        .query(
            "SELECT outcome FROM job_results WHERE job_id = $1 ORDER BY device_id",
            &[&id],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        outcomes, ["SUCCESS"; DEVICES as usize],
        "what the devices did stands"
    );
    Ok(())
}
