//! Device claims are safe to take again: a claim statement that committed but whose answer
//! was lost (the connection cut or timed out mid-reply, as when Postgres stops answering)
//! is retried, and the retry must find the claim its own, or the device is left to nobody
//! and its job never ends.

use netraven_tests::TestEnv;
use netraven_worker::persist::{claim_rows, Claim, ClaimRow};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_retried_after_a_lost_answer_stays_its_own() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let job_id = Uuid::new_v4();
    let first = ClaimRow {
        job_id,
        device_id: 7,
        token: Uuid::new_v4(),
        redelivered: false,
        try_number: 1,
    };
    let answers = claim_rows(&env.pool, &[first]).await?;
    assert_eq!(answers[&first.token], Claim::Mine(first.token));
    // The same statement again, as the retry after a lost answer sends it.
    let again = claim_rows(&env.pool, &[first]).await?;
    assert_eq!(
        again[&first.token],
        Claim::Mine(first.token),
        "the retry of a committed claim keeps it"
    );

    // Another first delivery of the same try is still kept out, and a redelivery (its
    // holder's channel is gone) still takes the claim over.
    let duplicate = ClaimRow {
        token: Uuid::new_v4(),
        ..first
    };
    let answers = claim_rows(&env.pool, &[duplicate]).await?;
    assert_eq!(answers[&duplicate.token], Claim::HeldElsewhere);
    let redelivery = ClaimRow {
        token: Uuid::new_v4(),
        redelivered: true,
        ..first
    };
    let answers = claim_rows(&env.pool, &[redelivery]).await?;
    assert_eq!(answers[&redelivery.token], Claim::Mine(redelivery.token));
    // Now the first holder's copy is the one kept out, even when it retries.
    let answers = claim_rows(&env.pool, &[first]).await?;
    assert_eq!(answers[&first.token], Claim::HeldElsewhere);
    Ok(())
}

/// A worker that was away while its claim was taken over records nothing of that device:
/// the batch finds the claim gone only at its end (the claim is written once, last), so it
/// is rolled back and written again without the device — its attempts, log line and
/// configuration with it — and the new holder's claim keeps no result of the old one's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_records_only_the_devices_whose_claims_it_still_holds() -> anyhow::Result<()> {
    use chrono::Utc;
    use netraven_shared::domain::Outcome;
    use netraven_shared::messages::{TaskResult, RESULT_VERSION};
    use netraven_worker::device_text::DeviceText;
    use netraven_worker::persist::record_results;
    use netraven_worker::report::{Attempt, AttemptOutcome, DeviceReport, Snapshot};

    let env = TestEnv::new().await?;
    let db = env.pool.get().await?;
    let job_id = Uuid::new_v4();
    let mut devices = Vec::new();
    for name in ["kept-1", "taken-2"] {
        let row = db
            .query_one(
                "INSERT INTO devices (name, host, port, platform) VALUES ($1, '127.0.0.1', 22, 'cisco_ios')
                 RETURNING id",
                &[&name],
            )
            .await?;
        devices.push((name, row.get::<_, i64>(0)));
    }
    let mut claims = Vec::new();
    for &(_, device_id) in &devices {
        let row = ClaimRow {
            job_id,
            device_id,
            token: Uuid::new_v4(),
            redelivered: false,
            try_number: 1,
        };
        assert_eq!(
            claim_rows(&env.pool, &[row]).await?[&row.token],
            Claim::Mine(row.token)
        );
        claims.push(row);
    }
    // The second device's task is redelivered to another worker, which takes the claim.
    let takeover = ClaimRow {
        token: Uuid::new_v4(),
        redelivered: true,
        ..claims[1]
    };
    assert_eq!(
        claim_rows(&env.pool, &[takeover]).await?[&takeover.token],
        Claim::Mine(takeover.token)
    );

    let results: Vec<TaskResult> = devices
        .iter()
        .map(|&(name, device_id)| TaskResult {
            version: RESULT_VERSION,
            job_id,
            device_id,
            device_name: name.into(),
            outcome: Outcome::Success,
            reason: String::new(),
            credential_id: Some(1),
            attempts: 1,
            duration_ms: 5,
            config_sha256: None,
            config: None,
            worker: "away:1".into(),
            finished_at: Utc::now(),
            try_number: None,
        })
        .collect();
    let reports: Vec<DeviceReport> = devices
        .iter()
        .map(|&(name, _)| DeviceReport {
            outcome: Outcome::Success,
            reason: String::new(),
            credential_id: Some(1),
            attempts: vec![Attempt {
                credential_id: 1,
                credential_name: "tacacs".into(),
                outcome: AttemptOutcome::Success,
                duration_ms: 3,
                at: Utc::now(),
            }],
            config: Some(Snapshot::of(DeviceText::from_text(format!(
                "hostname {name}\n"
            )))),
            duration: std::time::Duration::from_millis(5),
            output_turn: None,
        })
        .collect();
    let batch: Vec<_> = results
        .iter()
        .zip(&reports)
        .zip(&claims)
        .map(|((r, report), c)| (r, report, c.token))
        .collect();
    let written = record_results(&env.pool, &batch).await?;
    assert_eq!(
        written.held,
        [claims[0].token].into_iter().collect(),
        "only the claim still held is recorded"
    );
    assert_eq!(written.configs.len(), 1, "{:?}", written.configs);

    let (kept, taken) = (devices[0].1, devices[1].1);
    for table in ["credential_attempts", "job_logs", "device_configs"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE device_id = $1");
        for (device, expected, what) in [
            (kept, 1, "the device still held is recorded"),
            (taken, 0, "the taken-over device is not"),
        ] {
            let count: i64 = db.query_one(&sql, &[&device]).await?.get(0);
            assert_eq!(count, expected, "{table}: {what}");
        }
    }
    let stored = db
        .query(
            "SELECT device_id, token, result IS NOT NULL FROM device_claims WHERE job_id = $1
             ORDER BY device_id",
            &[&job_id],
        )
        .await?;
    let stored: Vec<(i64, Uuid, bool)> = stored
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        stored,
        vec![
            (kept, claims[0].token, true),
            (taken, takeover.token, false)
        ],
        "the kept claim holds its result, the taken one its new holder and no result"
    );
    let result: String = db
        .query_one(
            "SELECT result FROM device_claims WHERE job_id = $1 AND device_id = $2",
            &[&job_id, &kept],
        )
        .await?
        .get(0);
    let result: TaskResult = serde_json::from_str(&result)?;
    assert_eq!(
        result.config.map(|c| c.version),
        Some(1),
        "the claim's result carries the version the batch stored"
    );
    Ok(())
}

/// A claim whose stored result does not read back (written by a newer worker, with a
/// field this one does not know) is that device's problem alone: the other claims of the
/// same batch are answered as usual. Before, the whole batch (up to 512 devices, any
/// jobs) failed with it and went back to the queue, again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_result_that_does_not_read_back_fails_its_claim_alone() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let job_id = Uuid::new_v4();
    let row = |device_id, redelivered| ClaimRow {
        job_id,
        device_id,
        token: Uuid::new_v4(),
        redelivered,
        try_number: 1,
    };
    let (odd, fresh) = (row(1, false), row(2, false));
    assert_eq!(
        claim_rows(&env.pool, &[odd]).await?[&odd.token],
        Claim::Mine(odd.token)
    );
    // Recorded by a worker of a newer build: its result has a field this build refuses.
    env.pool
        .get()
        .await?
        .execute(
            "UPDATE device_claims SET result = '{\"version\":2,\"from_the_future\":true}'
             WHERE job_id = $1 AND device_id = 1",
            &[&job_id],
        )
        .await?;
    let copy = row(1, true);
    let answers = claim_rows(&env.pool, &[copy, fresh]).await?;
    assert!(
        matches!(&answers[&copy.token], Claim::Unreadable(why) if why.contains("does not read back")),
        "{:?}",
        answers[&copy.token]
    );
    assert_eq!(answers[&fresh.token], Claim::Mine(fresh.token));
    Ok(())
}

/// Two copies of a device's task in one claim batch — a first delivery (a duplicate) and a
/// redelivery (its holder's channel is gone) — while the gone holder's claim stands: the
/// redelivered copy takes the claim over and works the device, the duplicate is left
/// alone. Before, the batch kept whichever copy came first: the first delivery, which may
/// not take a claim, so both were answered "held elsewhere" and acked, and the device
/// waited for nobody until the job's deadline made it LOST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_copy_in_the_same_batch_as_a_duplicate_takes_the_claim() -> anyhow::Result<()>
{
    use netraven_worker::persist::Claimer;
    let env = TestEnv::new().await?;
    let job_id = Uuid::new_v4();
    let gone = ClaimRow {
        job_id,
        device_id: 9,
        token: Uuid::new_v4(),
        redelivered: false,
        try_number: 1,
    };
    assert_eq!(
        claim_rows(&env.pool, &[gone]).await?[&gone.token],
        Claim::Mine(gone.token)
    );
    let claimer = Claimer::start(env.pool.clone());
    // Sent one after the other, within the batch window: the duplicate first.
    let (duplicate, redelivered) = tokio::join!(
        claimer.claim(job_id, 9, false, 1),
        claimer.claim(job_id, 9, true, 1)
    );
    assert_eq!(duplicate?, Claim::HeldElsewhere);
    assert!(
        matches!(redelivered?, Claim::Mine(_)),
        "the redelivered copy works the device"
    );
    Ok(())
}
