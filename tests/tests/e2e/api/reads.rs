//! Devices, their configuration history and diff, and credentials over HTTP, paged; and
//! nothing a credential holds beyond its counters. A drifted device's diff is its drift,
//! line for line, between the versions read whole. The job and device lists followed
//! through their cursors to the end, and each of their filters keeps what it names and
//! leaves out the rest.

use super::client::Http;
use super::{start, token};
use netraven_api::auth::Scope;
use netraven_simulator::scenario;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// The `field` of each item of a page.
fn items(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i[field].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn devices_history_and_credentials_read_as_the_cli_reads_them() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 3, 25)?.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);
    // Three runs: three outcomes in every device's history.
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let request = netraven_tests::request("config_backup", &["fleet"], &[]);
        jobs.push(env.run_job(&request, Duration::from_secs(60)).await?.id);
    }
    roles.stop().await?;
    let api = start(&env).await?;
    let http = api.http(Some(&token(&env, "ops", Scope::Read, "ops").await?));

    let first = http.get("/api/devices?limit=2").await?.json();
    let names: Vec<&str> = first["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names.len(), 2, "{first}");
    let cursor = first["next_cursor"].as_str().unwrap_or_default();
    let rest = http
        .get(&format!("/api/devices?limit=2&cursor={cursor}"))
        .await?
        .json();
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1), "{rest}");
    http.get("/api/devices?cursor=garbage").await?.problem(400);
    http.get("/api/devices?limit=100000").await?.problem(400);
    http.get("/api/devices?bogus=1").await?.problem(400);

    let device = names[0];
    let shown = http.get(&format!("/api/devices/{device}")).await?.json();
    assert_eq!(shown["name"], device, "{shown}");
    http.get("/api/devices/no-such-device").await?.problem(404);
    assert_eq!(shown["recent"].as_array().map(Vec::len), Some(3), "{shown}");

    // The whole outcome history, newest first, a page at a time.
    let results = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["job_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let newest = http
        .get(&format!("/api/devices/{device}/results?limit=2"))
        .await?
        .json();
    let cursor = newest["next_cursor"].as_str().unwrap_or_default();
    let oldest = http
        .get(&format!(
            "/api/devices/{device}/results?limit=2&cursor={cursor}"
        ))
        .await?
        .json();
    assert!(oldest.get("next_cursor").is_none(), "{oldest}");
    let mut history = results(&newest);
    history.extend(results(&oldest));
    let expected: Vec<String> = jobs.iter().rev().map(ToString::to_string).collect();
    assert_eq!(history, expected, "{newest} {oldest}");
    assert_eq!(newest["items"][0]["outcome"], "SUCCESS", "{newest}");
    http.get(&format!("/api/devices/{device}/results?cursor=garbage"))
        .await?
        .problem(400);
    http.get("/api/devices/no-such-device/results")
        .await?
        .problem(404);
    let versions = http
        .get(&format!("/api/devices/{device}/configs"))
        .await?
        .json();
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(1),
        "{versions}"
    );
    let latest = http
        .get(&format!("/api/devices/{device}/configs/latest"))
        .await?
        .json();
    assert!(
        latest["content"].as_str().is_some_and(|c| !c.is_empty()),
        "{latest}"
    );
    http.get(&format!("/api/devices/{device}/configs/7"))
        .await?
        .problem(404);
    http.get(&format!("/api/devices/{device}/configs/0"))
        .await?
        .problem(400);
    // One version: nothing to diff against.
    http.get(&format!("/api/devices/{device}/diff"))
        .await?
        .problem(404);
    let same = http
        .get(&format!("/api/devices/{device}/diff?from=1&to=latest"))
        .await?
        .json();
    assert_eq!(same["hunks"], serde_json::json!([]), "{same}");

    let creds = http.get("/api/credentials").await?;
    assert_eq!(creds.status, 200, "{}", creds.text);
    assert!(creds.json().as_array().is_some_and(|a| !a.is_empty()));
    for field in ["sealed", "secret_refs", "nrv1:"] {
        assert!(!creds.text.contains(field), "{field} in {}", creds.text);
    }
    // A window no date can be that far back from is the caller's mistake, not the api's.
    let far = http
        .get("/api/credentials?window_s=18446744073709551615")
        .await?
        .problem(400);
    assert!(
        far["detail"]
            .as_str()
            .is_some_and(|d| d.contains("window_s must be 1 to")),
        "{far}"
    );
    http.get("/api/nothing-here").await?.problem(404);
    Ok(())
}

#[tokio::test]
async fn a_drifted_devices_diff_is_its_drift_between_its_versions() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let mut spec = scenario("all-good", 3, 27)?;
    spec.drift = 1.0;
    let fleet = FleetBuilder::from_spec(spec).start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);
    env.run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    let epoch = fleet.advance_drift();
    let second = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    roles.stop().await?;
    let api = start(&env).await?;
    let http = api.http(Some(&token(&env, "ops", Scope::Read, "ops").await?));

    // dev-00001 is linux: no volatile lines, its drift is the whole change.
    let drift = epoch
        .devices
        .iter()
        .find(|d| d.name == "dev-00001")
        .unwrap_or_else(|| panic!("dev-00001 did not drift: {epoch:?}"));
    let device = &drift.name;
    let versions = http
        .get(&format!("/api/devices/{device}/configs"))
        .await?
        .json();
    let numbers: Vec<i64> = versions["versions"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v["version"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(numbers, vec![2, 1], "newest first: {versions}");

    let text = |v: Value| -> (Value, Vec<String>) {
        let lines = v["content"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        (v, lines)
    };
    let (old, old_lines) = text(
        http.get(&format!("/api/devices/{device}/configs/1"))
            .await?
            .json(),
    );
    let (new, new_lines) = text(
        http.get(&format!("/api/devices/{device}/configs/2"))
            .await?
            .json(),
    );
    assert_eq!(
        (old["version"].as_i64(), new["version"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(new["first_job_id"], second.id.to_string(), "{new}");
    assert!(
        !old_lines.is_empty() && old_lines != new_lines,
        "{old} {new}"
    );
    assert_eq!(
        http.get(&format!("/api/devices/{device}/configs/latest"))
            .await?
            .json()["content"],
        new["content"]
    );

    let diff = http
        .get(&format!("/api/devices/{device}/diff?from=1&to=2"))
        .await?;
    assert_eq!(diff.status, 200, "{}", diff.text);
    let diff = diff.json();
    assert_eq!(
        (
            diff["from"]["version"].as_i64(),
            diff["to"]["version"].as_i64(),
            diff["lines_added"].as_u64(),
            diff["lines_removed"].as_u64(),
        ),
        (
            Some(1),
            Some(2),
            Some(drift.lines_added.into()),
            Some(drift.lines_removed.into())
        ),
        "{diff}"
    );
    let hunks = diff["hunks"].as_array().cloned().unwrap_or_default();
    assert!(!hunks.is_empty(), "{diff}");
    let changed: Vec<&Value> = hunks
        .iter()
        .flat_map(|h| h["lines"].as_array().into_iter().flatten())
        .filter(|l| l["tag"] != "context")
        .collect();
    assert_eq!(
        changed.len() as u32,
        drift.lines_added + drift.lines_removed,
        "{diff}"
    );
    // Each changed line is where the hunk says in the version it belongs to, which has
    // more of it than the other (a configuration may repeat a line).
    for line in changed {
        let text = line["text"].as_str().unwrap_or_default().to_string();
        let (number, ours, theirs) = match line["tag"].as_str() {
            Some("added") => (&line["new_number"], &new_lines, &old_lines),
            Some("removed") => (&line["old_number"], &old_lines, &new_lines),
            _ => panic!("a line tagged neither: {line}"),
        };
        let at = number.as_u64().unwrap_or_default() as usize;
        assert_eq!(ours.get(at.wrapping_sub(1)), Some(&text), "{line}");
        let count = |lines: &[String]| lines.iter().filter(|l| **l == text).count();
        assert!(count(ours) > count(theirs), "{line}");
    }
    // Without versions: the latest against the one before.
    let default = http
        .get(&format!("/api/devices/{device}/diff"))
        .await?
        .json();
    assert_eq!(default["hunks"], diff["hunks"]);
    http.get(&format!("/api/devices/{device}/diff?from=1&to=3"))
        .await?
        .problem(404);
    fleet.shutdown().await;
    Ok(())
}

/// Every page of `path` (which has a query already) at `limit` a page, followed through
/// `next_cursor`: the `field` of each item, in order.
async fn all_pages(
    http: &Http,
    path: &str,
    limit: u32,
    field: &str,
) -> anyhow::Result<Vec<String>> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("{path}&limit={limit}&cursor={c}"),
            None => format!("{path}&limit={limit}"),
        };
        let page = http.get(&url).await?;
        assert_eq!(page.status, 200, "{url}: {}", page.text);
        let page = page.json();
        let got = items(&page, field);
        assert!(got.len() <= limit as usize, "{page}");
        seen.extend(got);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(seen),
        }
    }
    anyhow::bail!("{path}: no last page after 100")
}

#[tokio::test]
async fn lists_page_to_their_end_and_each_filter_keeps_only_what_it_names() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // Four devices the jobs reach (site-0..3, linux, cisco_ios, junos, linux), dev-00003
    // accepting no credential; dev-00005 tagged apart, never in a job.
    let mut spec = scenario("all-good", 5, 28)?;
    spec.devices[2].accepts.clear();
    spec.devices[4].tags = vec!["spare".into()];
    let fleet = FleetBuilder::from_spec(spec.clone()).start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);
    let mut jobs = Vec::new();
    for job_type in [
        "reachability",
        "config_backup",
        "reachability",
        "config_backup",
        "config_backup",
    ] {
        let job = env
            .run_job(&request(job_type, &["fleet"], &[]), JOB_TIMEOUT)
            .await?;
        jobs.push((job.id.to_string(), job_type));
    }
    roles.stop().await?;
    let api = start(&env).await?;
    let http = api.http(Some(&token(&env, "ops", Scope::Read, "ops").await?));

    // Jobs two a page, newest first: each once, all of them.
    let paged = all_pages(&http, "/api/jobs?", 2, "id").await?;
    let newest_first: Vec<String> = jobs.iter().rev().map(|(id, _)| id.clone()).collect();
    assert_eq!(paged, newest_first);
    assert_eq!(paged.iter().collect::<HashSet<_>>().len(), jobs.len());

    let ids = |t: &str| -> BTreeSet<String> {
        jobs.iter()
            .filter(|(_, jt)| *jt == t)
            .map(|(id, _)| id.clone())
            .collect()
    };
    for t in ["reachability", "config_backup"] {
        let listed = all_pages(&http, &format!("/api/jobs?type={t}"), 2, "id").await?;
        assert_eq!(
            listed.into_iter().collect::<BTreeSet<_>>(),
            ids(t),
            "type={t}"
        );
    }
    assert!(http.get("/api/jobs?type=command").await?.json()["items"]
        .as_array()
        .is_some_and(Vec::is_empty));
    // since: the third job and those after it, not the two before.
    let third = http.get(&format!("/api/jobs/{}", jobs[2].0)).await?.json();
    let since = third["created_at"].as_str().unwrap_or_default();
    let listed = all_pages(&http, &format!("/api/jobs?since={since}"), 2, "id").await?;
    assert_eq!(listed, newest_first[..3].to_vec(), "since={since}");
    let combined = all_pages(
        &http,
        &format!("/api/jobs?since={since}&type=reachability"),
        1,
        "id",
    )
    .await?;
    assert_eq!(combined, vec![jobs[2].0.clone()]);
    http.get("/api/jobs?since=yesterday").await?.problem(400);

    // Devices: each filter against the fleet's own spec.
    let names = |keep: &dyn Fn(&netraven_simulator::DeviceSpec) -> bool| -> Vec<String> {
        spec.devices
            .iter()
            .filter(|d| keep(d))
            .map(|d| d.name.clone())
            .collect()
    };
    let everyone = all_pages(&http, "/api/devices?", 2, "name").await?;
    assert_eq!(everyone, names(&|_| true));
    for tag in ["site-1", "fleet", "spare"] {
        let listed = all_pages(&http, &format!("/api/devices?tag={tag}"), 2, "name").await?;
        assert_eq!(
            listed,
            names(&|d| d.tags.iter().any(|t| t == tag)),
            "tag={tag}"
        );
    }
    for platform in ["linux", "cisco_ios"] {
        let listed = all_pages(
            &http,
            &format!("/api/devices?platform={platform}"),
            1,
            "name",
        )
        .await?;
        let expected = names(&|d| d.platform.as_str() == platform);
        assert!(!expected.is_empty() && expected.len() < spec.devices.len());
        assert_eq!(listed, expected, "platform={platform}");
    }
    let outcome = |o: &str| format!("/api/devices?outcome={o}");
    let failed = all_pages(&http, &outcome("AUTH_FAILED"), 2, "name").await?;
    assert_eq!(failed, vec!["dev-00003".to_string()]);
    let good = all_pages(&http, &outcome("SUCCESS"), 2, "name").await?;
    assert_eq!(good, ["dev-00001", "dev-00002", "dev-00004"]);
    let never = all_pages(&http, &outcome("NONE"), 2, "name").await?;
    assert_eq!(never, ["dev-00005"]);
    http.get(&outcome("NOPE")).await?.problem(400);
    let both = all_pages(
        &http,
        "/api/devices?tag=fleet&platform=linux&outcome=SUCCESS",
        2,
        "name",
    )
    .await?;
    assert_eq!(both, ["dev-00001", "dev-00004"]);
    // A name search: any part of the name, ignoring case, paged and combined like the rest.
    let searched = all_pages(&http, "/api/devices?name=V-0000", 2, "name").await?;
    assert_eq!(searched, names(&|_| true));
    let one = all_pages(&http, "/api/devices?name=00003", 2, "name").await?;
    assert_eq!(one, ["dev-00003"]);
    let none = all_pages(&http, "/api/devices?name=00003&outcome=SUCCESS", 2, "name").await?;
    assert!(none.is_empty(), "{none:?}");
    fleet.shutdown().await;
    Ok(())
}

/// Diffs of two large versions, the same 30,000 lines in opposite orders, take their
/// 2 s timeout of CPU each: the api computes them off its async threads, so `/healthz`
/// answers at once while four of them run. Before, a diff ran in its request's task and
/// held a runtime thread for those 2 s, and a probe that sat behind it waited 2.1 s (two
/// runs of three here; in the third every probe found the other thread free, so five
/// probes are timed). Judged against the diffs' own time in the same run, not a clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_diffs_leave_the_api_answering() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    env.pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO devices (name, host, platform) VALUES ('big', '10.0.0.9', 'linux');
             INSERT INTO device_configs (device_id, version, sha256, content, size_bytes,
                                         first_seen_at, last_seen_at)
             SELECT d.id, x.v, repeat(x.v::text, 64), x.c, length(x.c), now(), now()
             FROM devices d,
                  (SELECT v, string_agg(md5(i::text), E'\\n'
                                        ORDER BY CASE v WHEN 1 THEN i ELSE -i END) AS c
                   FROM generate_series(1, 2) v, generate_series(1, 30000) i GROUP BY v) x
             WHERE d.name = 'big';",
        )
        .await?;
    let api = start(&env).await?;
    let secret = token(&env, "ops", Scope::Read, "ops").await?;
    let started = std::time::Instant::now();
    let diffs: Vec<_> = (0..4)
        .map(|_| {
            let http = api.http(Some(&secret));
            tokio::spawn(async move {
                let answer = http
                    .get("/api/devices/big/diff?from=1&to=2&context=0")
                    .await;
                (answer, started.elapsed())
            })
        })
        .collect();
    let mut slowest_probe = Duration::ZERO;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let asked = std::time::Instant::now();
        let health = api.metrics().get("/healthz").await?;
        slowest_probe = slowest_probe.max(asked.elapsed());
        assert_eq!(health.status, 200);
    }
    let mut last_diff = Duration::ZERO;
    for d in diffs {
        let (answer, at) = d.await?;
        let answer = answer?;
        assert_eq!(
            answer.status,
            200,
            "{}",
            &answer.text[..answer.text.len().min(300)]
        );
        assert!(
            answer.json()["lines_added"].as_u64() > Some(20_000),
            "a large diff"
        );
        last_diff = last_diff.max(at);
    }
    eprintln!("the slowest /healthz took {slowest_probe:?}; the four diffs {last_diff:?}");
    assert!(
        slowest_probe * 4 < last_diff,
        "/healthz took up to {slowest_probe:?} while the diffs took {last_diff:?}"
    );
    Ok(())
}
