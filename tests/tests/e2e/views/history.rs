//! Configuration history read back: `device configs`, `device config`, `device diff`,
//! `config grep`, `job outputs` and `job show`'s change counts, on versions seeded in SQL.

use super::netraven::{json, names, netraven, run, text};
use base64::Engine as _;
use netraven_tests::TestEnv;
use serde_json::Value;
use std::process::Command;

const J1: &str = "00000000-0000-0000-0000-0000000000a1";
const J2: &str = "00000000-0000-0000-0000-0000000000a2";
const J3: &str = "00000000-0000-0000-0000-0000000000a3";
const J4: &str = "00000000-0000-0000-0000-0000000000c4";

const RTR1_V1: &str = "hostname rtr-1\nntp server 10.0.0.1\nsnmp-server location lab\nend\n";
const RTR1_V2: &str = "hostname rtr-1\nntp server 10.0.0.2\nsnmp-server location lab\nend\n";
const RTR1_V3: &str =
    "hostname rtr-1\nntp server 10.0.0.2\nsnmp-server location lab\nlogging host 10.9.9.9\nend\n";
/// What sw-1 sent last: a terminal title sequence, a bell and a NUL.
const HOSTILE: &[u8] = b"hostname sw-1\nntp server 10.0.0.1\n\x1b]0;owned\x07banner\0x\nend\n";

/// A version to seed: device, number, text, the job that stored it, lines added and removed.
type Seeded<'a> = (&'a str, i32, &'a str, &'a str, Option<(i32, i32)>);

/// Three devices (rtr-1 and rtr-2 tagged core, sw-1 edge), three backup jobs and a
/// command job, written as the worker and aggregator would have.
async fn seed(env: &TestEnv) -> anyhow::Result<()> {
    let client = env.pool.get().await?;
    let lossy = String::from_utf8_lossy(HOSTILE).replace('\0', "\u{fffd}");
    client
        .batch_execute(&format!(
            "INSERT INTO tags (name) VALUES ('core'), ('edge');
             INSERT INTO devices (name, host, platform) VALUES
                 ('rtr-1', '10.0.0.1', 'cisco_ios'), ('rtr-2', '10.0.0.2', 'cisco_ios'),
                 ('sw-1', '10.0.0.3', 'cisco_ios');
             INSERT INTO device_tags SELECT d.id, t.id FROM devices d, tags t
             WHERE (d.name LIKE 'rtr-%' AND t.name = 'core') OR (d.name = 'sw-1' AND t.name = 'edge');
             INSERT INTO jobs (id, request_id, job_type, request, status, total_devices,
                               completed_devices, succeeded_devices, created_at, started_at,
                               finished_at, deadline_at)
             SELECT id::uuid, id, t, '{{}}', 'COMPLETED_SUCCESS', n, n, n, at, at,
                    at + interval '1 minute', at + interval '1 hour'
             FROM (VALUES ('{J1}', 'config_backup', 3, timestamptz '2026-11-01T00:00:00Z'),
                          ('{J2}', 'config_backup', 3, timestamptz '2026-11-10T00:00:00Z'),
                          ('{J3}', 'config_backup', 3, timestamptz '2026-11-20T00:00:00Z'),
                          ('{J4}', 'command', 2, timestamptz '2026-11-21T00:00:00Z'))
                  AS j(id, t, n, at);
             INSERT INTO job_results (job_id, device_id, device_name, outcome, config_change,
                                      config_version)
             SELECT '{J3}', id, name, 'SUCCESS', c, v
             FROM devices JOIN (VALUES ('rtr-1', 'CHANGED', 3), ('rtr-2', 'UNCHANGED', 1),
                                       ('sw-1', 'NEW', 2)) AS r(n, c, v) ON r.n = name;
             INSERT INTO job_results (job_id, device_id, device_name, outcome)
             SELECT '{J4}', id, name, 'SUCCESS' FROM devices WHERE name LIKE 'rtr-%';"
        ))
        .await?;
    let versions: [Seeded<'_>; 6] = [
        ("rtr-1", 1, RTR1_V1, J1, None),
        ("rtr-1", 2, RTR1_V2, J2, Some((1, 1))),
        ("rtr-1", 3, RTR1_V3, J3, Some((1, 0))),
        (
            "rtr-2",
            1,
            "hostname rtr-2\nNTP SERVER 10.0.0.1\nend\n",
            J1,
            None,
        ),
        (
            "sw-1",
            1,
            "hostname sw-1\nntp server 10.0.0.9\nend\n",
            J1,
            None,
        ),
        ("sw-1", 2, &lossy, J3, Some((2, 1))),
    ];
    let days = ["2026-11-01", "2026-11-10", "2026-11-20"];
    for (device, version, content, job, lines) in versions {
        let at = if device == "sw-1" && version == 2 {
            days[2]
        } else {
            days[version as usize - 1]
        };
        let exact: Option<&[u8]> = (content == lossy).then_some(HOSTILE);
        let bytes = exact.unwrap_or(content.as_bytes());
        let job: uuid::Uuid = job.parse()?;
        client
            .execute(
                "INSERT INTO device_configs (device_id, version, sha256, content, content_bytes,
                     size_bytes, first_job_id, last_job_id, first_seen_at, last_seen_at,
                     lines_added, lines_removed)
                 SELECT id, $2::int, encode(sha256($4::bytea), 'hex'), $3::text, $5::bytea,
                        length($4::bytea), $6::uuid, $6::uuid,
                        ($7::text || 'T00:00:00Z')::timestamptz,
                        ($7::text || 'T00:00:00Z')::timestamptz + interval '1 day',
                        $8::int, $9::int
                 FROM devices WHERE name = $1",
                &[
                    &device,
                    &version,
                    &content,
                    &bytes,
                    &exact,
                    &job,
                    &at,
                    &lines.map(|l| l.0),
                    &lines.map(|l| l.1),
                ],
            )
            .await?;
    }
    client
        .batch_execute(&format!(
            "INSERT INTO command_outputs (job_id, device_id, seq, command, output, exit_status,
                                          output_bytes)
             SELECT '{J4}', d.id, o.seq, o.cmd, o.out, o.status, o.bytes
             FROM devices d JOIN (VALUES
                 ('rtr-1', 0, 'show version', E'Cisco IOS 15.2\\n', 0, NULL::bytea),
                 ('rtr-1', 1, 'show clock', E'% Invalid input\\n', 1, NULL),
                 ('rtr-2', 0, 'show version', E'\\x1b[2Jwiped\\uFFFD\\n', 0,
                  '\\x1b5b324a7769706564000a'::bytea)
             ) AS o(name, seq, cmd, out, status, bytes) ON o.name = d.name;"
        ))
        .await?;
    Ok(())
}

/// Runs `netraven ARGS`, insists on exit code `code`, and returns stdout and stderr as
/// bytes and text (for output that may carry device bytes, which `netraven()` refuses).
fn raw(env: &TestEnv, args: &[&str], code: i32) -> anyhow::Result<(Vec<u8>, String)> {
    let out = run(env.command()?.args(args))?;
    anyhow::ensure!(
        out.status.code() == Some(code),
        "netraven {args:?} exited {:?}, not {code}\n{}\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    Ok((out.stdout, text(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_read_back_as_lists_texts_and_diffs() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    seed(&env).await?;

    // device configs: newest first, with the counts against the version before.
    let listed = json(&env, &["device", "configs", "rtr-1"])?;
    assert_eq!(listed["device"], "rtr-1");
    let versions = listed["versions"].as_array().cloned().unwrap_or_default();
    let field = |f: &str| versions.iter().map(|v| v[f].clone()).collect::<Vec<_>>();
    assert_eq!(field("version"), [3, 2, 1].map(Value::from));
    assert_eq!(field("lines_added"), [1.into(), 1.into(), Value::Null]);
    assert_eq!(field("lines_removed"), [0.into(), 1.into(), Value::Null]);
    assert_eq!(versions[0]["first_job_id"], J3);
    assert_eq!(versions[0]["size_bytes"], RTR1_V3.len());
    let sha3 = versions[0]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(sha3.len(), 64);
    let table = netraven(&env, &["device", "configs", "rtr-1"], 0)?;
    for want in ["rtr-1: 3 versions", &sha3[..12], "2026-11-20 00:00:00", J3] {
        assert!(table.contains(want), "{want} missing:\n{table}");
    }
    assert!(
        !table.contains(&sha3),
        "the table shows short hashes:\n{table}"
    );

    // device config: the latest as stored, a number, a time; missing ones exit 9.
    assert_eq!(netraven(&env, &["device", "config", "rtr-1"], 0)?, RTR1_V3);
    let v1 = netraven(&env, &["device", "config", "rtr-1", "--version", "1"], 0)?;
    assert_eq!(v1, RTR1_V1);
    let at = ["device", "config", "rtr-1", "--at", "2026-11-15T12:00:00Z"];
    assert_eq!(netraven(&env, &at, 0)?, RTR1_V2);
    let one = json(&env, &["device", "config", "rtr-1", "--version", "2"])?;
    assert_eq!(
        (one["version"].clone(), one["content"].clone()),
        (2.into(), RTR1_V2.into())
    );
    assert_eq!(one["first_job_id"], J2);
    let (_, err) = raw(&env, &["device", "config", "rtr-1", "--version", "7"], 9)?;
    assert!(err.contains("\"rtr-1\" has no version 7"), "{err}");
    let (_, err) = raw(
        &env,
        &["device", "config", "rtr-1", "--at", "2026-10-01T00:00:00Z"],
        9,
    )?;
    assert!(
        err.contains("\"rtr-1\" has no version at 2026-10-01"),
        "{err}"
    );
    let (_, err) = raw(&env, &["device", "config", "nope"], 1)?;
    assert!(err.contains("no device named \"nope\""), "{err}");
    let (_, err) = raw(&env, &["device", "config", "rtr-1", "--at", "yesterday"], 2)?;
    assert!(err.contains("RFC 3339"), "{err}");

    // device diff: the latest against the one before by default.
    let latest = netraven(&env, &["device", "diff", "rtr-1"], 0)?;
    for want in [
        "--- rtr-1 version 2",
        "+++ rtr-1 version 3",
        "@@ -1,4 +1,5 @@",
        "+logging host 10.9.9.9\n end\n",
        "1 line added, 0 removed",
    ] {
        assert!(latest.contains(want), "{want:?} missing:\n{latest}");
    }
    let d = json(
        &env,
        &["device", "diff", "rtr-1", "1", "2", "--context", "0"],
    )?;
    assert_eq!(
        (d["from"]["version"].clone(), d["to"]["version"].clone()),
        (1.into(), 2.into())
    );
    assert_eq!(d["to"]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(
        (d["lines_added"].clone(), d["lines_removed"].clone()),
        (1.into(), 1.into())
    );
    let lines = &d["hunks"][0]["lines"];
    assert_eq!(names(lines, "tag"), ["removed", "added"]);
    assert_eq!(
        names(lines, "text"),
        ["ntp server 10.0.0.1", "ntp server 10.0.0.2"]
    );
    assert_eq!(
        (
            lines[0]["old_number"].clone(),
            lines[1]["new_number"].clone()
        ),
        (2.into(), 2.into())
    );
    // FROM as a time, TO the latest: version 1 (what it had on 5 November) to 3.
    let since = json(&env, &["device", "diff", "rtr-1", "2026-11-05T00:00:00Z"])?;
    assert_eq!(
        (
            since["from"]["version"].clone(),
            since["to"]["version"].clone()
        ),
        (1.into(), 3.into())
    );
    assert_eq!(
        (since["lines_added"].clone(), since["lines_removed"].clone()),
        (2.into(), 1.into())
    );
    let (_, err) = raw(&env, &["device", "diff", "rtr-1", "1", "9"], 9)?;
    assert!(err.contains("no version 9"), "{err}");
    let (_, err) = raw(&env, &["device", "diff", "rtr-2"], 9)?;
    assert!(err.contains("only version 1"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_outputs_and_job_show_read_what_devices_said() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    seed(&env).await?;

    // Only latest configurations: rtr-1 had the line in version 1, no longer.
    let pattern = r"^ntp server 10\.0\.0\.1$";
    let found = json(&env, &["config", "grep", pattern])?;
    assert_eq!(names(&found, "device"), ["sw-1"]);
    assert_eq!(found[0]["version"], 2);
    assert_eq!(
        found[0]["lines"],
        serde_json::json!([{"number": 2, "text": "ntp server 10.0.0.1"}])
    );
    let nocase = json(&env, &["config", "grep", pattern, "-i"])?;
    assert_eq!(names(&nocase, "device"), ["rtr-2", "sw-1"]);
    let core = json(&env, &["config", "grep", pattern, "-i", "--tag", "core"])?;
    assert_eq!(names(&core, "device"), ["rtr-2"]);
    let both = json(
        &env,
        &[
            "config",
            "grep",
            "^hostname",
            "--tag",
            "core",
            "--tag",
            "edge",
        ],
    )?;
    assert_eq!(names(&both, "device"), ["rtr-1", "rtr-2", "sw-1"]);
    let shown = netraven(&env, &["config", "grep", "ntp server", "-i"], 0)?;
    for want in [
        "rtr-1 (version 3)\n  2: ntp server 10.0.0.2",
        "rtr-2 (version 1)",
        "3 devices match, 3 lines",
    ] {
        assert!(shown.contains(want), "{want:?} missing:\n{shown}");
    }
    let none = json(&env, &["config", "grep", "^no such line$"])?;
    assert_eq!(none, serde_json::json!([]));
    let (out, err) = raw(&env, &["config", "grep", "ntp (server"], 1)?;
    assert!(
        out.is_empty() && err.contains("not a regular expression"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("SqlState"),
        "{err}"
    );

    // job outputs: per device, per command in order; escaped for people, exact in JSON.
    let outputs = netraven(&env, &["job", "outputs", J4], 0)?;
    for want in [
        "== rtr-1 ==\n$ show version\nCisco IOS 15.2\n$ show clock  (exit 1)\n% Invalid input\n",
        "== rtr-2 ==\n$ show version\n\\e[2Jwiped\\0\n",
    ] {
        assert!(outputs.contains(want), "{want:?} missing:\n{outputs}");
    }
    let one = json(&env, &["job", "outputs", J4, "rtr-2"])?;
    assert_eq!(names(&one, "device"), ["rtr-2"]);
    assert_eq!(one[0]["output"], "\u{1b}[2Jwiped\u{fffd}\n");
    let exact = base64::engine::general_purpose::STANDARD
        .decode(one[0]["output_base64"].as_str().unwrap_or_default())?;
    assert_eq!(exact, b"\x1b[2Jwiped\0\n");

    // job show: how many devices the backup changed.
    let shown = json(&env, &["job", "show", J3])?;
    assert_eq!(
        shown["config_changes"],
        serde_json::json!({"new": 1, "changed": 1, "unchanged": 1})
    );
    let text = netraven(&env, &["job", "show", J3], 0)?;
    assert!(
        text.contains("configs    1 changed, 1 new, 1 unchanged"),
        "{text}"
    );
    let command = json(&env, &["job", "show", J4])?;
    assert_eq!(command["config_changes"]["changed"], 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_configuration_is_escaped_for_people_and_exact_for_scripts() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    seed(&env).await?;
    let escaped = "hostname sw-1\nntp server 10.0.0.1\n\\e]0;owned\\x07banner\\0x\nend\n";

    // On a terminal (a pseudo-terminal from script(1)), control characters come escaped.
    let netraven_cmd = env.command()?;
    let mut tty = Command::new("script");
    tty.args(["-qec"])
        .arg(format!(
            "{} device config sw-1",
            netraven_cmd.get_program().to_string_lossy()
        ))
        .arg("/dev/null");
    for (k, v) in netraven_cmd.get_envs() {
        match v {
            Some(v) => tty.env(k, v),
            None => tty.env_remove(k),
        };
    }
    let out = run(&mut tty).map_err(|e| {
        anyhow::anyhow!("script(1) (util-linux) runs the CLI on a terminal; install it: {e}")
    })?;
    let screen = text(&out.stdout).replace("\r\n", "\n");
    assert!(screen.contains(escaped), "{screen:?}");
    assert!(!screen.contains(['\u{1b}', '\0', '\u{7}']), "{screen:?}");
    // --escape does the same into a pipe (`| less`).
    assert_eq!(
        netraven(&env, &["device", "config", "sw-1", "--escape"], 0)?,
        escaped
    );

    // Into a file: the text as stored; --raw the exact bytes; --json both.
    let (stored, _) = raw(&env, &["device", "config", "sw-1"], 0)?;
    assert_eq!(
        stored,
        String::from_utf8_lossy(HOSTILE)
            .replace('\0', "\u{fffd}")
            .as_bytes()
    );
    let (exact, _) = raw(&env, &["device", "config", "sw-1", "--raw"], 0)?;
    assert_eq!(exact, HOSTILE);
    let v = json(&env, &["device", "config", "sw-1"])?;
    assert!(v["content"]
        .as_str()
        .is_some_and(|c| c.contains("\u{1b}]0;owned\u{7}banner\u{fffd}x")));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(v["content_base64"].as_str().unwrap_or_default())?;
    assert_eq!(decoded, HOSTILE);

    // The diff and the grep are for people: escaped even into a pipe.
    let diff = netraven(&env, &["device", "diff", "sw-1"], 0)?;
    assert!(
        diff.contains("+\\e]0;owned\\x07banner\u{fffd}x\n"),
        "{diff}"
    );
    let grep = netraven(&env, &["config", "grep", "banner"], 0)?;
    assert!(
        grep.contains("sw-1 (version 2)\n  3: \\e]0;owned\\x07banner"),
        "{grep}"
    );
    let d = json(&env, &["device", "diff", "sw-1"])?;
    assert_eq!(
        (d["lines_added"].clone(), d["lines_removed"].clone()),
        (2.into(), 1.into())
    );
    let added: Vec<String> = d["hunks"][0]["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["tag"] == "added")
        .filter_map(|l| l["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        added,
        ["ntp server 10.0.0.1", "\u{1b}]0;owned\u{7}banner\u{fffd}x"]
    );
    Ok(())
}
