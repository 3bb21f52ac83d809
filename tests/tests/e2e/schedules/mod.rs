//! `netraven schedule ...` as operators use it, on a real Postgres: adding, listing,
//! showing, pausing, resuming and removing schedules; applying files of them (twice, bad,
//! pruned, exported and applied back).

mod apply;
mod cli;

use crate::views::netraven::{run, text};
use netraven_tests::TestEnv;

/// Runs `netraven ARGS`, insists on exit code `code`, and returns stdout and stderr.
pub(crate) fn outputs(env: &TestEnv, args: &[&str], code: i32) -> anyhow::Result<(String, String)> {
    let out = run(env.command()?.args(args))?;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    anyhow::ensure!(
        out.status.code() == Some(code),
        "netraven {args:?} exited {:?}, not {code}\n{stdout}\n{stderr}",
        out.status.code()
    );
    eprintln!("$ netraven {}\n{stdout}{stderr}", args.join(" "));
    Ok((stdout, stderr))
}

/// One value of a query that returns one row.
pub(crate) async fn one<T>(env: &TestEnv, sql: &str) -> anyhow::Result<T>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    Ok(env.pool.get().await?.query_one(sql, &[]).await?.get(0))
}

/// Each schedule's name with its `xmin` (the transaction that last wrote its row),
/// `updated_at` and `next_tick_at`: what "changes no row" is checked against.
pub(crate) async fn rows(env: &TestEnv) -> anyhow::Result<Vec<(String, String, String, String)>> {
    let rows = env
        .pool
        .get()
        .await?
        .query(
            "SELECT name, xmin::text, updated_at::text, coalesce(next_tick_at::text, '-')
             FROM schedules ORDER BY name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect())
}
