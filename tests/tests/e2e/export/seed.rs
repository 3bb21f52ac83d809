//! The export tests' world: devices, jobs and versions seeded with SQL, `netraven export
//! git` run as a process, and the repository read with the git CLI.

use chrono::{DateTime, TimeZone, Utc};
use netraven_tests::TestEnv;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use uuid::Uuid;

/// 2024-05-01 00:00 UTC: the seeded jobs finish at fixed times after it.
pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0)
        .single()
        .expect("a valid time")
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("git: {e}: install the Debian package `git`"))?;
    anyhow::ensure!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

pub(crate) fn git_text(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    Ok(String::from_utf8(git(dir, args)?)?)
}

pub(crate) fn commits(dir: &Path) -> anyhow::Result<usize> {
    Ok(git_text(dir, &["rev-list", "--count", "main"])?
        .trim()
        .parse()?)
}

/// `netraven export git ARGS`, with `envs`; returns the process's output.
pub(super) fn export(
    env: &TestEnv,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<Output> {
    let mut cmd = env.command()?;
    cmd.args(["export", "git"])
        .args(args)
        .envs(envs.iter().copied());
    Ok(cmd.stdin(Stdio::null()).output()?)
}

/// An export that must succeed: its `--json` report.
pub(super) fn export_json(
    env: &TestEnv,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<Value> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = export(env, &all, envs)?;
    anyhow::ensure!(
        out.status.success(),
        "export {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub(super) fn job_ids(report: &Value) -> Vec<String> {
    report["jobs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|j| j.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Seeds devices, jobs and versions with SQL, as the roles would have stored them.
pub(super) struct Seed<'a> {
    pub(super) env: &'a TestEnv,
}

impl Seed<'_> {
    pub(super) async fn device(&self, name: &str, tags: &[&str]) -> anyhow::Result<i64> {
        let c = self.env.pool.get().await?;
        let id: i64 = c
            .query_one(
                "INSERT INTO devices (name, host, platform) VALUES ($1, '192.0.2.1', 'cisco_ios')
                 RETURNING id",
                &[&name],
            )
            .await?
            .get(0);
        self.tag(id, tags).await?;
        Ok(id)
    }

    pub(super) async fn tag(&self, device: i64, tags: &[&str]) -> anyhow::Result<()> {
        let c = self.env.pool.get().await?;
        c.execute("DELETE FROM device_tags WHERE device_id = $1", &[&device])
            .await?;
        for t in tags {
            c.execute(
                "INSERT INTO tags (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &[t],
            )
            .await?;
            c.execute(
                "INSERT INTO device_tags SELECT $1, id FROM tags WHERE name = $2",
                &[&device, t],
            )
            .await?;
        }
        Ok(())
    }

    /// A job; `finished` None leaves it RUNNING.
    pub(super) async fn job(&self, finished: Option<DateTime<Utc>>) -> anyhow::Result<Uuid> {
        let id = Uuid::new_v4();
        let status = if finished.is_some() {
            "COMPLETED_SUCCESS"
        } else {
            "RUNNING"
        };
        self.env
            .pool
            .get()
            .await?
            .execute(
                "INSERT INTO jobs (id, request_id, job_type, request, status, created_at,
                                   finished_at, deadline_at)
                 VALUES ($1, $5, 'config_backup', '{}', $2, $4::timestamptz, $3, $4::timestamptz + interval '1 day')",
                &[&id, &status, &finished, &t0(), &id.to_string()],
            )
            .await?;
        Ok(id)
    }

    pub(super) async fn finish(&self, job: Uuid, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.env
            .pool
            .get()
            .await?
            .execute(
                "UPDATE jobs SET status = 'COMPLETED_PARTIAL_FAILURE', finished_at = $2
                 WHERE id = $1",
                &[&job, &at],
            )
            .await?;
        Ok(())
    }

    /// Version `version` of `device`, stored by `job`: `bytes` when they are not text.
    pub(super) async fn version(
        &self,
        device: i64,
        version: i32,
        job: Uuid,
        content: &str,
        bytes: Option<&[u8]>,
        lines: Option<(i32, i32)>,
    ) -> anyhow::Result<()> {
        let (added, removed) = (lines.map(|l| l.0), lines.map(|l| l.1));
        self.env
            .pool
            .get()
            .await?
            .execute(
                "INSERT INTO device_configs (device_id, version, sha256, content, content_bytes,
                     size_bytes, first_job_id, last_job_id, lines_added, lines_removed)
                 SELECT $1, $2, encode(sha256(b), 'hex'), $4, $5, length(b), $3, $3, $6, $7
                 FROM (SELECT coalesce($5, convert_to($4, 'UTF8')) AS b) x",
                &[&device, &version, &job, &content, &bytes, &added, &removed],
            )
            .await?;
        Ok(())
    }
}
