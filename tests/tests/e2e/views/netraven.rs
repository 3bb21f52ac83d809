//! Running `netraven` against a test's world and reading its text and JSON.

use netraven_tests::TestEnv;
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub(super) const JOB_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    Ok(cmd.stdin(Stdio::null()).output()?)
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `netraven ARGS`, insists on exit code `code`, and returns stdout.
pub(crate) fn netraven(env: &TestEnv, args: &[&str], code: i32) -> anyhow::Result<String> {
    let out = run(env.command()?.args(args))?;
    let stdout = text(&out.stdout);
    anyhow::ensure!(
        out.status.code() == Some(code),
        "netraven {args:?} exited {:?}, not {code}\n{stdout}\n{}",
        out.status.code(),
        text(&out.stderr)
    );
    anyhow::ensure!(
        !stdout.contains('\x1b'),
        "colour on a pipe from {args:?}:\n{stdout}"
    );
    eprintln!("$ netraven {}\n{stdout}", args.join(" "));
    Ok(stdout)
}

/// Runs `netraven ARGS --json` (exit 0) and parses what it prints.
pub(crate) fn json(env: &TestEnv, args: &[&str]) -> anyhow::Result<Value> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = netraven(env, &all, 0)?;
    serde_json::from_str(&out).map_err(|e| anyhow::anyhow!("{args:?}: {e}\n{out}"))
}

pub(super) fn names(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[field].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
