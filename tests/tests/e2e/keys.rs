//! Key credentials: a credential holds an SSH private key instead of, or as well as, a
//! password. Keys made by OpenSSH's `ssh-keygen` in the formats operators bring (Ed25519
//! OpenSSH, ECDSA PEM, RSA PKCS#8 encrypted, RSA PEM), imported from files and
//! variables, sealed, and used by workers against simulated devices that accept keys per
//! device and against OpenSSH's own `sshd`; a key the import cannot use is refused with
//! its line; no key or passphrase reaches a log or a row.

use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{DeviceSpec, Platform};
use netraven_tests::sshd::{keygen, ClientKey, KeyFormat, Sshd};
use netraven_tests::{request, Captured, FleetBuilder, TestEnv};
use netraven_worker::client_keys;
use netraven_worker::ssh::{
    AuthOutcome, HostKeyCheck, OpenedCredential, OutputAllowance, OutputBudget, Session,
    SshOptions, SshTimeouts,
};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const PASSPHRASE: &str = "correct horse battery staple 7f3a";

/// The middle line of a key's text: key material that must never be seen outside.
fn material(key: &ClientKey) -> String {
    let lines: Vec<&str> = key.private.lines().collect();
    lines[lines.len() / 2].to_string()
}

fn device(name: &str, tag: &str) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, Platform::Linux);
    d.tags = vec![tag.into()];
    d
}

/// A job over key-only, password-only and mixed devices: each device ends with the
/// credential it accepts, after exactly the attempts the order implies; a rejected key
/// moves on to the next credential on the same connection when the username is the same;
/// a credential with a key and a password logs in with either. Nothing of a key, a
/// passphrase or a password is in the roles' logs or the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_over_key_only_password_only_and_mixed_devices() -> anyhow::Result<()> {
    let logs = Captured::install()?;

    let env = TestEnv::new().await?;
    let dir = tempfile::tempdir()?;
    let ed = keygen(dir.path(), "ed", "ed25519", None, KeyFormat::OpenSsh)?;
    let ec = keygen(dir.path(), "ec", "ecdsa", None, KeyFormat::Pem)?;
    let rsa8 = keygen(
        dir.path(),
        "rsa8",
        "rsa",
        Some(PASSPHRASE),
        KeyFormat::Pkcs8,
    )?;
    let rsapem = keygen(dir.path(), "rsapem", "rsa", None, KeyFormat::Pem)?;
    let mixed = keygen(
        dir.path(),
        "mixed",
        "ed25519",
        Some(PASSPHRASE),
        KeyFormat::OpenSsh,
    )?;
    std::fs::write(dir.path().join("passphrase"), format!("{PASSPHRASE}\n"))?;

    // `k`: four key credentials and one password, in priority order; netops twice, then
    // ops twice, then netops. `m`: one credential with a key and a password.
    let mut devices = vec![
        device("k-ed", "k"),
        device("k-ec", "k"),
        device("k-rsa8", "k"),
        device("k-rsapem", "k"),
        device("k-password", "k"),
        device("k-nothing", "k"),
        device("m-key", "m"),
        device("m-password", "m"),
    ];
    devices[0].accepts_keys = vec![("netops".into(), ed.public.clone())];
    devices[1].accepts_keys = vec![("netops".into(), ec.public.clone())];
    devices[2].accepts_keys = vec![("ops".into(), rsa8.public.clone())];
    devices[3].accepts_keys = vec![("ops".into(), rsapem.public.clone())];
    devices[4].accepts = vec![("netops".into(), "pw-9d2e-only".into())];
    // k-nothing takes a key nobody holds.
    devices[5].accepts_keys = vec![("netops".into(), mixed.public.clone())];
    devices[5].accepts_keys[0].0 = "nobody".into();
    devices[6].accepts_keys = vec![("admin".into(), mixed.public.clone())];
    devices[7].accepts = vec![("admin".into(), "mixed-pw-51c0".into())];
    let fleet = FleetBuilder::new(2222).devices(devices).start().await?;

    let mut yaml = String::from("tags:\n  - name: k\n  - name: m\ncredentials:\n");
    yaml.push_str(&format!(
        "  - {{ name: ed-key, username: netops, priority: 10, tags: [k], key_file: {} }}\n",
        ed.file.display()
    ));
    yaml.push_str(
        "  - { name: ec-pem, username: netops, priority: 20, tags: [k], key_env: NRT_EC_KEY }\n",
    );
    yaml.push_str(&format!(
        "  - {{ name: rsa-pkcs8, username: ops, priority: 30, tags: [k], key_file: {}, \
         key_passphrase_file: passphrase }}\n",
        rsa8.file.display()
    ));
    yaml.push_str(&format!(
        "  - {{ name: rsa-pem, username: ops, priority: 40, tags: [k], key_file: {} }}\n",
        rsapem.file.display()
    ));
    yaml.push_str(
        "  - { name: password, username: netops, priority: 50, tags: [k], secret_env: NRT_PW }\n",
    );
    yaml.push_str(&format!(
        "  - {{ name: both, username: admin, priority: 10, tags: [m], key_file: {}, \
         key_passphrase_env: NRT_PASSPHRASE, secret_env: NRT_MIXED_PW }}\n",
        mixed.file.display()
    ));
    yaml.push_str("devices:\n");
    for d in fleet.devices() {
        yaml.push_str(&format!(
            "  - {{ name: {}, host: 127.0.0.1, port: {}, platform: linux, tags: [{}] }}\n",
            d.name,
            d.port,
            &d.name[..1]
        ));
    }
    let path = dir.path().join("inventory.yaml");
    std::fs::write(&path, yaml)?;
    // The import reads variables from its own environment: set them for this process.
    std::env::set_var("NRT_EC_KEY", &ec.private);
    std::env::set_var("NRT_PW", "pw-9d2e-only");
    std::env::set_var("NRT_PASSPHRASE", PASSPHRASE);
    std::env::set_var("NRT_MIXED_PW", "mixed-pw-51c0");
    let imported = env.import_file(&path).await?;
    assert_eq!(imported.credentials, 6);

    let client = env.pool.get().await?;
    let stored: HashMap<String, (bool, Option<String>)> = client
        .query(
            "SELECT name, sealed_secret IS NOT NULL, key_fingerprint FROM credentials",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    assert!(stored["ed-key"]
        .1
        .as_deref()
        .is_some_and(|f| f.starts_with("ssh-ed25519 SHA256:")));
    assert!(stored["ec-pem"]
        .1
        .as_deref()
        .is_some_and(|f| f.starts_with("ecdsa-sha2-nistp256 SHA256:")));
    assert!(stored["rsa-pkcs8"]
        .1
        .as_deref()
        .is_some_and(|f| f.starts_with("ssh-rsa SHA256:")));
    assert_eq!(stored["password"], (true, None));
    assert!(stored["both"].0 && stored["both"].1.is_some());
    // What people see: how each logs in, by its public fingerprint, never the key.
    let listed = crate::views::netraven::json(&env, &["credential", "list"])?;
    let login = |name: &str| -> String {
        listed
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == name))
            .and_then(|c| c["login"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(login("password"), "password");
    assert_eq!(
        login("ed-key"),
        format!(
            "key ({})",
            stored["ed-key"].1.as_deref().unwrap_or_default()
        )
    );
    assert!(
        login("both").starts_with("key (ssh-ed25519 SHA256:")
            && login("both").ends_with(") + password")
    );
    let explained = crate::views::netraven::json(&env, &["device", "credentials", "m-key"])?;
    assert!(explained.to_string().contains("+ password"), "{explained}");

    let roles = env.start(1);
    let job = env
        .run_job(
            &request("config_backup", &["k", "m"], &[]),
            Duration::from_secs(60),
        )
        .await?;
    roles.stop().await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    let by_name: HashMap<&str, _> = results
        .iter()
        .map(|r| (r.device_name.as_str(), r))
        .collect();
    let expect = [
        ("k-ed", Some("ed-key"), 1),
        ("k-ec", Some("ec-pem"), 2),
        ("k-rsa8", Some("rsa-pkcs8"), 3),
        ("k-rsapem", Some("rsa-pem"), 4),
        ("k-password", Some("password"), 5),
        ("k-nothing", None, 5),
        ("m-key", Some("both"), 1),
        ("m-password", Some("both"), 1),
    ];
    for (name, credential, attempts) in expect {
        let r = by_name[name];
        let outcome = if credential.is_some() {
            Outcome::Success
        } else {
            Outcome::AuthFailed
        };
        assert_eq!(r.outcome, outcome, "{name}: {}", r.reason);
        assert_eq!(r.credential.as_deref(), credential, "{name}");
        assert_eq!(r.attempts, attempts, "{name}: attempts");
    }
    // A rejected key moves on on the same connection for the same username: ed-key then
    // ec-pem (both netops) on one; rsa-pkcs8 (ops) needs a second.
    assert_eq!(
        fleet.connections("k-ec"),
        1,
        "one connection for netops' two keys"
    );
    assert_eq!(fleet.connections("k-rsa8"), 2);
    // k-password: netops (2 keys), ops (2 keys), netops (the password): three connections.
    assert_eq!(fleet.connections("k-password"), 3);

    // Nothing secret anywhere.
    let dump = env.dump_database().await?;
    let log_text = logs.text()?;
    assert!(log_text.lines().count() > 100, "the roles logged at TRACE");
    let mut secrets: Vec<String> = [&ed, &ec, &rsa8, &rsapem, &mixed]
        .iter()
        .map(|k| material(k))
        .collect();
    secrets.extend([PASSPHRASE, "pw-9d2e-only", "mixed-pw-51c0", "PRIVATE KEY"].map(String::from));
    for secret in &secrets {
        assert!(
            !log_text.contains(secret.as_str()),
            "a secret is in the logs"
        );
        assert!(
            !dump.contains(secret.as_str()),
            "a secret is in the database"
        );
    }
    fleet.shutdown().await;
    Ok(())
}

/// What the import cannot use is refused with its line, and nothing is imported: a wrong
/// passphrase, a file that is not a key, a file that cannot be read, an encrypted key
/// without its passphrase, RSA under 2048 bits; never printing a key or a passphrase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_the_import_cannot_use_are_refused_with_their_line() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let dir = tempfile::tempdir()?;
    let locked = keygen(
        dir.path(),
        "locked",
        "ed25519",
        Some(PASSPHRASE),
        KeyFormat::OpenSsh,
    )?;
    let weak = dir.path().join("weak");
    netraven_tests::sh(&format!(
        "ssh-keygen -q -t rsa -b 1024 -N '' -f {}",
        weak.display()
    ))?;
    std::fs::write(dir.path().join("wrong"), "not the passphrase\n")?;
    std::fs::write(dir.path().join("notakey"), "hunter2-not-a-key\n")?;
    let yaml = format!(
        "tags:\n  - name: t\ncredentials:\n\
         \x20 - {{ name: wrong, username: u, tags: [t], key_file: {locked}, key_passphrase_file: wrong }}\n\
         \x20 - {{ name: notakey, username: u, tags: [t], key_file: notakey }}\n\
         \x20 - {{ name: missing, username: u, tags: [t], key_file: no-such-file }}\n\
         \x20 - {{ name: nopass, username: u, tags: [t], key_file: {locked} }}\n\
         \x20 - {{ name: weak, username: u, tags: [t], key_file: {weak} }}\n\
         \x20 - {{ name: nothing, username: u, tags: [t] }}\n",
        locked = locked.file.display(),
        weak = weak.display(),
    );
    let path = dir.path().join("inventory.yaml");
    std::fs::write(&path, yaml)?;
    let err = env.import_file(&path).await.expect_err("refused");
    let text = format!("{err:#}");
    for expected in [
        "line 4, column",
        ": credential \"wrong\": key_file",
        "the passphrase does not decrypt the key",
        "line 5, column",
        ": credential \"notakey\": key_file notakey: not a private key",
        "line 6, column",
        ": credential \"missing\": cannot read private key file",
        "line 7, column",
        ": credential \"nopass\": key_file",
        "the key is encrypted: give its passphrase",
        "line 8, column",
        "RSA keys of 1024 bits are too weak",
        "line 9, column 5: credential \"nothing\": give a secret",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    for secret in [
        material(&locked),
        PASSPHRASE.to_string(),
        "hunter2".into(),
        "not the passphrase".into(),
    ] {
        assert!(!text.contains(&secret), "a secret is printed:\n{text}");
    }
    let client = env.pool.get().await?;
    let n: i64 = client
        .query_one("SELECT count(*) FROM credentials", &[])
        .await?
        .get(0);
    assert_eq!(n, 0, "nothing imported");
    Ok(())
}

fn opened(
    key: &ClientKey,
    passphrase: Option<&str>,
    user: &str,
) -> anyhow::Result<OpenedCredential> {
    let decoded = client_keys::decode(&key.private, passphrase)?;
    Ok(OpenedCredential {
        username: user.to_string(),
        key: Some(Arc::new(decoded)),
        password: None,
    })
}

/// OpenSSH's `sshd` takes each algorithm and format by key (RSA signs with SHA-2: the
/// server lists them in `server-sig-algs`), and a key it refuses leaves the connection
/// open for the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_sshd_takes_each_kind_of_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keys = [
        (
            keygen(dir.path(), "ed", "ed25519", None, KeyFormat::OpenSsh)?,
            None,
        ),
        (
            keygen(dir.path(), "ec", "ecdsa", None, KeyFormat::Pem)?,
            None,
        ),
        (
            keygen(
                dir.path(),
                "rsa8",
                "rsa",
                Some(PASSPHRASE),
                KeyFormat::Pkcs8,
            )?,
            Some(PASSPHRASE),
        ),
        (
            keygen(dir.path(), "rsapem", "rsa", None, KeyFormat::Pem)?,
            None,
        ),
        (
            keygen(
                dir.path(),
                "edpass",
                "ed25519",
                Some(PASSPHRASE),
                KeyFormat::OpenSsh,
            )?,
            Some(PASSPHRASE),
        ),
    ];
    let stranger = keygen(dir.path(), "stranger", "ed25519", None, KeyFormat::OpenSsh)?;
    let authorized: Vec<&str> = keys.iter().map(|(k, _)| k.public.as_str()).collect();
    let sshd = Sshd::start(&authorized)?;
    let timeouts = SshTimeouts::default();
    let budget = OutputBudget::new(1 << 20, 1 << 20, 1);
    for (key, passphrase) in &keys {
        let mut s = Session::connect_with(
            "127.0.0.1",
            sshd.port,
            &timeouts,
            HostKeyCheck::Strict {
                pinned: Some(sshd.host_key.clone()),
            },
            &SshOptions::default(),
        )
        .await?;
        // A key sshd does not know first: rejected, the connection stays for the next.
        let refused = s
            .authenticate_credential(&opened(&stranger, None, &sshd.user)?)
            .await?;
        assert_eq!(refused, AuthOutcome::Rejected, "{}", key.file.display());
        assert!(s.can_try_username(&sshd.user));
        let outcome = s
            .authenticate_credential(&opened(key, *passphrase, &sshd.user)?)
            .await?;
        assert_eq!(
            outcome,
            AuthOutcome::Accepted,
            "{}: {}",
            key.file.display(),
            sshd.log()
        );
        let mut allowance: OutputAllowance = budget.allowance();
        let out = s.exec("echo logged-in-by-key", &mut allowance).await?;
        assert!(String::from_utf8_lossy(&out.stdout).contains("logged-in-by-key"));
        s.close().await;
    }
    let log = sshd.log();
    assert!(log.contains("Accepted publickey"), "{log}");
    assert!(log.contains("RSA SHA256:"), "an RSA key logged in: {log}");
    // A password is never sent to a server that takes keys only: a key-only credential.
    let none = OpenedCredential {
        username: sshd.user.clone(),
        key: None,
        password: Some(SecretString::from("never-sent")),
    };
    let mut s = Session::connect_with(
        "127.0.0.1",
        sshd.port,
        &timeouts,
        HostKeyCheck::Off,
        &SshOptions::default(),
    )
    .await?;
    assert_eq!(
        s.authenticate_credential(&none).await?,
        AuthOutcome::Rejected
    );
    s.close().await;
    Ok(())
}
