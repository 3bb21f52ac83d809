//! `ssh-rsa` (SHA-1) host-key signatures: refused unless the profile opts in.

use super::devices::{fingerprint, fleet, host_key, ok, served, JOB_TIMEOUT};
use netraven_shared::domain::{HostKeyPolicy, JobStatus, Outcome};
use netraven_simulator::{Fault, Platform};
use netraven_tests::{request, TestEnv};

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
    Ok(())
}
