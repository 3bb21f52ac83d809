//! Events carry their CloudEvents attributes: every event of a running fleet has them,
//! two events never share an id, and an event the dispatcher publishes again (a request
//! redelivered after its dispatcher died) keeps its id.

use chrono::Utc;
use futures::StreamExt;
use netraven_dispatcher::{events as publish_events, job_rows};
use netraven_shared::broker::{self, Publisher};
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{
    events, format_time, CloudEvent, EventRole, JobEvent, DATA_CONTENT_TYPE,
};
use netraven_simulator::scenario;
use netraven_tests::{request, FleetBuilder, Spy, TestEnv};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// One event as delivered: its attributes, body and routing key, its `message_id`, and
/// its headers' `time` as written.
struct Seen {
    attributes: CloudEvent,
    event: JobEvent,
    key: String,
    message_id: Option<String>,
    time: String,
}

async fn next_event(spy: &mut Spy) -> anyhow::Result<Seen> {
    let d = spy.next_within(TIMEOUT).await?;
    let props = &d.properties;
    let attributes = broker::cloud_event(props)
        .map_err(|e| anyhow::anyhow!("an event without its attributes: {e}"))?;
    assert_eq!(
        props.content_type().as_ref().map(|c| c.as_str()),
        Some(DATA_CONTENT_TYPE),
        "datacontenttype"
    );
    Ok(Seen {
        attributes,
        event: serde_json::from_slice(&d.data)?,
        key: d.routing_key.as_str().to_string(),
        message_id: props.message_id().as_ref().map(|m| m.as_str().to_string()),
        time: broker::header(props, "cloudEvents:time").unwrap_or_default(),
    })
}

/// Two backups on a running fleet: each of their six events carries `specversion` 1.0,
/// an id of its own (also the `message_id`), the role that sent it as its `source`, the
/// routing key as its `type`, the job as its `subject` and the body's `at` as its `time`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_carries_its_attributes_and_an_id_of_its_own() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::from_spec(scenario("all-good", 4, 4)?)
        .start()
        .await?;
    env.import(&fleet).await?;
    let _roles = env.start(1);
    let mut spy = Spy::new(&env, Some((&env.names.events_exchange(), "job.*"))).await?;
    let backup = || request("config_backup", &["fleet"], &[]);
    let jobs = [
        env.run_job(&backup(), TIMEOUT).await?.id,
        env.run_job(&backup(), TIMEOUT).await?.id,
    ];
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|s: &&Seen| s.key == events::COMPLETED)
        .count()
        < 2
    {
        seen.push(next_event(&mut spy).await?);
    }
    assert_eq!(seen.len(), 6, "created, running, completed twice");
    let ns = &env.names.namespace;
    for s in &seen {
        let a = &s.attributes;
        assert!(jobs.contains(&s.event.job_id));
        assert_eq!(a.event_type, format!("net.netraven.{}", s.key));
        assert_eq!(a.routing_key(), Some(s.event.event.as_str()));
        assert_eq!(a.subject, s.event.job_id.to_string());
        assert_eq!(s.time, format_time(s.event.at), "time is the body's at");
        assert_eq!(s.message_id.as_deref(), Some(a.id.as_str()));
        let roles: &[EventRole] = match s.key.as_str() {
            // A job whose results are all in before it is marked running is finished
            // by the dispatcher; otherwise by the aggregator.
            events::COMPLETED => &[EventRole::Aggregator, EventRole::Dispatcher],
            _ => &[EventRole::Dispatcher],
        };
        assert!(
            roles.iter().any(|r| a.source == CloudEvent::source(ns, *r)),
            "{} from {}",
            s.key,
            a.source
        );
    }
    let ids: BTreeSet<&str> = seen.iter().map(|s| s.attributes.id.as_str()).collect();
    assert_eq!(ids.len(), seen.len(), "two events share an id: {ids:?}");
    Ok(())
}

/// A dispatcher created a job and announced it, then died before acking the request: the
/// redelivered request is dispatched again, and its second `job.created` keeps the id
/// (and `source`) of the first, while the job's later events have ids of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republished_event_keeps_its_id() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::from_spec(scenario("all-good", 2, 2)?)
        .start()
        .await?;
    env.import(&fleet).await?;
    let mut spy = Spy::new(&env, Some((&env.names.events_exchange(), "job.*"))).await?;
    let req = request("config_backup", &["fleet"], &[]);
    env.publish(&req).await?;

    // The dispatcher that dies: takes the request without acking it, creates its job and
    // announces it, as a dispatcher does first, then goes.
    let conn = broker::connect(&env.settings.amqp, "dying-dispatcher").await?;
    let ch = conn.create_channel().await?;
    let mut taken = ch
        .basic_consume(
            env.names.submit_queue().into(),
            "dying".into(),
            lapin::options::BasicConsumeOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await?;
    tokio::time::timeout(TIMEOUT, taken.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no request"))??;
    let user = broker::user(&env.settings.amqp)?;
    let client = env.pool.get().await?;
    let job_id = match job_rows::create(&client, &req, Some(&user), Utc::now() + TIMEOUT).await? {
        job_rows::Created::New(id) => id,
        other => anyhow::bail!("the job existed: {other:?}"),
    };
    let publisher = Publisher::new(&conn, 1).await?;
    let pending = job_rows::JobCounts::pending(&req.request_id, &req.job_type);
    publish_events::publish(
        &publisher,
        &env.names,
        EventRole::Dispatcher,
        job_id,
        &pending,
        events::CREATED,
    )
    .await;
    let first = next_event(&mut spy).await?;
    assert_eq!(first.key, events::CREATED);
    conn.close(200, "dying".into()).await?;

    // A live dispatcher takes the redelivered request and dispatches the job again.
    let _roles = env.start(1);
    let done = env.wait_final(job_id, TIMEOUT).await?;
    assert_eq!(done.counts.status, JobStatus::CompletedSuccess);
    let mut later: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    while !later.contains_key(events::COMPLETED) {
        let s = next_event(&mut spy).await?;
        assert_eq!(s.event.job_id, job_id);
        later.entry(s.key.clone()).or_default().push(s);
    }
    let again = &later[events::CREATED];
    assert_eq!(again.len(), 1, "one job.created from the live dispatcher");
    assert_eq!(again[0].attributes.id, first.attributes.id);
    assert_eq!(again[0].attributes.source, first.attributes.source);
    assert!(again[0].event.at >= first.event.at);
    let mut ids: Vec<&str> = later
        .values()
        .flatten()
        .map(|s| s.attributes.id.as_str())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), later.len(), "one id per kind of event: {ids:?}");
    Ok(())
}
