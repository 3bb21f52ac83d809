//! Altered or forged device tasks send no secret anywhere.

use super::messages::{
    counters, drain, healthy_fleet, publish, rejected, wait_for_messages, with_signature, Waiting,
    DEVICES,
};
use netraven_shared::broker::{self, Publisher, REASON_HEADER, TASK_KEY};
use netraven_shared::domain::JobStatus;
use netraven_shared::signing::{Issuer, Purpose, SigningKeys, SIGNATURE_HEADER};
use netraven_tests::TestEnv;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_or_forged_tasks_send_no_secret_anywhere() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = healthy_fleet(81).await?;
    // The attacker's SSH servers: every login they receive is recorded.
    let decoy = healthy_fleet(82).await?;
    env.import(&fleet).await?;

    let Waiting {
        dispatching,
        job_id,
        conn,
        ch,
        tasks_queue,
        genuine,
        task,
    } = Waiting::start(&env).await?;
    dispatching.stop().await?;
    let signature = broker::header(&genuine.properties, SIGNATURE_HEADER);
    assert!(signature.is_some(), "the dispatcher signs every task");

    let target = &decoy.devices()[0];
    let altered = |change: &dyn Fn(&mut Value)| -> anyhow::Result<Vec<u8>> {
        let mut t = task.clone();
        change(&mut t);
        Ok(serde_json::to_vec(&t)?)
    };
    let retarget = |t: &mut Value| {
        t["device"]["host"] = json!(target.host.to_string());
        t["device"]["port"] = json!(target.port);
    };
    // A dispatcher key the attacker made, and the workers' own key (a compromised worker).
    let attacker = SigningKeys::parse(&SigningKeys::generate_line(Issuer::Dispatcher)?)?
        .signer(Purpose::DeviceTask, &env.names.namespace)?;
    let workers_key = SigningKeys::parse(&env.signing_keys)?
        .signer(Purpose::TaskResults, &env.names.namespace)?;
    let retargeted = altered(&retarget)?;
    let forgeries: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("retargeted", retargeted.clone(), signature.clone()),
        (
            "port only",
            altered(&|t| t["device"]["port"] = json!(target.port))?,
            signature.clone(),
        ),
        (
            "host-key checks off",
            altered(&|t| {
                retarget(t);
                t["host_key_policy"] = json!("off");
            })?,
            signature.clone(),
        ),
        (
            "pin replaced",
            altered(&|t| {
                retarget(t);
                t["host_key_policy"] = json!("strict");
                t["pinned_host_key"] = json!(target.host_key.clone());
            })?,
            signature.clone(),
        ),
        (
            "credentials reordered",
            altered(&|t| {
                retarget(t);
                if let Some(c) = t["credentials"].as_array_mut() {
                    c.reverse();
                }
            })?,
            signature.clone(),
        ),
        (
            "deadline stretched",
            altered(&|t| {
                retarget(t);
                t["device_deadline_ms"] = json!(3_600_000);
            })?,
            signature.clone(),
        ),
        ("unsigned", retargeted.clone(), None),
        (
            "attacker's key",
            retargeted.clone(),
            Some(attacker.sign(&retargeted)),
        ),
        (
            "a worker's key",
            retargeted.clone(),
            Some(workers_key.sign(&retargeted)),
        ),
    ];
    let publisher = Publisher::new(&conn, 16).await?;
    for (_, body, sig) in &forgeries {
        publish(
            &publisher,
            env.names.tasks_exchange(),
            TASK_KEY,
            body.clone(),
            with_signature(&genuine.properties, sig.clone()),
        )
        .await?;
    }

    let roles = env.start(2);
    let done = env.wait_final(job_id, Duration::from_secs(60)).await?;
    assert_eq!(done.counts.status, JobStatus::CompletedSuccess);
    assert_eq!(done.counts.completed_devices, DEVICES as i64);
    let dead_queue = env.names.dead_queue();
    wait_for_messages(&ch, &dead_queue, forgeries.len() as u32).await?;
    roles.stop().await?;

    // Not one login reached the attacker's servers; the real devices saw one task each.
    assert_eq!(
        decoy.all_attempts(),
        Default::default(),
        "a forged task made a worker log in elsewhere"
    );
    let logins: usize = fleet.all_attempts().values().map(Vec::len).sum();
    let (successes, failures) = counters(&env).await?;
    assert_eq!(successes, DEVICES as i64, "one success per device, no more");
    assert_eq!(
        (successes + failures) as usize,
        logins,
        "the credential counters count the real devices' logins only"
    );

    // Every forgery is in the dead queue with its reason; nothing else is.
    let dead = drain(&ch, &dead_queue).await?;
    let reasons: Vec<String> = dead
        .iter()
        .filter_map(|d| broker::header(&d.properties, REASON_HEADER))
        .collect();
    assert_eq!(reasons.len(), forgeries.len(), "{reasons:#?}");
    assert!(reasons.iter().all(|r| r.starts_with("device task refused")));
    let count = |needle: &str| reasons.iter().filter(|r| r.contains(needle)).count();
    assert_eq!(count("altered or forged"), 6, "{reasons:#?}");
    assert_eq!(count("unsigned"), 1, "{reasons:#?}");
    assert_eq!(count("not a trusted dispatcher key"), 2, "{reasons:#?}");
    assert_eq!(rejected(&tasks_queue, "bad_signature"), 6);
    assert_eq!(rejected(&tasks_queue, "unsigned"), 1);
    assert_eq!(rejected(&tasks_queue, "unknown_key"), 2);
    // The forged tasks marked no device DEAD_LETTERED either: every device succeeded above.

    let _ = conn.close(200, "ok".into()).await;
    fleet.shutdown().await;
    decoy.shutdown().await;
    Ok(())
}
