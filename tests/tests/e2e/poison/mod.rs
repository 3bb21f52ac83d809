//! One poison item stays one (issue 19, item 1, the worker's side and the views): devices
//! whose output carries a NUL byte, bytes that are not UTF-8 or terminal escapes, and a
//! device whose row Postgres refuses, each among 200 healthy devices.
//!
//! | test | shows |
//! |---|---|
//! | [`outputs`] | hostile output stored byte for byte, every device logged into once; no view prints a raw control byte |
//! | [`split`] | a batch Postgres refuses is split: the others commit once, the refused device gets its outcome or is dead-lettered |

mod outputs;
mod split;

use netraven_shared::domain::Outcome;
use netraven_simulator::{scenario, Fault, FleetSpec, Platform};
use netraven_tests::{logins, recorded_logins, TestEnv};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// Generous: a 200-device job takes a few seconds here.
const JOB_TIMEOUT: Duration = Duration::from_secs(120);

/// Devices of the fleet: enough for several batches of the worker's group commit.
const DEVICES: usize = 200;

/// `all-good` with `DEVICES` devices (every one accepts the first credential, so each is
/// logged into exactly once), the given devices playing the given faults. Only `linux`
/// devices play output faults (exec channel): the names below are `linux` ones.
fn fleet_with(seed: u64, faults: &[(&str, Fault)]) -> anyhow::Result<FleetSpec> {
    let mut spec = scenario("all-good", DEVICES, seed)?;
    for (name, fault) in faults {
        let d = spec
            .devices
            .iter_mut()
            .find(|d| d.name == *name)
            .ok_or_else(|| anyhow::anyhow!("no device {name} in the fleet"))?;
        anyhow::ensure!(d.platform == Platform::Linux, "{name} is not linux");
        d.fault = Some(*fault);
    }
    Ok(spec)
}

/// Every device of the job: exactly one result, and exactly one login the device saw,
/// committed once, in one run of its task. Returns the outcomes by device name.
async fn one_of_everything(
    env: &TestEnv,
    fleet: &netraven_simulator::Fleet,
    job: Uuid,
) -> anyhow::Result<HashMap<String, (Outcome, String)>> {
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job).await?;
    assert_eq!(results.len(), DEVICES, "one job_results row per device");
    let seen = logins(fleet).per_device;
    let committed = recorded_logins(env, job).await?;
    for r in &results {
        let name = &r.device_name;
        assert_eq!(seen.get(name), Some(&1), "{name}: logins the device saw");
        assert_eq!(
            committed.get(name),
            Some(&1),
            "{name}: logins recorded ({})",
            r.reason
        );
    }
    assert_eq!(
        reruns(env, job).await?,
        0,
        "devices whose task ran more than once"
    );
    Ok(results
        .into_iter()
        .map(|r| (r.device_name, (r.outcome, r.reason)))
        .collect())
}

/// Devices with more than one `job_logs` row in the job: tasks that ran more than once.
async fn reruns(env: &TestEnv, job: Uuid) -> anyhow::Result<i64> {
    let client = env.pool.get().await?;
    Ok(client
        .query_one(
            "SELECT count(*) FROM (SELECT device_id FROM job_logs WHERE job_id = $1
                                   GROUP BY device_id HAVING count(*) > 1) x",
            &[&job],
        )
        .await?
        .get(0))
}
