//! `netraven` as a Unix tool: a closed pipe ends it quietly with 0, exit 2 is clap's alone,
//! data on stdout and progress on stderr, colour only when asked for or on a terminal, and
//! `job show` that summarises a job unless its devices are asked for.

use netraven_tests::{netraven_binary, request, FleetBuilder, TestEnv};
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `netraven` without the caller's NETRAVEN_* variables (no services needed).
fn bare() -> anyhow::Result<Command> {
    let mut cmd = Command::new(netraven_binary()?);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NETRAVEN")) {
        cmd.env_remove(k);
    }
    cmd.env_remove("NO_COLOR");
    Ok(cmd)
}

/// Runs `cmd` with a stdout whose reader is gone before it starts: every write to it fails
/// with EPIPE, as in `netraven ... | head` once head has exited.
fn into_closed_pipe(cmd: &mut Command) -> anyhow::Result<Output> {
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    Ok(cmd
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()?)
}

fn assert_quiet_success(what: &str, out: &Output) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
    assert!(
        stderr.is_empty(),
        "{what} complained about the pipe:\n{stderr}"
    );
}

fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    Ok(cmd.stdin(Stdio::null()).output()?)
}

#[test]
fn a_closed_pipe_ends_a_command_quietly_with_zero() -> anyhow::Result<()> {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = into_closed_pipe(bare()?.args(["completions", shell]))?;
        assert_quiet_success(&format!("completions {shell}"), &out);
    }
    let out = into_closed_pipe(bare()?.arg("man"))?;
    assert_quiet_success("man", &out);
    for args in [
        &["config", "show"][..],
        &["--help"],
        &["job", "show", "--help"],
    ] {
        let out = into_closed_pipe(bare()?.args(args))?;
        assert_quiet_success(&args.join(" "), &out);
    }

    // And through a real `| head -c1`, whoever finishes first.
    let bin = netraven_binary()?;
    let out = run(Command::new("bash")
        .args([
            "-c",
            "set -o pipefail; \"$0\" completions bash | head -c1 >/dev/null",
        ])
        .arg(&bin))?;
    assert_quiet_success("completions bash | head -c1", &out);

    // A closed stderr drops the progress lines; the command still does its work.
    let dir = tempfile::tempdir()?;
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    let out = bare()?
        .args(["man", "--out"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(writer)
        .output()?;
    assert_eq!(out.status.code(), Some(0), "man --out with stderr closed");
    assert!(
        dir.path().join("netraven.1").exists(),
        "the man pages were not written"
    );
    Ok(())
}

#[test]
fn exit_2_is_a_usage_error_and_help_lists_every_code() -> anyhow::Result<()> {
    let out = run(bare()?.args(["job", "show", "not-a-uuid"]))?;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run(bare()?.args(["completions", "tcsh"]))?;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    for args in [
        &["--help"][..],
        &["job", "watch", "--help"],
        &["job", "submit", "--help"],
    ] {
        let out = run(bare()?.args(args))?;
        let help = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        for line in [
            "2  usage error",
            "3  COMPLETED_PARTIAL_FAILURE",
            "4  gave up waiting",
            "8  FAILED_*",
        ] {
            assert!(
                help.contains(line),
                "{args:?} --help lacks {line:?}:\n{help}"
            );
        }
    }

    // The man page and the completions come from the same definitions.
    let out = run(bare()?.arg("man"))?;
    assert!(
        text(&out.stdout).contains(".TH netraven"),
        "{}",
        text(&out.stdout)
    );
    let dir = tempfile::tempdir()?;
    let out = run(bare()?.args(["man", "--out"]).arg(dir.path()))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("netraven.1").exists());
    assert!(dir.path().join("netraven-job-show.1").exists());
    let out = run(bare()?.args(["completions", "bash"]))?;
    assert!(text(&out.stdout).contains("job"), "{}", text(&out.stdout));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_commands_keep_data_on_stdout_and_summarise_big_jobs() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // A data command into a closed pipe, against real services.
    let out = into_closed_pipe(env.command()?.args(["job", "list"]))?;
    assert_quiet_success("job list", &out);

    let fleet = FleetBuilder::scenario("mixed", 20, 11)?.start().await?;
    env.import(&fleet).await?;
    let roles = env.start(2);
    let job = env
        .run_job(
            &request("config_backup", &["fleet", "orphan"], &[]),
            JOB_TIMEOUT,
        )
        .await?;
    let id = job.id.to_string();

    // job watch: a partial failure is 3; the table on stdout, progress on stderr.
    let out = run(env.command()?.args(["job", "watch", &id]))?;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("COMPLETED_PARTIAL_FAILURE"), "{stdout}");
    assert!(
        stderr.contains("20/20 100%"),
        "no progress on stderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("20/20 100%"),
        "progress on stdout:\n{stdout}"
    );
    assert!(!stdout.contains('\x1b') && !stderr.contains('\x1b'));

    // job show: the summary alone, saying how to list the devices.
    let out = run(env.command()?.args(["job", "show", &id]))?;
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        shown.contains("20 total, 20 reported, 16 succeeded, 2 without credentials")
            && shown.contains("NO_CREDENTIALS")
            && shown.contains("logged in  tacacs")
            && shown.contains("per device ")
            && shown.contains("finished   ")
            && shown.contains("--devices"),
        "{shown}"
    );
    assert!(
        !shown.contains("dev-00019"),
        "devices listed unasked:\n{shown}"
    );

    // --devices, capped by --limit, with a line saying how many more.
    let out = run(env
        .command()?
        .args(["job", "show", &id, "--devices", "--limit", "5"]))?;
    let shown = text(&out.stdout);
    assert!(
        shown.contains("dev-00001") && !shown.contains("dev-00019"),
        "{shown}"
    );
    assert!(shown.contains("15 more devices not shown"), "{shown}");
    let out = run(env
        .command()?
        .args(["job", "show", &id, "--devices", "--limit", "0"]))?;
    assert!(text(&out.stdout).contains("dev-00019"));

    // --json keeps every device's result.
    let out = run(env.command()?.args(["job", "show", &id, "--json"]))?;
    let detail: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(detail["results"].as_array().map(Vec::len), Some(20));
    assert_eq!(detail["credentials"][0]["credential"], "tacacs");
    assert!(detail["device_time"]["max_ms"].as_i64() >= detail["device_time"]["mean_ms"].as_i64());

    // Colour: never into a pipe by default, always when asked (NO_COLOR or not).
    let out = run(env
        .command()?
        .args(["--color", "always", "job", "show", &id])
        .env("NO_COLOR", "1"))?;
    assert!(text(&out.stdout).contains("\x1b[33mCOMPLETED_PARTIAL_FAILURE"));
    let out = run(env
        .command()?
        .args(["job", "show", &id, "--color", "never"]))?;
    assert!(!text(&out.stdout).contains('\x1b'));

    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

/// Starts `netraven --color always sim` (it logs at start) with stderr into `stderr`, waits
/// for `ready` to say it has logged, and stops it with SIGTERM.
fn sim_logs_into(
    stderr: Stdio,
    ready: impl FnOnce(&mut std::process::Child) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use nix::sys::signal::{kill, Signal};
    let port = 20_000 + std::process::id() % 10_000;
    let mut child = bare()?
        .args(["--color", "always", "sim", "--devices", "1", "--base-port"])
        .arg(port.to_string())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
    // A watchdog: a simulator that never logs (or never stops) is killed after a minute,
    // which ends a blocked read with EOF, so the test fails instead of hanging.
    let (done, watched) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if watched.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = kill(pid, Signal::SIGKILL);
        }
    });
    let waited = ready(&mut child);
    kill(pid, Signal::SIGTERM)?;
    // It must stop on SIGTERM even when its stderr's reader is gone: a log line it cannot
    // write once kept the shutdown from happening.
    let stopping = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(30) {
            let _ = kill(pid, Signal::SIGKILL);
            child.wait()?;
            anyhow::bail!("the simulator did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = done.send(());
    let _ = watchdog.join();
    waited.map_err(|e| anyhow::anyhow!("{e} (simulator ended {status})"))
}

#[test]
fn logs_are_coloured_into_a_pipe_when_asked_but_never_into_a_file() -> anyhow::Result<()> {
    use std::io::BufRead;
    // Into a pipe (`| less -R`), --color always colours the log lines.
    sim_logs_into(Stdio::piped(), |child| {
        let stderr = child.stderr.take().ok_or(anyhow::anyhow!("no stderr"))?;
        let mut line = String::new();
        std::io::BufReader::new(stderr).read_line(&mut line)?;
        anyhow::ensure!(line.contains("simulated fleet started"), "{line}");
        anyhow::ensure!(line.contains('\x1b'), "no colour into a pipe: {line}");
        Ok(())
    })?;

    // Into a file, never.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sim.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    sim_logs_into(std::fs::File::create(&path)?.into(), |_| {
        // The process writes the file on its own schedule: look until it has logged.
        while !std::fs::read_to_string(&path)?.contains("simulated fleet started") {
            anyhow::ensure!(std::time::Instant::now() < deadline, "sim never logged");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    })?;
    let log = std::fs::read_to_string(&path)?;
    assert!(!log.contains('\x1b'), "colour codes in a log file:\n{log}");
    Ok(())
}
