//! Inventory in sync: `inventory import --prune` (with `--dry-run`), `inventory export`
//! round-trips, a pruned device keeps its history and is never targeted again (and comes
//! back, same id, when listed again), and `inventory sync netbox` against an HTTP server
//! answering NetBox's documented shapes (pages, token, a bad page).

mod netbox;
mod prune;

use netraven_tests::TestEnv;
use std::process::Output;

/// The NetBox token the fake NetBox accepts; `NRT_NB_TOKEN` holds it, `NRT_NB_WRONG` not.
const TOKEN: &str = "nb-token-0123456789abcdef";

pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn run(env: &TestEnv, args: &[&str]) -> anyhow::Result<Output> {
    let out = env
        .command()?
        .args(args)
        .env("NRT_NB_TOKEN", TOKEN)
        .env("NRT_NB_WRONG", "not-the-token")
        .stdin(std::process::Stdio::null())
        .output()?;
    eprintln!(
        "$ netraven {}\n{}{}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    Ok(out)
}

/// `netraven ARGS`, exit `code`, stdout.
pub(super) fn ok(env: &TestEnv, args: &[&str], code: i32) -> anyhow::Result<String> {
    let out = run(env, args)?;
    anyhow::ensure!(
        out.status.code() == Some(code),
        "netraven {args:?} exited {:?}, not {code}: {}",
        out.status.code(),
        text(&out.stderr)
    );
    Ok(text(&out.stdout))
}

/// (name, removed) of every device row.
pub(super) async fn devices(env: &TestEnv) -> anyhow::Result<Vec<(String, bool)>> {
    Ok(env
        .pool
        .get()
        .await?
        .query(
            "SELECT name, removed_at IS NOT NULL FROM devices ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}
