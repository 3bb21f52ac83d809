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
