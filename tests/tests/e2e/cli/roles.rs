//! The roles as processes, several at once, stopped by SIGTERM; and the demo end to end.

use super::process::{run, text, Proc};
use netraven_shared::domain::JobStatus;
use netraven_tests::{netraven_binary, FleetBuilder, TestEnv};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_run_as_processes_several_at_once_and_stop_cleanly_on_sigterm() -> anyhow::Result<()>
{
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("mixed", 40, 21)?.start().await?;
    env.import(&fleet).await?;
    let spawn = |role: &str| -> anyhow::Result<Proc> {
        Ok(Proc(
            env.command()?
                .arg(role)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()?,
        ))
    };
    let roles = vec![
        spawn("dispatcher")?,
        spawn("dispatcher")?,
        spawn("aggregator")?,
        spawn("aggregator")?,
        spawn("worker")?,
        spawn("worker")?,
    ];

    let mut submit = env.command()?;
    submit.args([
        "job",
        "submit",
        "--tag",
        "fleet",
        "--tag",
        "orphan",
        "--wait",
        "--timeout-secs",
        "60",
    ]);
    let out = run(&mut submit)?;
    let job_id: uuid::Uuid = text(&out.stdout).trim().parse()?;
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit code reflects a non-success status"
    );
    assert!(
        text(&out.stderr).contains("COMPLETED_PARTIAL_FAILURE"),
        "{}",
        text(&out.stderr)
    );

    let shown = run(env
        .command()?
        .args(["job", "show", &job_id.to_string(), "--devices"]))?;
    let shown = text(&shown.stdout);
    assert!(shown.contains("COMPLETED_PARTIAL_FAILURE"), "{shown}");
    assert!(
        shown.contains("40 total, 40 reported, 32 succeeded, 4 without credentials"),
        "{shown}"
    );
    assert!(
        shown.contains("dev-00001") && shown.contains("NO_CREDENTIALS"),
        "{shown}"
    );

    // A request of only good devices exits 0.
    let ok_device = "dev-00001";
    let out = run(env.command()?.args([
        "job",
        "submit",
        "--device",
        ok_device,
        "--wait",
        "--timeout-secs",
        "60",
    ]))?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE status = $1), count(*) FROM jobs",
            &[&JobStatus::CompletedSuccess.as_str()],
        )
        .await?;
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (1, 2),
        "each request ran exactly once"
    );

    for role in roles {
        let status = role.terminate(Duration::from_secs(30))?;
        assert!(status.success(), "a role exited with {status} on SIGTERM");
    }
    fleet.shutdown().await;
    Ok(())
}

#[test]
fn the_demo_runs_end_to_end_and_exits_zero() -> anyhow::Result<()> {
    let mut cmd = Command::new(netraven_binary()?);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NETRAVEN")) {
        cmd.env_remove(k);
    }
    let out = run(cmd.args([
        "demo",
        "--devices",
        "60",
        "--workers",
        "2",
        "--base-port",
        "28000",
    ]))?;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("COMPLETED_PARTIAL_FAILURE"), "{stdout}");
    assert!(
        stdout.contains("60 total, 60 reported, 48 succeeded, 6 without credentials"),
        "{stdout}"
    );
    assert!(
        stdout.contains("every role stopped cleanly on SIGTERM"),
        "{stdout}"
    );
    for outcome in ["SUCCESS", "AUTH_FAILED", "NO_CREDENTIALS"] {
        assert!(
            stdout.contains(outcome),
            "{outcome} missing from the summary:\n{stdout}"
        );
    }
    // The second backup, after a tenth of the fleet drifted: what changed, and a diff.
    let changed = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("configs") && l.contains("changed"))
        .unwrap_or_else(|| panic!("no change count in the second summary:\n{stdout}"));
    assert!(changed.contains("0 new"), "{changed}");
    assert!(!changed.contains(" 0 changed"), "{changed}");
    assert!(stdout.contains("$ netraven device diff "), "{stdout}");
    assert!(stdout.contains("\n@@ "), "a hunk in the diff:\n{stdout}");
    Ok(())
}
