//! A batch Postgres refuses for good, among 200 devices: triggers the test installs in its
//! own database refuse one device's configuration, and every login attempt of another
//! (rows only the worker writes), with a data error (SQLSTATE 22023, permanent). The worker splits each refused batch until it
//! finds them: the 198 others commit once, their devices logged into once; the first is
//! recorded `INTERNAL_ERROR` saying why, and the second, which cannot be recorded even
//! so, is dead-lettered and ends `DEAD_LETTERED`. Nothing is requeued, nothing done twice.

use super::{fleet_with, reruns, JOB_TIMEOUT};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_tests::{request, FleetBuilder, TestEnv};

/// Its configuration is refused: recorded as a failure without it.
const REFUSED_CONFIG: &str = "dev-00010";
/// Every row of it is refused: dead-lettered.
const REFUSED_ALL: &str = "dev-00020";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_device_is_split_out_and_its_neighbours_commit_once() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::from_spec(fleet_with(23, &[])?)
        .start()
        .await?;
    env.import(&fleet).await?;
    let client = env.pool.get().await?;
    // The refusal quotes hostile text, as a database message may quote a value: the
    // worker's reason must carry it escaped.
    client
        .batch_execute(&format!(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.device_id IN (SELECT id FROM devices WHERE name = '{REFUSED_CONFIG}')
                    AND TG_TABLE_NAME = 'device_configs'
                 OR NEW.device_id IN (SELECT id FROM devices WHERE name = '{REFUSED_ALL}') THEN
                     RAISE EXCEPTION USING ERRCODE = '22023',
                         MESSAGE = 'refused by the test ' || chr(27) || '[2J';
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_poison BEFORE INSERT ON device_configs
                 FOR EACH ROW EXECUTE FUNCTION refuse_poison();
             CREATE TRIGGER refuse_poison BEFORE INSERT ON credential_attempts
                 FOR EACH ROW EXECUTE FUNCTION refuse_poison();"
        ))
        .await?;
    let roles = env.start(2);
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    roles.stop().await?;
    assert_eq!(
        job.counts.status,
        JobStatus::CompletedPartialFailure,
        "{job:?}"
    );

    // Every device once: one result, one login (the dead-lettered one's login happened,
    // and was never recorded: its task was given up, not done again).
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(results.len(), super::DEVICES);
    let seen = netraven_tests::logins(&fleet).per_device;
    assert!(
        seen.values().all(|n| *n == 1),
        "logins per device: {seen:?}"
    );
    let outcome = |name: &str| {
        results
            .iter()
            .find(|r| r.device_name == name)
            .map(|r| (r.outcome, r.reason.clone()))
    };

    let (o, reason) = outcome(REFUSED_CONFIG).expect("a result");
    assert_eq!(o, Outcome::InternalError, "{reason}");
    assert!(
        reason.starts_with("output could not be stored: refused by the test \\e[2J")
            && reason.contains("SQLSTATE 22023"),
        "{reason}"
    );
    let configs: i64 = client
        .query_one(
            "SELECT count(*) FROM device_configs c JOIN devices d ON d.id = c.device_id
             WHERE d.name = $1",
            &[&REFUSED_CONFIG],
        )
        .await?
        .get(0);
    assert_eq!(configs, 0, "no configuration stored for the refused device");

    let (o, reason) = outcome(REFUSED_ALL).expect("a result");
    assert_eq!(o, Outcome::DeadLettered, "{reason}");

    // The 198 others: success, their login and log line committed once, never requeued.
    let others: Vec<_> = results
        .iter()
        .filter(|r| r.device_name != REFUSED_CONFIG && r.device_name != REFUSED_ALL)
        .collect();
    assert_eq!(others.len(), super::DEVICES - 2);
    for r in &others {
        assert_eq!(
            r.outcome,
            Outcome::Success,
            "{}: {}",
            r.device_name,
            r.reason
        );
    }
    let recorded = netraven_tests::recorded_logins(&env, job.id).await?;
    for r in &others {
        assert_eq!(recorded.get(&r.device_name), Some(&1), "{}", r.device_name);
    }
    assert_eq!(
        recorded.get(REFUSED_CONFIG),
        Some(&1),
        "its attempt is kept"
    );
    assert_eq!(
        recorded.get(REFUSED_ALL),
        None,
        "nothing of it was recorded"
    );
    assert_eq!(
        reruns(&env, job.id).await?,
        0,
        "devices whose task ran twice"
    );
    Ok(())
}
