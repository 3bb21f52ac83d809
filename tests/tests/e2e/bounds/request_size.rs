//! A 23 MB job request is refused by its size before it is decoded, with the reason the
//! submitter hears and the dead letter carries, and the dispatcher's peak memory stays
//! small; a request that fits in bytes but lists too many targets is refused while it is
//! decoded.

use super::{DispatcherProcess, TIMEOUT};
use netraven_shared::broker::{self, REASON_HEADER};
use netraven_shared::messages::{JobReply, MAX_REQUEST_BYTES, MAX_TARGET_DEVICES};
use netraven_tests::{request, Spy, TestEnv};

/// Peak resident memory the dispatcher may reach while it refuses a 23 MB request: a few
/// times what it uses (docs/performance.md), far below the 414 MB it took when it decoded
/// the whole body.
const PEAK_BOUND_KIB: u64 = 150 * 1024;

/// A well-formed-looking request whose `targets.devices` lists about a million names:
/// 23 MB of JSON.
fn huge_request() -> Vec<u8> {
    let mut body = String::from(
        r#"{"version":1,"request_id":"huge","job_type":"config_backup","targets":{"devices":["#,
    );
    let mut i = 0u64;
    while body.len() < 23 * 1024 * 1024 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!("\"core-router-{i:08}\""));
        i += 1;
    }
    body.push_str("]}}");
    body.into_bytes()
}

async fn dead_reason(env: &TestEnv) -> anyhow::Result<String> {
    let mut dead = Spy::on_queue(env, &env.names.dead_queue()).await?;
    let d = dead.next_within(TIMEOUT).await?;
    Ok(broker::header(&d.properties, REASON_HEADER).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_23_mb_request_is_refused_by_its_size_and_the_dispatcher_stays_small(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let mut dispatcher = DispatcherProcess::start(&env, &[])?;
    dispatcher.consuming().await?;
    let mut replies = Spy::new(&env, None).await?;
    let inbox = replies.name.clone();
    let ask = |id: &str| {
        broker::json_properties()
            .with_reply_to(inbox.clone().into())
            .with_correlation_id(id.to_string().into())
    };
    // A small request first: the dispatcher's memory once it has handled one.
    let small = request("config_backup", &["nothing"], &[]);
    env.publish_raw(serde_json::to_vec(&small)?, ask("small"))
        .await?;
    let reply: JobReply = serde_json::from_slice(&replies.next().await?.data)?;
    assert!(reply.accepted, "{reply:?}");
    let before = dispatcher.peak_kib()?;

    let body = huge_request();
    let size = body.len();
    env.publish_raw(body, ask("huge")).await?;
    let reply: JobReply = serde_json::from_slice(&replies.next().await?.data)?;
    let expected =
        format!("job request of {size} bytes is over the limit of {MAX_REQUEST_BYTES} bytes");
    assert!(!reply.accepted);
    assert_eq!(reply.error.as_deref(), Some(expected.as_str()));
    assert_eq!(
        dead_reason(&env).await?,
        expected,
        "the dead letter says why"
    );
    let peak = dispatcher.peak_kib()?;
    eprintln!(
        "dispatcher VmHWM: {} MiB after a small request, {} MiB after the {} MB one",
        before / 1024,
        peak / 1024,
        size / 1_000_000
    );
    assert!(
        peak < PEAK_BOUND_KIB,
        "the dispatcher peaked at {peak} KiB refusing a {size}-byte request"
    );

    // Within the byte limit, one name too many is refused as it is decoded.
    let mut r = request("config_backup", &[], &[]);
    r.targets.devices = (0..=MAX_TARGET_DEVICES).map(|i| format!("d{i}")).collect();
    env.publish_raw(serde_json::to_vec(&r)?, ask("names"))
        .await?;
    let reply: JobReply = serde_json::from_slice(&replies.next().await?.data)?;
    let error = reply.error.unwrap_or_default();
    assert!(
        error.contains("targets.devices has more than 10000 entries, the limit"),
        "{error}"
    );
    let client = env.pool.get().await?;
    let jobs: i64 = client
        .query_one("SELECT count(*) FROM jobs", &[])
        .await?
        .get(0);
    assert_eq!(jobs, 1, "only the small request made a job");
    Ok(())
}
