//! Host keys usable strictly: `netraven device host-key pin` (from an OpenSSH known_hosts
//! file or a fingerprint), `forget` and `list`, run as the real binary against Postgres,
//! then `strict` jobs through the real broker against the simulator, whose ground truth
//! says whether any login (any secret) reached a device. And `ssh-rsa` (SHA-1) host-key
//! signatures: refused by default, accepted by a profile that opts in.
//!
//! The simulated devices listen on ports 25800-25899.

use base64::Engine as _;
use netraven_shared::domain::{HostKeyPolicy, JobStatus, Outcome};
use netraven_simulator::{
    CredentialSpec, DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec, Platform,
};
use netraven_tests::{request, TestEnv};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

const JOB_TIMEOUT: Duration = Duration::from_secs(45);
const SEED: u64 = 1717;
const USER: &str = "netops";
const SECRET: &str = "tacacs-secret";

fn spec(devices: &[(&str, Platform, Option<Fault>)]) -> FleetSpec {
    FleetSpec {
        seed: SEED,
        credentials: vec![CredentialSpec {
            name: "tacacs".into(),
            username: USER.into(),
            password: SECRET.into(),
            priority: 10,
            tags: vec!["hk".into()],
        }],
        devices: devices
            .iter()
            .map(|(name, platform, fault)| {
                let mut d = DeviceSpec::new(*name, *platform);
                d.tags = vec!["hk".into()];
                d.accepts = vec![(USER.into(), SECRET.into())];
                d.fault = *fault;
                if *platform == Platform::CiscoIos {
                    d.enable_secret = Some(SECRET.into());
                }
                d
            })
            .collect(),
    }
}

async fn fleet(
    devices: &[(&str, Platform, Option<Fault>)],
    base_port: u16,
) -> anyhow::Result<Fleet> {
    let opts = FleetOptions {
        base_port,
        ..FleetOptions::default()
    };
    Ok(Fleet::start(spec(devices), opts).await?)
}

/// `(port, OpenSSH key line without comment)` of each device.
fn served(fleet: &Fleet) -> HashMap<String, (u16, String)> {
    fleet
        .devices()
        .into_iter()
        .map(|d| {
            let key = d
                .host_key
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            (d.name, (d.port, key))
        })
        .collect()
}

fn fingerprint(line: &str) -> String {
    netraven_worker::ssh::fingerprint_of_line(line).expect("key line parses")
}

/// A hashed known_hosts name, as `ssh-keygen -H` writes it.
fn hashed(name: &str) -> String {
    let salt = *uuid::Uuid::new_v4().as_bytes();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    let tag = ring::hmac::sign(&key, name.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    format!("|1|{}|{}", b64.encode(salt), b64.encode(tag.as_ref()))
}

/// Runs `netraven device host-key ARGS --json`; the parsed output, or the error text.
fn host_key(env: &TestEnv, args: &[&str]) -> anyhow::Result<Result<Value, String>> {
    let out = env
        .command()?
        .args(["device", "host-key"])
        .args(args)
        .arg("--json")
        .output()?;
    if out.status.success() {
        Ok(Ok(serde_json::from_slice(&out.stdout)?))
    } else {
        Ok(Err(String::from_utf8_lossy(&out.stderr).into_owned()))
    }
}

fn ok(r: Result<Value, String>) -> Value {
    r.unwrap_or_else(|e| panic!("netraven device host-key failed: {e}"))
}

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
    env.teardown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_rsa_sha1_is_refused_unless_the_profile_opts_in() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let profiles = env.dir.path().join("profiles");
    std::fs::create_dir_all(&profiles)?;
    std::fs::write(
        profiles.join("linux_sha1.toml"),
        "name = \"linux_sha1\"\ntransport = \"exec\"\nallow_ssh_rsa_sha1 = true\n\n\
         [commands]\nconfig_backup = \"cat /etc/netraven/running-config\"\n",
    )?;
    env.settings.worker.profiles_dir = Some(profiles);
    let sim = fleet(
        &[
            ("rsa-default", Platform::Linux, Some(Fault::SshRsaSha1Only)),
            ("rsa-opt-in", Platform::Linux, Some(Fault::SshRsaSha1Only)),
            ("modern", Platform::Linux, None),
        ],
        25850,
    )
    .await?;
    let inventory = env.dir.path().join("inventory.yaml");
    sim.write_inventory(&inventory)?;
    // rsa-opt-in runs under the profile that opts in.
    let text = std::fs::read_to_string(&inventory)?;
    let mut out = String::new();
    let mut in_opt_in = false;
    let mut rewritten = 0;
    for line in text.lines() {
        if line.contains("name: ") {
            in_opt_in = line.contains("name: rsa-opt-in");
        }
        if in_opt_in && line.trim_start().starts_with("platform: ") {
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push_str(&format!("{indent}platform: linux_sha1\n"));
            rewritten += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    anyhow::ensure!(rewritten == 1, "inventory format changed: {text}");
    std::fs::write(&inventory, out)?;
    env.import_file(&inventory).await?;

    let roles = env.start(1);
    let job = env
        .run_job(&request("config_backup", &["hk"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let client = env.pool.get().await?;
    for r in netraven_dispatcher::job_rows::results(&client, job.id).await? {
        eprintln!(
            "{:<12} {:<12} {}",
            r.device_name,
            r.outcome.as_str(),
            r.reason
        );
        let report = sim.report(&r.device_name).expect("report");
        match r.device_name.as_str() {
            "rsa-default" => {
                assert_eq!(r.outcome, Outcome::Unreachable, "{}", r.reason);
                assert!(
                    r.reason.contains("ssh-rsa") && r.reason.contains("allow_ssh_rsa_sha1"),
                    "{}",
                    r.reason
                );
                assert!(report.attempts.is_empty(), "{report:?}");
                assert_eq!(report.secrets_received, 0);
            }
            _ => assert_eq!(
                r.outcome,
                Outcome::Success,
                "{}: {}",
                r.device_name,
                r.reason
            ),
        }
    }
    // The opted-in device's RSA key was pinned on first contact (accept-new).
    let pin = ok(host_key(&env, &["list", "rsa-opt-in"])?);
    assert_eq!(pin[0]["algorithm"], "ssh-rsa", "{pin}");
    assert_eq!(pin[0]["source"], "first-use");
    assert_eq!(
        pin[0]["fingerprint"],
        fingerprint(&served(&sim)["rsa-opt-in"].1).as_str()
    );
    // With the key pinned the worker offers only RSA host-key algorithms, and strict works.
    let mut strict = request("config_backup", &[], &["rsa-opt-in", "modern"]);
    strict.limits.host_key_policy = Some(HostKeyPolicy::Strict);
    let job = env.run_job(&strict, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);

    roles.stop().await?;
    sim.shutdown().await;
    env.teardown().await
}

/// A pin by fingerprint stored while a worker was connecting under `accept-new` (the task
/// carried no pin): the worker's own pin request returns the operator's fingerprint, which
/// accepts the matching key and refuses any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_honours_a_fingerprint_pin_made_after_dispatch() -> anyhow::Result<()> {
    use netraven_worker::ssh::{pin_accepts, PresentedKey};
    let env = TestEnv::new().await?;
    let client = env.pool.get().await?;
    client
        .execute(
            "INSERT INTO devices (name, host, port, platform) VALUES ('late', '127.0.0.1', 25899, 'linux')",
            &[],
        )
        .await?;
    let line = |k: &str| format!("ssh-ed25519 {k}");
    let ours = line("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl");
    let other = line("AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfszSJ/4ObMqCRANc2dVQh");
    let presented = |l: &str| PresentedKey {
        algorithm: "ssh-ed25519".into(),
        public_key: l.to_string(),
        fingerprint: fingerprint(l),
    };
    ok(host_key(
        &env,
        &["pin", "late", "--fingerprint", &fingerprint(&ours)],
    )?);
    let id: i64 = client
        .query_one("SELECT id FROM devices WHERE name = 'late'", &[])
        .await?
        .get(0);
    let pinner = netraven_worker::persist::Pinner::start(env.pool.clone());
    let stored = pinner
        .pin(id, &presented(&ours))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(stored, fingerprint(&ours), "the operator's pin stands");
    assert!(pin_accepts(&stored, &presented(&ours)).is_ok());
    assert!(pin_accepts(&stored, &presented(&other)).is_err());
    let again = pinner
        .pin(id, &presented(&other))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(again, stored, "another key never replaces it");
    let row = ok(host_key(&env, &["list", "late"])?);
    assert_eq!(row[0]["source"], "fingerprint", "{row}");
    drop(client);
    env.teardown().await
}
