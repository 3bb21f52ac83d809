//! `schedule apply` and `schedule export`: the example file applied (a dry run first),
//! applied again changing no row, exported and applied back changing none, edited and
//! applied (only what changed is written), pruned; a bad file changes nothing and names
//! every problem.

use super::{one, outputs, rows};
use crate::views::netraven::netraven;
use netraven_tests::TestEnv;
use std::path::{Path, PathBuf};

/// `docs/examples/schedules/schedules.yaml`, the example operators start from.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/schedules/schedules.yaml")
}

const NAMES: [&str; 5] = [
    "branches-weekdays",
    "core-nightly",
    "dc-firewall-sessions",
    "fleet-reachability",
    "lab-weekly",
];

fn write(env: &TestEnv, name: &str, yaml: &str) -> anyhow::Result<String> {
    let path = env.dir.path().join(name);
    std::fs::write(&path, yaml)?;
    Ok(path.to_string_lossy().into_owned())
}

/// What follows the name on `name`'s line (`description`, `cron; next tick ...`).
fn detail<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| {
            let mut w = l.splitn(2, char::is_whitespace);
            let _verb = w.next()?;
            w.next()?.trim_start().strip_prefix(name)
        })
        .map(str::trim)
        .unwrap_or("(no line)")
}

/// The verb of each schedule's line, in order, and the summary line.
fn verbs(out: &str) -> (Vec<(String, String)>, String) {
    let mut lines: Vec<&str> = out.lines().collect();
    let summary = lines.pop().unwrap_or_default().to_string();
    let verbs = lines
        .iter()
        .filter(|l| !l.starts_with("kept"))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    (verbs, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_twice_changes_nothing_export_round_trips_and_prune_removes() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let file = example().to_string_lossy().into_owned();

    let dry = netraven(&env, &["schedule", "apply", &file, "--dry-run"], 0)?;
    let (lines, summary) = verbs(&dry);
    let mut in_file = lines.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>();
    in_file.sort_unstable();
    assert_eq!(in_file, NAMES);
    assert!(lines.iter().all(|(v, _)| v == "created"), "{dry}");
    assert!(summary.contains("dry run: nothing was changed"), "{dry}");
    assert_eq!(one::<i64>(&env, "SELECT count(*) FROM schedules").await?, 0);

    let first = netraven(&env, &["schedule", "apply", &file], 0)?;
    assert_eq!(
        verbs(&first).1,
        "5 created, 0 updated, 0 unchanged, 0 removed"
    );
    assert!(first.contains("next tick"), "{first}");
    assert!(
        one::<bool>(
            &env,
            "SELECT paused FROM schedules WHERE name = 'lab-weekly'"
        )
        .await?,
        "paused: true in the file"
    );
    let stored = rows(&env).await?;

    // Again: every schedule unchanged, not a row written.
    let second = netraven(&env, &["schedule", "apply", &file], 0)?;
    let (lines, summary) = verbs(&second);
    assert_eq!(summary, "0 created, 0 updated, 5 unchanged, 0 removed");
    assert!(lines.iter().all(|(v, _)| v == "unchanged"), "{second}");
    assert_eq!(rows(&env).await?, stored, "the second apply wrote no row");

    // The export applies back unchanged.
    let exported = netraven(&env, &["schedule", "export"], 0)?;
    let path = write(&env, "exported.yaml", &exported)?;
    let back = netraven(&env, &["schedule", "apply", &path], 0)?;
    assert_eq!(
        verbs(&back).1,
        "0 created, 0 updated, 5 unchanged, 0 removed",
        "{exported}"
    );
    assert_eq!(
        rows(&env).await?,
        stored,
        "applying the export wrote no row"
    );
    // A schedule by name; an unknown name is an error.
    let one_export = netraven(&env, &["schedule", "export", "core-nightly"], 0)?;
    assert!(one_export.contains("name: core-nightly") && !one_export.contains("lab-weekly"));
    outputs(&env, &["schedule", "export", "core-nightly", "nope"], 1)?;

    // Edited: a description (next tick kept), a cron (next tick recomputed), a pause, and
    // a new schedule; one left out of the file is kept without --prune.
    let mut edited: serde_yaml_ng::Value = serde_yaml_ng::from_str(&exported)?;
    let list = edited["schedules"]
        .as_sequence_mut()
        .ok_or_else(|| anyhow::anyhow!("{exported}"))?;
    let by_name = |list: &mut Vec<serde_yaml_ng::Value>, name: &str| -> anyhow::Result<usize> {
        list.iter()
            .position(|s| s["name"].as_str() == Some(name))
            .ok_or_else(|| anyhow::anyhow!("{name} not exported"))
    };
    let i = by_name(list, "core-nightly")?;
    list[i]["description"] = "the core, nightly; edited".into();
    let i = by_name(list, "fleet-reachability")?;
    // Never a tick of the file's */15: the recomputed next tick differs at any hour.
    list[i]["cron"] = "5,20,35,50 * * * *".into();
    let i = by_name(list, "branches-weekdays")?;
    list[i]["paused"] = true.into();
    let i = by_name(list, "dc-firewall-sessions")?;
    list.remove(i);
    list.push(serde_yaml_ng::from_str(
        "{ name: new-one, cron: '@daily', job_type: reachability, targets: { tags: [lab] } }",
    )?);
    let path = write(&env, "edited.yaml", &serde_yaml_ng::to_string(&edited)?)?;
    let out = netraven(&env, &["schedule", "apply", &path], 0)?;
    let (lines, summary) = verbs(&out);
    assert_eq!(
        summary, "1 created, 3 updated, 1 unchanged, 0 removed",
        "{out}"
    );
    for (verb, name) in [
        ("updated", "core-nightly"),
        ("updated", "fleet-reachability"),
        ("updated", "branches-weekdays"),
        ("unchanged", "lab-weekly"),
        ("created", "new-one"),
    ] {
        assert!(
            lines.contains(&(verb.into(), name.into())),
            "{verb} {name} not in\n{out}"
        );
    }
    assert_eq!(detail(&out, "core-nightly"), "description", "{out}");
    assert!(
        detail(&out, "fleet-reachability").starts_with("cron; next tick"),
        "{out}"
    );
    assert_eq!(detail(&out, "branches-weekdays"), "paused", "{out}");
    assert!(
        out.contains("kept (not in the file; --prune removes them): dc-firewall-sessions"),
        "{out}"
    );
    let now = rows(&env).await?;
    let of = |rows: &[(String, String, String, String)], name: &str| {
        rows.iter()
            .find(|r| r.0 == name)
            .cloned()
            .unwrap_or_default()
    };
    let (old, new) = (of(&stored, "core-nightly"), of(&now, "core-nightly"));
    assert_ne!(old.2, new.2, "updated_at moves");
    assert_eq!(old.3, new.3, "a description change keeps the next tick");
    let (old, new) = (
        of(&stored, "fleet-reachability"),
        of(&now, "fleet-reachability"),
    );
    assert_ne!(old.3, new.3, "a cron change recomputes the next tick");
    assert_eq!(
        of(&stored, "lab-weekly"),
        of(&now, "lab-weekly"),
        "unchanged is untouched"
    );
    assert_eq!(
        of(&stored, "dc-firewall-sessions"),
        of(&now, "dc-firewall-sessions")
    );
    assert!(
        one::<bool>(
            &env,
            "SELECT paused FROM schedules WHERE name = 'branches-weekdays'"
        )
        .await?
    );

    // --prune removes what the file does not name; a dry run of it first changes nothing.
    let dry = netraven(
        &env,
        &["schedule", "apply", &path, "--prune", "--dry-run"],
        0,
    )?;
    let (lines, _) = verbs(&dry);
    assert!(
        lines.contains(&("removed".into(), "dc-firewall-sessions".into())),
        "{dry}"
    );
    assert_eq!(one::<i64>(&env, "SELECT count(*) FROM schedules").await?, 6);
    let out = netraven(&env, &["schedule", "apply", &path, "--prune"], 0)?;
    assert_eq!(
        verbs(&out).1,
        "0 created, 0 updated, 5 unchanged, 1 removed",
        "{out}"
    );
    assert_eq!(
        one::<i64>(
            &env,
            "SELECT count(*) FROM schedules WHERE name = 'dc-firewall-sessions'"
        )
        .await?,
        0
    );

    // `paused` absent leaves the state alone: the paused ones stay paused.
    let unpaused = exported.replace("  paused: true\n", "");
    let path = write(&env, "no-paused.yaml", &unpaused)?;
    let out = netraven(&env, &["schedule", "apply", &path], 0)?;
    assert!(!out.contains("paused"), "{out}");
    assert!(
        one::<bool>(
            &env,
            "SELECT paused FROM schedules WHERE name = 'lab-weekly'"
        )
        .await?
    );
    // `paused: false` resumes, from the next tick after now.
    env.pool
        .get()
        .await?
        .execute(
            "UPDATE schedules SET next_tick_at = now() - interval '30 days' WHERE name = 'lab-weekly'",
            &[],
        )
        .await?;
    let path = write(
        &env,
        "resume.yaml",
        &exported.replace("paused: true", "paused: false"),
    )?;
    let out = netraven(&env, &["schedule", "apply", &path], 0)?;
    assert!(
        detail(&out, "lab-weekly").starts_with("paused; next tick"),
        "{out}"
    );
    assert!(
        one::<bool>(
            &env,
            "SELECT next_tick_at > now() AND NOT paused FROM schedules WHERE name = 'lab-weekly'"
        )
        .await?,
        "resumed by the file, its next tick is after now"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_changes_nothing_and_names_every_problem() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let file = example().to_string_lossy().into_owned();
    netraven(&env, &["schedule", "apply", &file], 0)?;
    let stored = rows(&env).await?;

    // One good change among the problems: it is not made either.
    let bad = r#"
schedules:
  - { name: core-nightly, cron: "0 4 * * *", job_type: config_backup, targets: { tags: [core] } }
  - { name: a, cron: "0 2 * *", job_type: config_backup, targets: { tags: [x] } }
  - { name: b, cron: "0 2 * * *", time_zone: Mars/Olympus, job_type: config_backup, targets: { tags: [x] } }
  - { name: c, cron: "0 2 * * *", job_type: command, targets: { tags: [x] } }
  - { name: d, cron: "0 2 * * *", job_type: config_backup }
  - { name: d, cron: "0 3 * * *", job_type: config_backup, targets: { tags: [x] } }
  - { name: "no spaces", cron: "0 2 * * *", job_type: config_backup, targets: { tags: [x] } }
"#;
    let path = write(&env, "bad.yaml", bad)?;
    for extra in [&[][..], &["--prune"][..]] {
        let mut args = vec!["schedule", "apply", &path];
        args.extend_from_slice(extra);
        let (out, err) = outputs(&env, &args, 10)?;
        assert!(out.is_empty(), "no plan printed: {out}");
        for want in [
            "has 6 problems; nothing was changed",
            "schedule a: cron expression \"0 2 * *\" is not valid",
            "unknown time zone \"Mars/Olympus\"",
            "schedule c: a command job needs commands",
            "schedule d: targets name no",
            "schedule d is declared twice",
            "schedule name \"no spaces\"",
        ] {
            assert!(err.contains(want), "{want:?} not in\n{err}");
        }
        assert_eq!(rows(&env).await?, stored, "a bad file changes nothing");
    }

    // A field the format does not have, a file that is not YAML: exit 10, nothing changed.
    for (name, yaml, want) in [
        (
            "unknown.yaml",
            "schedules:\n  - { name: a, cron: '* * * * *', job_type: config_backup, targets: { tags: [x] }, every: 5 }\n",
            "unknown field `every`",
        ),
        ("broken.yaml", "schedules: [ {", "not a schedules file"),
        ("catch-up.yaml", "schedules:\n  - { name: a, cron: '@daily', job_type: reachability, targets: { tags: [x] }, catch_up: soon }\n", "catch_up \"soon\""),
    ] {
        let path = write(&env, name, yaml)?;
        let (_, err) = outputs(&env, &["schedule", "apply", &path], 10)?;
        assert!(err.contains(want), "{want:?} not in\n{err}");
    }
    // A file that is not there is an error, not an invalid file.
    let missing = env.dir.path().join("missing.yaml");
    let (_, err) = outputs(&env, &["schedule", "apply", &missing.to_string_lossy()], 1)?;
    assert!(err.contains("cannot read"), "{err}");
    assert_eq!(rows(&env).await?, stored);
    Ok(())
}
