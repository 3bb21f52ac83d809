//! `netraven export git`: the configuration history read back from the repository with
//! the git CLI, as an Oxidized user would (`git log -p <device file>`).

pub(crate) mod seed;

use chrono::Duration;
use netraven_tests::TestEnv;
use seed::{commits, export, export_json, git, git_text, job_ids, t0, Seed};

const R1_V1: &str = "hostname r1\ninterface Gi0/1\n description uplink\n";
const R1_V2: &str = "hostname r1\ninterface Gi0/1\n description uplink to core\n";
const R1_V3: &str =
    "hostname r1\ninterface Gi0/1\n description uplink to core\nntp server 192.0.2.9\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_commits_each_job_once_incrementally_by_tag() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let seed = Seed { env: &env };
    let r1 = seed.device("r1", &["zeta", "core"]).await?;
    let r2 = seed.device("r2", &["edge"]).await?;
    let r3 = seed.device("r3", &[]).await?;

    let j1 = seed.job(Some(t0() + Duration::hours(1))).await?;
    seed.version(r1, 1, j1, R1_V1, None, None).await?;
    seed.version(r2, 1, j1, "hostname r2\n", None, None).await?;
    seed.version(r3, 1, j1, "hostname r3\n", None, None).await?;
    // Still running: it stored r2's version 2, then a later job stored version 3.
    let j3 = seed.job(None).await?;
    seed.version(
        r2,
        2,
        j3,
        "hostname r2\nlogging host 1\n",
        None,
        Some((1, 0)),
    )
    .await?;
    seed.version(
        r3,
        2,
        j3,
        "hostname r3\nsnmp-server community x\n",
        None,
        Some((1, 0)),
    )
    .await?;
    let j2 = seed.job(Some(t0() + Duration::hours(2))).await?;
    seed.version(r1, 2, j2, R1_V2, None, Some((1, 1))).await?;
    let j6 = seed.job(Some(t0() + Duration::minutes(150))).await?;
    seed.version(
        r2,
        3,
        j6,
        "hostname r2\nlogging host 2\n",
        None,
        Some((1, 0)),
    )
    .await?;
    // A job that found every device unchanged stored no version: no commit.
    seed.job(Some(t0() + Duration::hours(3))).await?;

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("configs");
    let d = dir.to_str().expect("a UTF-8 temporary path");
    let author = "Net Ops <ops@example.net>";
    let first = export_json(&env, &[d, "--layout", "tag", "--author", author], &[])?;
    assert_eq!(
        job_ids(&first),
        [j1.to_string(), j2.to_string(), j6.to_string()],
        "finished jobs, in order"
    );
    assert_eq!(first["files"], 5);
    assert_eq!(
        commits(&dir)?,
        3,
        "one commit per job that changed something"
    );

    let log = git_text(
        &dir,
        &["log", "--format=%an <%ae>|%cn <%ce>|%at|%ct|%s|%(trailers:key=NetRaven-Job,valueonly,separator=)", "main"],
    )?;
    let lines: Vec<&str> = log.lines().collect();
    let at = |h: i64| (t0() + Duration::minutes(h)).timestamp();
    assert_eq!(
        lines,
        [
            format!(
                "{author}|{author}|{}|{}|config_backup {j6}: 1 device changed|{j6}",
                at(150),
                at(150)
            ),
            format!(
                "{author}|{author}|{}|{}|config_backup {j2}: 1 device changed|{j2}",
                at(120),
                at(120)
            ),
            format!(
                "{author}|{author}|{}|{}|config_backup {j1}: 3 devices changed|{j1}",
                at(60),
                at(60)
            ),
        ]
    );
    let body = git_text(&dir, &["log", "-1", "--format=%b", "main~1"])?;
    assert!(
        body.contains("  r1  v2  +1 -1\n"),
        "the body lists devices: {body}"
    );

    // First tag in byte order: core, not zeta; no tag: untagged.
    let files = git_text(&dir, &["ls-tree", "-r", "--name-only", "main"])?;
    assert_eq!(files, "core/r1\nedge/r2\nuntagged/r3\n");
    assert_eq!(git_text(&dir, &["show", "main:core/r1"])?, R1_V2);
    assert_eq!(
        std::fs::read_to_string(dir.join("core/r1"))?,
        R1_V2,
        "the work tree"
    );
    let patch = git_text(&dir, &["log", "-p", "--format=%s", "--", "core/r1"])?;
    assert!(
        patch.contains("- description uplink\n+ description uplink to core\n"),
        "git log -p shows the change: {patch}"
    );
    assert_eq!(patch.matches("config_backup").count(), 2, "{patch}");

    // Again: nothing new, no commit, said plainly.
    let out = export(&env, &[d], &[])?;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout)?,
        format!("{d}: nothing new\n")
    );
    assert_eq!(commits(&dir)?, 3);

    // The running job finishes (after j6): r2's version 2 is older than the exported 3,
    // so r2's file keeps version 3; r3 changes. r1 loses its tag core and changes: moved.
    seed.finish(j3, t0() + Duration::hours(4)).await?;
    let j5 = seed
        .job(Some(t0() + Duration::hours(3) + Duration::minutes(30)))
        .await?;
    seed.version(r1, 3, j5, R1_V3, None, Some((1, 0))).await?;
    seed.tag(r1, &["zeta"]).await?;
    let second = export_json(&env, &[d, "--author", author], &[])?;
    assert_eq!(job_ids(&second), [j5.to_string(), j3.to_string()]);
    assert_eq!(second["layout"], "tag", "the repository keeps its layout");
    assert_eq!(second["moved"], 1);
    assert_eq!(commits(&dir)?, 5);
    let files = git_text(&dir, &["ls-tree", "-r", "--name-only", "main"])?;
    assert_eq!(
        files, "edge/r2\nuntagged/r3\nzeta/r1\n",
        "r1 moved with its tag"
    );
    let moved = git_text(
        &dir,
        &[
            "show",
            "--format=",
            "--name-status",
            "--no-renames",
            "main~1",
        ],
    )?;
    assert_eq!(moved, "D\tcore/r1\nA\tzeta/r1\n");
    assert_eq!(git_text(&dir, &["show", "main:zeta/r1"])?, R1_V3);
    assert_eq!(
        git_text(&dir, &["show", "main:edge/r2"])?,
        "hostname r2\nlogging host 2\n",
        "a late job's older version never replaces a newer one"
    );
    let last = git_text(&dir, &["show", "--format=%s", "--name-only", "main"])?;
    assert_eq!(
        last,
        format!("config_backup {j3}: 1 device changed\n\nuntagged/r3\n")
    );
    assert!(
        !dir.join("core/r1").exists(),
        "the work tree follows the move"
    );

    // One more job: exactly one more commit.
    let j7 = seed.job(Some(t0() + Duration::hours(5))).await?;
    seed.version(r3, 3, j7, "hostname r3\n", None, Some((0, 1)))
        .await?;
    let third = export_json(&env, &[d], &[])?;
    assert_eq!(job_ids(&third), [j7.to_string()]);
    assert_eq!(commits(&dir)?, 6);
    assert_eq!(
        git_text(&dir, &["log", "-1", "--format=%an <%ae>", "main"])?,
        "NetRaven <netraven@localhost>\n",
        "without --author, the default"
    );

    // The repository says what it is: another layout or tag filter is refused.
    let out = export(&env, &[d, "--layout", "flat"], &[])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is laid out by tag"));
    let out = export(&env, &[d, "--tag", "edge"], &[])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("every device"));
    assert_eq!(commits(&dir)?, 6);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_stay_inside_and_bytes_are_exact() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let seed = Seed { env: &env };
    let escape = seed.device("../../escaped", &[]).await?;
    let dotgit = seed.device(".git", &[]).await?;
    let terminal = seed.device("evil\x1b]0;pwned\x07", &[]).await?;
    let latin1 = seed.device("latin1", &[]).await?;
    let j1 = seed.job(Some(t0())).await?;
    seed.version(escape, 1, j1, "hostname a\n", None, None)
        .await?;
    seed.version(dotgit, 1, j1, "hostname b\n", None, None)
        .await?;
    seed.version(terminal, 1, j1, "hostname c\n", None, None)
        .await?;
    let raw: &[u8] = b"hostname caf\xe9\n\x00banner \x1b[2J\n";
    seed.version(
        latin1,
        1,
        j1,
        "hostname caf\u{fffd}\n\u{fffd}banner \x1b[2J\n",
        Some(raw),
        None,
    )
    .await?;

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("repo");
    let d = dir.to_str().expect("a UTF-8 temporary path");
    let out = export(
        &env,
        &[d],
        &[("NETRAVEN_EXPORT_AUTHOR", "Backup Bot <bot@example.net>")],
    )?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout)?;
    assert!(
        said.starts_with(&format!("{d}: 1 commit, 4 device files written")),
        "{said}"
    );

    let files = git_text(&dir, &["ls-tree", "-r", "--name-only", "main"])?;
    assert_eq!(
        files, "%2E.%2F..%2Fescaped\n%2Egit\nevil%1B%5D0%3Bpwned%07\nlatin1\n",
        "each name is one file at the top, encoded"
    );
    let beside: Vec<_> = std::fs::read_dir(tmp.path())?.collect();
    assert_eq!(beside.len(), 1, "nothing was written outside DIR");
    assert_eq!(git(&dir, &["show", "main:latin1"])?, raw, "the exact bytes");
    assert_eq!(
        std::fs::read(dir.join("latin1"))?,
        raw,
        "in the work tree too"
    );
    assert_eq!(std::fs::read_to_string(dir.join("%2Egit"))?, "hostname b\n");
    let message = git(&dir, &["log", "-1", "--format=%an <%ae>%n%B", "main"])?;
    let message = String::from_utf8(message)?;
    assert!(
        message.starts_with("Backup Bot <bot@example.net>\n"),
        "{message}"
    );
    assert!(
        message.contains("evil\\e]0;pwned\\x07"),
        "escaped: {message}"
    );
    assert!(!message.contains('\x1b') && !message.contains('\x07'));

    // A clone knows what it holds from its own commits.
    let clone = tmp.path().join("clone");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            d,
            clone.to_str().expect("a UTF-8 temporary path"),
        ],
    )?;
    let j2 = seed.job(Some(t0() + Duration::hours(1))).await?;
    seed.version(latin1, 2, j2, "hostname cafe\n", None, Some((1, 2)))
        .await?;
    let report = export_json(
        &env,
        &[clone.to_str().expect("a UTF-8 temporary path")],
        &[],
    )?;
    assert_eq!(job_ids(&report), [j2.to_string()]);
    assert_eq!(commits(&clone)?, 2);
    assert_eq!(
        std::fs::read_to_string(clone.join("latin1"))?,
        "hostname cafe\n"
    );

    // A directory that is neither empty nor an export is refused, and left alone.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other)?;
    std::fs::write(other.join("notes.txt"), "mine")?;
    let out = export(
        &env,
        &[other.to_str().expect("a UTF-8 temporary path")],
        &[],
    )?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither empty nor a git repository"));
    assert!(!other.join(".git").exists());
    Ok(())
}
