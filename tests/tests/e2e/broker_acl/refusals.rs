//! RabbitMQ refuses what a role may not do.

use super::accounts::{get, publish, refused_by_broker, Accounts};
use netraven_cli::access::{self};
use netraven_shared::broker::{self, SUBMIT_KEY, TASK_KEY};
use netraven_tests::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_refuses_what_a_role_may_not_do() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let alice = format!("{}-alice", env.settings.amqp.namespace);
    let accounts = Accounts::setup(&env, std::slice::from_ref(&alice)).await?;
    let submitter = &accounts.amqp[&alice];
    let names = &env.names;
    let props = broker::json_properties();

    refused_by_broker(
        publish(submitter, names.tasks_exchange(), TASK_KEY, props.clone()).await,
        "a submitter publishing a device task",
        "ACCESS_REFUSED",
    );
    refused_by_broker(
        publish(
            &accounts.amqp["worker"],
            names.jobs_exchange(),
            SUBMIT_KEY,
            props.clone(),
        )
        .await,
        "a worker publishing a job request",
        "ACCESS_REFUSED",
    );
    refused_by_broker(
        publish(
            &accounts.amqp["aggregator"],
            names.tasks_exchange(),
            TASK_KEY,
            props.clone(),
        )
        .await,
        "the aggregator publishing a device task",
        "ACCESS_REFUSED",
    );
    // A request claiming another user: RabbitMQ checks user_id against the login.
    refused_by_broker(
        publish(
            submitter,
            names.jobs_exchange(),
            SUBMIT_KEY,
            props.clone().with_user_id("guest".into()),
        )
        .await,
        "a request with a forged user_id",
        "user_id",
    );
    // Its own user_id: accepted.
    publish(
        submitter,
        names.jobs_exchange(),
        SUBMIT_KEY,
        props.clone().with_user_id(alice.clone().into()),
    )
    .await?;
    // Device tasks carry sealed secrets: only workers may take them, and only the
    // operator and the api (for /api/dead-letters) may read the dead letters, which
    // include tasks whose secrets stay sealed.
    for (role, queue) in [
        (alice.as_str(), names.tasks_queue()),
        ("dispatcher", names.tasks_queue()),
        ("aggregator", names.tasks_queue()),
        ("operator", names.tasks_queue()),
        ("api", names.tasks_queue()),
        ("api", names.results_queue()),
        ("api", names.submit_queue()),
        (alice.as_str(), names.dead_queue()),
        ("worker", names.dead_queue()),
        (alice.as_str(), names.submit_queue()),
        ("worker", names.results_queue()),
    ] {
        refused_by_broker(
            get(&accounts.amqp[role], queue.clone()).await,
            &format!("{role} taking from {queue}"),
            "ACCESS_REFUSED",
        );
    }
    get(&accounts.amqp["worker"], names.tasks_queue()).await?;
    get(&accounts.amqp["api"], names.dead_queue()).await?;
    // The api re-sends what others signed, but never speaks for the dispatcher or the
    // aggregator (events) nor dead-letters anything itself.
    for exchange in [names.events_exchange(), names.dead_exchange()] {
        refused_by_broker(
            publish(
                &accounts.amqp["api"],
                exchange.clone(),
                TASK_KEY,
                props.clone(),
            )
            .await,
            &format!("the api publishing on {exchange}"),
            "ACCESS_REFUSED",
        );
    }

    // Setup again (as after a password change, or by mistake): nothing breaks.
    access::setup(&env.settings.amqp, "rabbitmqctl", &accounts.made).await?;
    publish(
        submitter,
        names.jobs_exchange(),
        SUBMIT_KEY,
        props.clone().with_user_id(alice.clone().into()),
    )
    .await?;
    refused_by_broker(
        publish(submitter, names.tasks_exchange(), TASK_KEY, props.clone()).await,
        "a submitter publishing a device task, after a second setup",
        "ACCESS_REFUSED",
    );
    // No role may declare (or so delete) the namespace's queues.
    let conn = broker::connect(&accounts.amqp["worker"], "test-acl").await?;
    let channel = conn.create_channel().await?;
    let declared = broker::declare_topology(&channel, names, &env.settings.amqp).await;
    let text = format!(
        "{:?}",
        declared.expect_err("a worker declared the topology")
    );
    assert!(text.contains("ACCESS_REFUSED"), "{text}");
    let _ = conn.close(200, "ok".into()).await;

    drop(accounts);
    Ok(())
}
