//! A client of the fleet, as any tool would be: publishes a job request (or a cancel) to
//! the jobs exchange and waits for the dispatcher's reply and the job's completion event.

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use lapin::options::QueueBindOptions;
use lapin::types::FieldTable;
use netraven_shared::broker::{self, Names, Outgoing, Publisher, SUBMIT_KEY};
use netraven_shared::config::AmqpSettings;
use netraven_shared::messages::{
    events, CancelReply, JobCancel, JobEvent, JobReply, JobRequest, CANCEL_TYPE,
};
use std::time::Duration;

/// A connection with a private queue to receive answers on, consumed, and a confirming
/// publisher: what both a request and a cancel need.
struct Inbox {
    connection: lapin::Connection,
    channel: lapin::Channel,
    names: Names,
    queue: String,
    consumer: lapin::Consumer,
    publisher: Publisher,
}

impl Inbox {
    async fn open(settings: &AmqpSettings) -> Result<Inbox> {
        let connection = broker::connect(settings, "cli").await.with_context(|| {
            format!(
                "cannot reach RabbitMQ at {} (is it running? `netraven services ensure` starts it)",
                netraven_shared::config::mask_url(&settings.url)
            )
        })?;
        let names = Names::new(&settings.namespace);
        let channel = connection.create_channel().await?;
        if settings.declare_topology {
            broker::declare_topology(&channel, &names, settings).await?;
        }
        let (queue, consumer) = broker::reply_queue(&channel).await?;
        let publisher = Publisher::new(&connection, 1)
            .await?
            .with_confirm_timeout(Duration::from_millis(settings.confirm_timeout_ms));
        Ok(Inbox {
            connection,
            channel,
            names,
            queue,
            consumer,
            publisher,
        })
    }
}

/// What came back for a submitted request.
#[derive(Debug)]
pub struct Submitted {
    pub reply: JobReply,
    /// The `job.completed` event, when asked to wait for it.
    pub completed: Option<JobEvent>,
}

/// Publishes `request` and waits up to `timeout` for the reply; with `wait`, also for the
/// job's completion.
pub async fn submit(
    settings: &AmqpSettings,
    request: &JobRequest,
    wait: bool,
    timeout: Duration,
) -> Result<Submitted> {
    let Inbox {
        connection,
        channel,
        names,
        queue: inbox,
        mut consumer,
        publisher,
    } = Inbox::open(settings).await?;
    // The private queue receives both the reply and the job events.
    channel
        .queue_bind(
            inbox.clone().into(),
            names.events_exchange().into(),
            events::COMPLETED.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    // The broker checks user_id against the connection's user: the dispatcher takes it as
    // the submitter's identity.
    let props = broker::json_properties()
        .with_user_id(broker::user(settings)?.into())
        .with_reply_to(inbox.into())
        .with_correlation_id(request.request_id.clone().into());
    publisher
        .publish(
            Outgoing::json(&names.jobs_exchange(), SUBMIT_KEY, request)?.with_properties(props),
        )
        .await
        .context("the broker did not accept the job request")?;

    let waited = tokio::time::timeout(timeout, async {
        let mut reply: Option<JobReply> = None;
        let mut completed: Option<JobEvent> = None;
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            if delivery.routing_key.as_str() == events::COMPLETED {
                let Ok(event) = serde_json::from_slice::<JobEvent>(&delivery.data) else {
                    continue;
                };
                if event.request_id == request.request_id {
                    completed = Some(event);
                }
            } else if let Ok(r) = serde_json::from_slice::<JobReply>(&delivery.data) {
                if !r.accepted {
                    bail!(
                        "the dispatcher refused the request: {}",
                        r.error.unwrap_or_default()
                    );
                }
                reply = Some(r);
            }
            let final_in_reply = reply
                .as_ref()
                .and_then(|r| r.status)
                .is_some_and(|s| s.is_final());
            match (&reply, wait) {
                (Some(_), false) => break,
                (Some(_), true) if completed.is_some() || final_in_reply => break,
                _ => {}
            }
        }
        let reply =
            reply.ok_or_else(|| anyhow!("the connection closed before the dispatcher replied"))?;
        Ok(Submitted { reply, completed })
    })
    .await;
    let _ = connection.close(200, "done".into()).await;
    match waited {
        Ok(result) => result,
        Err(_) => bail!(
            "no {} within {} s: is a dispatcher{} running on namespace {:?}?",
            if wait { "final status" } else { "reply" },
            timeout.as_secs(),
            if wait {
                " (and are workers and an aggregator)"
            } else {
                ""
            },
            settings.namespace
        ),
    }
}

/// Publishes `cancel` (AMQP type `cancel`, as the broker user) and waits up to `timeout`
/// for the dispatcher's answer.
pub async fn cancel(
    settings: &AmqpSettings,
    cancel: &JobCancel,
    timeout: Duration,
) -> Result<CancelReply> {
    let Inbox {
        connection,
        names,
        queue: inbox,
        mut consumer,
        publisher,
        ..
    } = Inbox::open(settings).await?;
    // The canceller is the broker user (user_id, checked by RabbitMQ), never a body field.
    let correlation = uuid::Uuid::new_v4().to_string();
    let props = broker::json_properties()
        .with_type(CANCEL_TYPE.into())
        .with_user_id(broker::user(settings)?.into())
        .with_reply_to(inbox.into())
        .with_correlation_id(correlation.clone().into());
    publisher
        .publish(Outgoing::json(&names.jobs_exchange(), SUBMIT_KEY, cancel)?.with_properties(props))
        .await
        .context("the broker did not accept the cancel")?;
    let waited = tokio::time::timeout(timeout, async {
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            let ours = delivery
                .properties
                .correlation_id()
                .as_ref()
                .is_some_and(|c| c.as_str() == correlation);
            if !ours {
                continue;
            }
            return serde_json::from_slice::<CancelReply>(&delivery.data)
                .context("the dispatcher's answer is not a cancel reply");
        }
        bail!("the connection closed before the dispatcher answered")
    })
    .await;
    let _ = connection.close(200, "done".into()).await;
    match waited {
        Ok(result) => result,
        Err(_) => bail!(
            "no answer within {} s: is a dispatcher running on namespace {:?}?",
            timeout.as_secs(),
            settings.namespace
        ),
    }
}
