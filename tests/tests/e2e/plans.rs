//! A role's statements are planned with their parameters (`plan_cache_mode =
//! force_custom_plan` on every role's connections). The workers' batch statements join an
//! `unnest` of ids to tables a job fills; a generic plan cached on a job's first batches,
//! while the table was nearly empty, stayed cached as the table grew and read all of it
//! for every later batch. Here the same statement, prepared and run on an empty table and
//! then on a filled one: a command's pool (the server's default) keeps the seq scan it
//! cached, a role's pool uses the index.

use netraven_shared::db;
use netraven_tests::TestEnv;

const STATEMENT: &str = "PREPARE claims_update(uuid[], bigint[], text[]) AS
     UPDATE plan_probe c SET result = r.result
     FROM unnest($1::uuid[], $2::bigint[], $3::text[]) AS r(job_id, device_id, result)
     WHERE c.job_id = r.job_id AND c.device_id = r.device_id";

/// The scans of the plan the session uses for the statement once the table holds 20,000
/// rows, after six runs on the empty table (the sixth caches a generic plan when the
/// server is left to choose). Autovacuum is off for the table: an ANALYZE between the
/// insert and the plan would make the server plan again on its own.
async fn scans_after_growth(client: &deadpool_postgres::Client) -> anyhow::Result<String> {
    client.batch_execute(STATEMENT).await?;
    let job = uuid::Uuid::new_v4();
    let run = |ids: std::ops::Range<i64>| {
        let ids: Vec<String> = ids.map(|i| i.to_string()).collect();
        format!(
            "claims_update('{{{jobs}}}', '{{{ids}}}', '{{{results}}}')",
            jobs = vec![job.to_string(); ids.len()].join(","),
            results = vec!["done"; ids.len()].join(","),
            ids = ids.join(","),
        )
    };
    for round in 0..6 {
        client
            .batch_execute(&format!("EXECUTE {}", run(round * 10..round * 10 + 10)))
            .await?;
    }
    client
        .batch_execute(&format!(
            "INSERT INTO plan_probe SELECT '{job}', g, repeat('r', 200)
             FROM generate_series(1000, 21000) g"
        ))
        .await?;
    let plan: serde_json::Value = client
        .query_one(
            &format!("EXPLAIN (FORMAT JSON) EXECUTE {}", run(5_000..5_075)),
            &[],
        )
        .await?
        .get(0);
    client
        .batch_execute("DEALLOCATE claims_update; TRUNCATE plan_probe")
        .await?;
    Ok(plan.to_string())
}

#[tokio::test]
async fn a_role_plans_a_batch_statement_for_the_table_as_it_is_now() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    env.pool
        .get()
        .await?
        .batch_execute(
            "CREATE TABLE plan_probe (job_id uuid NOT NULL, device_id bigint NOT NULL,
                                      result text, PRIMARY KEY (job_id, device_id))
             WITH (autovacuum_enabled = false)",
        )
        .await?;

    let command = env.pool.get().await?;
    let stale = scans_after_growth(&command).await?;
    assert!(
        stale.contains("Seq Scan"),
        "the server's default keeps the plan made on the empty table: {stale}"
    );

    let role = db::pool_with_options(&env.settings.database, "netraven-plans", None)?;
    let client = role.get().await?;
    let mode: String = client.query_one("SHOW plan_cache_mode", &[]).await?.get(0);
    assert_eq!(mode, "force_custom_plan");
    let fresh = scans_after_growth(&client).await?;
    assert!(
        fresh.contains("Index Scan") && !fresh.contains("Seq Scan"),
        "a role plans for the filled table: {fresh}"
    );
    Ok(())
}
