//! Pins from known_hosts files and fingerprints make strict jobs work.

use super::devices::{fingerprint, fleet, hashed, host_key, ok, served, JOB_TIMEOUT};
use netraven_shared::domain::{HostKeyPolicy, JobStatus, Outcome};
use netraven_simulator::Platform;
use netraven_tests::{request, TestEnv};
use serde_json::Value;
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_from_known_hosts_and_fingerprints_make_strict_jobs_work() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let sim = fleet(
        &[
            ("kh-linux", Platform::Linux, None),
            ("fp-ios", Platform::CiscoIos, None),
            ("wrong-pin", Platform::Linux, None),
            ("unpinned", Platform::Linux, None),
        ],
        25800,
    )
    .await?;
    env.import(&sim).await?;
    let keys = served(&sim);
    let (kh_port, kh_key) = keys["kh-linux"].clone();
    let (_, ios_key) = keys["fp-ios"].clone();
    let (wrong_port, wrong_key) = keys["wrong-pin"].clone();

    // A known_hosts file as an operator's ssh client leaves it: a hashed entry for the
    // device's [host]:port, another device's key on another port, a key of the same host
    // without a port (port 22: not this device), a revoked key, comments.
    let known_hosts = env.dir.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!(
            "# lab\n{} {kh_key} from-keyscan\n[127.0.0.1]:{wrong_port} {wrong_key}\n\
             127.0.0.1 {ios_key}\n@revoked [127.0.0.1]:{kh_port} {ios_key}\n",
            hashed(&format!("[127.0.0.1]:{kh_port}"))
        ),
    )?;
    let kh = known_hosts.to_str().expect("utf-8 path");
    let pinned = ok(host_key(&env, &["pin", "kh-linux", "--known-hosts", kh])?);
    assert_eq!(pinned["action"], "pinned", "{pinned}");
    assert_eq!(pinned["source"], "known-hosts");
    assert_eq!(pinned["algorithm"], "ssh-ed25519");
    assert_eq!(pinned["fingerprint"], fingerprint(&kh_key).as_str());

    let ios_fp = fingerprint(&ios_key);
    let pinned = ok(host_key(
        &env,
        &["pin", "fp-ios", "--fingerprint", &ios_fp],
    )?);
    assert_eq!(pinned["action"], "pinned", "{pinned}");
    assert_eq!(pinned["source"], "fingerprint");
    assert!(pinned["algorithm"].is_null());

    // wrong-pin gets another device's fingerprint: the CLI cannot know, the worker will.
    ok(host_key(
        &env,
        &["pin", "wrong-pin", "--fingerprint", &ios_fp],
    )?);

    // Refusals: a bad fingerprint, a device not in the file, a different key without
    // --replace; nothing changes.
    let e =
        host_key(&env, &["pin", "unpinned", "--fingerprint", "SHA256:nope"])?.expect_err("refused");
    assert!(e.contains("not a fingerprint"), "{e}");
    let e = host_key(&env, &["pin", "unpinned", "--known-hosts", kh])?.expect_err("refused");
    assert!(e.contains("no usable key"), "{e}");
    let e = host_key(&env, &["pin", "kh-linux", "--fingerprint", &ios_fp])?.expect_err("refused");
    assert!(e.contains("--replace"), "{e}");
    let again = ok(host_key(&env, &["pin", "kh-linux", "--known-hosts", kh])?);
    assert_eq!(again["action"], "unchanged");

    // list: every pin, with its source; --unpinned: what strict refuses.
    let list = ok(host_key(&env, &["list"])?);
    let rows: HashMap<String, Value> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["device"].as_str().unwrap_or_default().to_string(),
                r.clone(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 3, "{list}");
    assert_eq!(rows["kh-linux"]["source"], "known-hosts");
    assert_eq!(
        rows["kh-linux"]["fingerprint"],
        fingerprint(&kh_key).as_str()
    );
    assert_eq!(rows["fp-ios"]["source"], "fingerprint");
    assert_eq!(rows["wrong-pin"]["fingerprint"], ios_fp.as_str());
    let unpinned = ok(host_key(&env, &["list", "--unpinned"])?);
    assert_eq!(unpinned.as_array().map(Vec::len), Some(1), "{unpinned}");
    assert_eq!(unpinned[0]["device"], "unpinned");
    assert!(unpinned[0]["fingerprint"].is_null());
    // The table for people names the devices too.
    let table = env
        .command()?
        .args(["device", "host-key", "list"])
        .output()?;
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("kh-linux") && table.contains("known-hosts"),
        "{table}"
    );

    // A strict job: both pinned devices succeed; the wrong pin and the unpinned device
    // fail HOST_KEY_MISMATCH with no login at all.
    let roles = env.start(1);
    let mut strict = request("config_backup", &["hk"], &[]);
    strict.limits.host_key_policy = Some(HostKeyPolicy::Strict);
    let job = env.run_job(&strict, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(results.len(), 4);
    for r in &results {
        eprintln!(
            "{:<10} {:<18} {}",
            r.device_name,
            r.outcome.as_str(),
            r.reason
        );
        let report = sim.report(&r.device_name).expect("report");
        match r.device_name.as_str() {
            "kh-linux" | "fp-ios" => {
                assert_eq!(r.outcome, Outcome::Success, "{}", r.reason);
                assert_eq!(report.attempts.len(), 1, "{report:?}");
            }
            name => {
                assert_eq!(r.outcome, Outcome::HostKeyMismatch, "{name}: {}", r.reason);
                assert_eq!(r.attempts, 0);
                let expected = if name == "wrong-pin" {
                    "host key mismatch"
                } else {
                    "not pinned"
                };
                assert!(r.reason.contains(expected), "{name}: {}", r.reason);
                assert!(report.connections >= 1, "{report:?}");
                assert!(report.attempts.is_empty(), "{name}: {report:?}");
                assert_eq!(report.secrets_received, 0, "{name}");
            }
        }
    }
    // A strict job never pins: the unpinned device stays so.
    let unpinned = ok(host_key(&env, &["list", "unpinned"])?);
    assert!(unpinned[0]["fingerprint"].is_null(), "{unpinned}");

    // forget: strict now refuses kh-linux, before any login.
    let forgot = ok(host_key(&env, &["forget", "kh-linux"])?);
    assert_eq!(forgot["action"], "forgotten", "{forgot}");
    assert_eq!(
        forgot["previous_fingerprint"],
        fingerprint(&kh_key).as_str()
    );
    let shown = ok(host_key(&env, &["list", "kh-linux"])?);
    assert!(shown[0]["fingerprint"].is_null(), "{shown}");
    let logins_before = sim.attempts("kh-linux").len();
    let mut strict = request("config_backup", &[], &["kh-linux"]);
    strict.limits.host_key_policy = Some(HostKeyPolicy::Strict);
    let job = env.run_job(&strict, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedFailure);
    let r = &netraven_dispatcher::job_rows::results(&client, job.id).await?[0];
    assert_eq!(r.outcome, Outcome::HostKeyMismatch, "{}", r.reason);
    assert!(r.reason.contains("not pinned"), "{}", r.reason);
    assert_eq!(
        sim.attempts("kh-linux").len(),
        logins_before,
        "no login after forget"
    );
    let forgot = ok(host_key(&env, &["forget", "kh-linux"])?);
    assert_eq!(forgot["action"], "not_pinned");

    // --replace fixes the wrong pin; strict then succeeds there too.
    let wrong_fp = fingerprint(&wrong_key);
    let replaced = ok(host_key(
        &env,
        &["pin", "wrong-pin", "--fingerprint", &wrong_fp, "--replace"],
    )?);
    assert_eq!(replaced["action"], "replaced", "{replaced}");
    assert_eq!(replaced["previous_fingerprint"], ios_fp.as_str());
    let mut strict = request("config_backup", &[], &["wrong-pin"]);
    strict.limits.host_key_policy = Some(HostKeyPolicy::Strict);
    let job = env.run_job(&strict, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);

    roles.stop().await?;
    sim.shutdown().await;
    Ok(())
}
