//! Enable secrets apart from the login: a credential's own enable secret answers the
//! device's enable prompt; a login whose enable is refused is an `ENABLE_REFUSED` attempt,
//! the next credential is tried on a connection of its own, and a device no credential
//! gets privileged on ends `AUTH_FAILED`, "enable refused", naming the credentials.

use netraven_dispatcher::job_rows;
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{DeviceSpec, Platform};
use netraven_tests::{credential, request, FleetBuilder, TestEnv};
use std::collections::HashMap;
use std::time::Duration;

const LOGIN: &str = "tacacs-login-pw";
const ENABLE: &str = "tacacs-enable-pw";
const BREAKGLASS: &str = "breakglass-pw";

fn device(name: &str, platform: Platform, accepts: &[(&str, &str)], enable: &str) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, platform);
    d.tags = vec!["site".into()];
    d.accepts = accepts
        .iter()
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect();
    d.enable_secret = Some(enable.into());
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enable_secret_is_the_credentials_own_and_a_refusal_tries_the_next(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let tacacs = ("netops", LOGIN);
    let breakglass = ("breakglass", BREAKGLASS);
    let fleet = FleetBuilder::new(2202)
        .credential(
            credential("tacacs", "netops", LOGIN)
                .enable_secret(ENABLE)
                .priority(10)
                .tags(&["site"]),
        )
        .credential(
            credential("breakglass", "breakglass", BREAKGLASS)
                .priority(20)
                .tags(&["site"]),
        )
        // Enable secret apart from the login: taken from the credential.
        .device(device("ios-own", Platform::CiscoIos, &[tacacs], ENABLE))
        .device(device("asa-own", Platform::CiscoAsa, &[tacacs], ENABLE))
        // tacacs logs in but its enable secret is not this device's; breakglass's
        // password is (no enable secret of its own: its password answers).
        .device(device(
            "ios-breakglass",
            Platform::CiscoIos,
            &[tacacs, breakglass],
            BREAKGLASS,
        ))
        // Nobody gets privileged.
        .device(device(
            "ios-nobody",
            Platform::CiscoIos,
            &[tacacs],
            "another-one",
        ))
        .start()
        .await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let client = env.pool.get().await?;

    let job = env
        .run_job(
            &request("config_backup", &["site"], &[]),
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let results: HashMap<String, job_rows::DeviceResult> = job_rows::results(&client, job.id)
        .await?
        .into_iter()
        .map(|r| (r.device_name.clone(), r))
        .collect();
    for name in ["ios-own", "asa-own"] {
        let r = &results[name];
        assert_eq!(r.outcome, Outcome::Success, "{name}: {}", r.reason);
        assert_eq!(r.credential.as_deref(), Some("tacacs"), "{name}");
    }
    let r = &results["ios-breakglass"];
    assert_eq!(r.outcome, Outcome::Success, "ios-breakglass: {}", r.reason);
    assert_eq!(r.credential.as_deref(), Some("breakglass"));
    let r = &results["ios-nobody"];
    assert_eq!(r.outcome, Outcome::AuthFailed, "{}", r.reason);
    assert!(
        r.reason.starts_with("enable refused")
            && r.reason.contains("tacacs")
            && r.reason.contains("1 other credentials were rejected"),
        "{}",
        r.reason
    );

    // The attempts say what happened to each credential on each device.
    let rows = client
        .query(
            "SELECT d.name, c.name, a.outcome FROM credential_attempts a
             JOIN credentials c ON c.id = a.credential_id JOIN devices d ON d.id = a.device_id
             ORDER BY d.name, a.attempt",
            &[],
        )
        .await?;
    let attempts: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("asa-own", "tacacs", "SUCCESS"),
        ("ios-breakglass", "tacacs", "ENABLE_REFUSED"),
        ("ios-breakglass", "breakglass", "SUCCESS"),
        ("ios-nobody", "tacacs", "ENABLE_REFUSED"),
        ("ios-nobody", "breakglass", "REJECTED"),
        ("ios-own", "tacacs", "SUCCESS"),
    ]
    .into_iter()
    .map(|(d, c, o)| (d.into(), c.into(), o.into()))
    .collect();
    assert_eq!(attempts, expected);

    // A refused enable counts against the credential; affinity goes to the one that got
    // in, so the next job tries breakglass first on ios-breakglass.
    let row = client
        .query_one(
            "SELECT success_count, failure_count FROM credentials WHERE name = 'tacacs'",
            &[],
        )
        .await?;
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (2, 2));
    let sealed: Option<String> = client
        .query_one(
            "SELECT sealed_enable FROM credentials WHERE name = 'tacacs'",
            &[],
        )
        .await?
        .get(0);
    assert!(sealed.is_some_and(|s| s.starts_with("nrv1:") && !s.contains(ENABLE)));

    // `credential list` says which credential carries an enable secret, never the secret.
    let out = env
        .command()?
        .args(["credential", "list", "--json"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let list: serde_json::Value = serde_json::from_str(&stdout)?;
    let login = |name: &str| {
        list.as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == name))
            .map(|c| c["login"].clone())
    };
    assert_eq!(login("tacacs"), Some("password + enable secret".into()));
    assert_eq!(login("breakglass"), Some("password".into()));
    assert!(
        !stdout.contains(ENABLE) && !stdout.contains("nrv1:"),
        "{stdout}"
    );

    // Each device saw the secrets typed at its enable prompt, never as a command.
    for name in ["ios-own", "asa-own", "ios-breakglass", "ios-nobody"] {
        let commands = fleet.commands(name);
        assert!(
            !commands
                .iter()
                .any(|c| c.contains(ENABLE) || c.contains(LOGIN) || c.contains(BREAKGLASS)),
            "{name}: {commands:?}"
        );
    }

    let again = env
        .run_job(
            &request("config_backup", &[], &["ios-breakglass"]),
            Duration::from_secs(60),
        )
        .await?;
    let rows = client
        .query(
            "SELECT c.name, a.outcome FROM credential_attempts a
             JOIN credentials c ON c.id = a.credential_id WHERE a.job_id = $1",
            &[&again.id],
        )
        .await?;
    let tried: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(tried, [("breakglass".to_string(), "SUCCESS".to_string())]);

    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
