//! One platform at a time, end to end: a `config_backup` job against simulated devices of
//! that platform stores each configuration as the simulator holds it (its volatile lines
//! gone, paging turned off with the platform's own command), a second backup finds each
//! configuration UNCHANGED (the lines printed anew in that session make no version), and a
//! command the device does not know ends in COMMAND_FAILED with the device's own words.

use super::truth::JOB_TIMEOUT;
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{DeviceSpec, Platform};
use netraven_tests::{credential, request, FleetBuilder, TestEnv};

const SECRET: &str = "vendor-secret";

/// What a platform's test checks beyond the stored configuration.
struct Case {
    platform: Platform,
    /// The command that turns paging off, as the device must have seen it (none on an
    /// exec channel).
    paging_off: Option<&'static str>,
    /// The last device has no enable secret, as the platform ships (`enable` gives `#` at
    /// once); the others have one.
    open_enable: bool,
    /// A command the device refuses, and the words its refusal must hold.
    bad: &'static str,
    words: &'static str,
}

async fn backs_up(case: Case) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let tag = case.platform.as_str();
    let name = |i: usize| format!("{}-{i}", tag.replace('_', "-"));
    let mut fleet =
        FleetBuilder::new(2206).credential(credential("vendor", "netops", SECRET).tags(&[tag]));
    for (i, bytes) in [(1, 3_000), (2, 9_000), (3, 20_000)] {
        let mut d = DeviceSpec::new(name(i), case.platform);
        d.tags = vec![tag.to_string()];
        d.accepts = vec![("netops".into(), SECRET.into())];
        d.config_bytes = bytes;
        if case.platform.has_enable() && !(case.open_enable && i == 3) {
            d.enable_secret = Some(SECRET.into());
        }
        fleet = fleet.device(d);
    }
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let client = env.pool.get().await?;

    let job = env
        .run_job(&request("config_backup", &[tag], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess, "{tag}");
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(results.len(), 3, "{tag}");
    for r in &results {
        assert_eq!(
            r.outcome,
            Outcome::Success,
            "{}: {}",
            r.device_name,
            r.reason
        );
        let config = fleet.expected_config(&r.device_name).expect("simulated");
        let stored: String = client
            .query_one(
                "SELECT content FROM device_configs WHERE device_id = $1",
                &[&r.device_id],
            )
            .await?
            .get(0);
        assert_eq!(
            stored.trim_end(),
            netraven_worker::redact::redact(&config).trim_end(),
            "{}: stored as the device holds it, volatile lines gone",
            r.device_name
        );
        let commands = fleet.commands(&r.device_name);
        assert!(
            case.paging_off
                .is_none_or(|p| commands.iter().any(|c| c == p))
                && commands.iter().any(|c| c == case.platform.backup_command()),
            "{}: paging off, then the backup command: {commands:?}",
            r.device_name
        );
        assert!(
            !commands.iter().any(|c| c.contains(SECRET)),
            "{}: no secret typed where a command log keeps it",
            r.device_name
        );
    }

    // Again: the device prints its volatile lines anew (a later clock), and none of them
    // makes a version.
    let again = env
        .run_job(&request("config_backup", &[tag], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(again.counts.status, JobStatus::CompletedSuccess, "{tag}");
    for r in netraven_dispatcher::job_rows::results(&client, again.id).await? {
        assert_eq!(
            (r.config_change.as_deref(), r.config_version),
            (Some("UNCHANGED"), Some(1)),
            "{}: the second backup",
            r.device_name
        );
    }

    let device = name(1);
    let mut r = request("command", &[], &[&device]);
    r.commands = vec![case.bad.to_string()];
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    let r = &results[0];
    assert_eq!(r.outcome, Outcome::CommandFailed, "{device}: {}", r.reason);
    assert!(
        r.reason.contains(case.bad) && r.reason.contains(case.words),
        "{device}: {}",
        r.reason
    );
    assert_eq!(r.attempts, 1, "the login itself succeeded");

    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cisco_xe_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::CiscoXe,
        paging_off: Some("terminal length 0"),
        open_enable: false,
        bad: "show frobnication",
        words: "% Invalid input detected at '^' marker.",
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cisco_xr_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::CiscoXr,
        paging_off: Some("terminal length 0"),
        open_enable: false,
        bad: "show frobnication",
        words: "% Invalid input detected at '^' marker.",
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cisco_asa_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::CiscoAsa,
        paging_off: Some("terminal pager 0"),
        open_enable: false,
        bad: "show frobnication",
        words: "ERROR: % Invalid input detected at '^' marker.",
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_vrp_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::HuaweiVrp,
        paging_off: Some("screen-length 0 temporary"),
        open_enable: false,
        bad: "display frobnication",
        words: "Error: Unrecognized command found at '^' position.",
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hp_procurve_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::HpProcurve,
        paging_off: Some("no page"),
        open_enable: false,
        bad: "show frobnication",
        words: "Invalid input: frobnication",
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fortinet_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::Fortinet,
        paging_off: Some("set output standard"),
        open_enable: false,
        bad: "show frobnication",
        words: "command parse error before 'frobnication'",
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paloalto_panos_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::PaloaltoPanos,
        paging_off: Some("set cli pager off"),
        open_enable: false,
        bad: "show frobnication",
        words: "Unknown command: frobnication",
    })
    .await
}

/// Over exec channels: no paging to turn off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mikrotik_routeros_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::MikrotikRouteros,
        paging_off: None,
        open_enable: false,
        bad: "/frobnicate all",
        words: "bad command name frobnicate (line 1 column 2)",
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aruba_aoscx_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::ArubaAoscx,
        paging_off: Some("no page"),
        open_enable: false,
        bad: "show frobnication",
        words: "Invalid input: frobnication",
    })
    .await
}

/// Privileged at login; `!Running configuration last done at:` and `!Time:` in every show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cisco_nxos_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::CiscoNxos,
        paging_off: Some("terminal length 0"),
        open_enable: false,
        bad: "show frobnication",
        words: "% Invalid command at '^' marker.",
    })
    .await
}

/// `enable` with a secret on two switches and without one on the third (EOS's default),
/// then `terminal length 0`; `! Command:` and `! device:` above the configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arista_eos_devices_are_backed_up() -> anyhow::Result<()> {
    backs_up(Case {
        platform: Platform::AristaEos,
        paging_off: Some("terminal length 0"),
        open_enable: true,
        bad: "show frobnication",
        words: "% Invalid input (at token 1: 'frobnication')",
    })
    .await
}
