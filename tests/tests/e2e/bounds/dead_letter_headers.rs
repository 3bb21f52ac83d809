//! A refused request whose dead letter would not fit one AMQP frame (128 KiB) — padded
//! with 130,900 bytes of headers (about as much as its own frame holds), or with a 900 KB
//! field name that the decoder quotes — is dead-lettered with its reason clipped and the
//! padding named, not copied. Before, RabbitMQ closed the dispatcher's connection on the
//! dead letter's header frame ("frame too large"): the request went back to the queue,
//! came again, and took the connection down each time.

use super::TIMEOUT;
use lapin::types::{AMQPValue, FieldTable};
use netraven_shared::broker::{self, DROPPED_HEADER, REASON_HEADER};
use netraven_shared::messages::JobReply;
use netraven_shared::telemetry::metrics;
use netraven_shared::text::MAX_REASON_BYTES;
use netraven_tests::{request, Roles, Spy, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_too_large_for_one_frame_is_dead_lettered_once() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let dispatching = Roles::start_without_workers(&env.settings);
    let mut replies = Spy::new(&env, None).await?;
    let mut dead = Spy::on_queue(&env, &env.names.dead_queue()).await?;
    let inbox = replies.name.clone();
    let ask = |id: &str| {
        broker::json_properties()
            .with_reply_to(inbox.clone().into())
            .with_correlation_id(id.to_string().into())
    };

    // Malformed, with as many headers as fit its own frame: its copy plus the reason
    // would not fit.
    let mut padded = FieldTable::default();
    padded.insert(
        "x-pad".into(),
        AMQPValue::LongString("p".repeat(130_900).into()),
    );
    env.publish_raw(b"not json".to_vec(), ask("padded").with_headers(padded))
        .await?;
    let reply: JobReply = serde_json::from_slice(&replies.next_within(TIMEOUT).await?.data)?;
    assert!(!reply.accepted);
    assert!(
        reply
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("not a valid job request")),
        "{reply:?}"
    );
    let d = dead.next_within(TIMEOUT).await?;
    let reason = broker::header(&d.properties, REASON_HEADER).unwrap_or_default();
    assert!(reason.starts_with("not a valid job request"), "{reason}");
    let dropped = broker::header(&d.properties, DROPPED_HEADER).unwrap_or_default();
    assert!(dropped.starts_with("x-pad (1309"), "{dropped}");
    assert_eq!(&d.data[..], b"not json", "the body is kept whole");

    // A 900 KB field name, which the decoder's error quotes whole.
    let name = "A".repeat(900_000);
    let body = format!(r#"{{"version":1,"request_id":"r","job_type":"config_backup","{name}":0}}"#);
    env.publish_raw(body.into_bytes(), ask("named")).await?;
    let reply: JobReply = serde_json::from_slice(&replies.next_within(TIMEOUT).await?.data)?;
    let error = reply.error.unwrap_or_default();
    assert!(error.contains("unknown field `AAAA"), "{}", &error[..80]);
    assert!(
        error.ends_with("bytes cut)"),
        "{}",
        &error[error.len() - 40..]
    );
    assert!(
        error.len() <= MAX_REASON_BYTES + 32,
        "{} bytes",
        error.len()
    );
    let d = dead.next_within(TIMEOUT).await?;
    let reason = broker::header(&d.properties, REASON_HEADER).unwrap_or_default();
    assert_eq!(
        reason, error,
        "the dead letter says what the submitter heard"
    );

    // The dispatcher kept its connection: a good request is answered, and each refused
    // one was refused once (a request that came back would be counted again).
    let good = request("config_backup", &["nothing"], &[]);
    env.publish_raw(serde_json::to_vec(&good)?, ask("good"))
        .await?;
    let reply: JobReply = serde_json::from_slice(&replies.next_within(TIMEOUT).await?.data)?;
    assert!(reply.accepted, "{reply:?}");
    let refused = metrics::get()
        .job_requests_total
        .with_label_values(&["malformed"])
        .get();
    assert_eq!(refused, 2, "each malformed request refused exactly once");
    dispatching.stop().await?;
    Ok(())
}
