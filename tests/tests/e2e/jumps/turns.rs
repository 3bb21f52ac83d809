//! Devices behind one bastion waiting for a large-output turn while another behind it
//! holds the turn: every backup completes.
//!
//! russh hands a channel's data to its reader through a queue of two messages and waits,
//! inside the loop that reads the whole jump host connection, when the queue is full. A
//! device waiting for a turn stops reading: before each jump channel was read by a task
//! of its own, its queue filled and the bastion's connection stopped for every device
//! behind it, the turn's holder included, until command idle timeouts broke the deadlock.

use super::{all_succeeded, bastion, behind_one_bastion, import, site_device, JOB_TIMEOUT};
use netraven_shared::domain::JobStatus;
use netraven_simulator::Platform;
use netraven_tests::{request, FleetBuilder, TestEnv};

const DEVICES: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_waiting_for_a_turn_behind_a_bastion_hold_up_no_one() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    // One turn, and 600 KB configurations that each need it (64 KiB without a turn); a
    // stalled connection shows within 5 s as idle timeouts.
    env.settings.worker.large_outputs = 1;
    env.settings.worker.output_allowance_bytes = 64 * 1024;
    env.settings.worker.command_idle_timeout_ms = 5_000;
    let names: Vec<String> = (1..=DEVICES).map(|i| format!("big-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let sim = FleetBuilder::new(2261)
        .device(bastion("bastion-t", &refs))
        .devices(names.iter().map(|n| {
            let mut d = site_device(n, Platform::Linux);
            d.config_bytes = 600_000;
            d
        }))
        .start()
        .await?;
    let yaml = behind_one_bastion(&sim, "bastion-t", &refs, DEVICES as u32);
    import(&env, &yaml).await?;

    let roles = env.start(1);
    let job = env
        .run_job(&request("config_backup", &["site"], &[]), JOB_TIMEOUT)
        .await?;
    roles.stop().await?;
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    all_succeeded(&results, DEVICES);
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    Ok(())
}
