//! `netraven broker setup`: definitions with password hashes only; a role that may not declare names the missing queue.

use netraven_shared::broker::{self};
use netraven_tests::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_prints_definitions_with_password_hashes_only() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let ns = env.settings.amqp.namespace.clone();
    let secret = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let file = env.dir.path().join("worker.password");
    std::fs::write(&file, format!("{secret}-file\n"))?;
    let mut args: Vec<String> = vec!["broker".into(), "setup".into(), "--print".into()];
    for role in ["dispatcher", "aggregator", "api", "operator"] {
        args.push("--password-env".into());
        args.push(format!("{ns}-{role}=NR_TEST_PASSWORD"));
    }
    args.push("--password-file".into());
    args.push(format!("{ns}-worker={}", file.display()));
    args.extend(["--submitter".into(), "alice".into()]);

    // A password missing for one account: refused, naming the account and the flags.
    let out = env
        .command()?
        .args(&args)
        .env("NR_TEST_PASSWORD", &secret)
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("no password for alice") && err.contains("--password-file alice=PATH"),
        "{err}"
    );

    args.extend(["--password-env".into(), "alice=NR_TEST_PASSWORD".into()]);
    let out = env
        .command()?
        .args(&args)
        .env("NR_TEST_PASSWORD", &secret)
        .output()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains(&secret) && !stderr.contains(&secret),
        "a password was printed"
    );
    let defs: serde_json::Value = serde_json::from_str(&stdout)?;
    let users = defs["users"].as_array().expect("users");
    assert_eq!(users.len(), 6);
    for u in users {
        assert_eq!(u["hashing_algorithm"], "rabbit_password_hashing_sha256");
        // base64 of a 4-byte salt and a SHA-256 digest.
        assert_eq!(u["password_hash"].as_str().map(str::len), Some(48), "{u}");
    }
    let worker = defs["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .find(|p| p["user"] == format!("{ns}-worker"))
        .expect("the worker's permissions");
    let esc = ns.replace('.', "\\.");
    assert_eq!(worker["configure"], "^$");
    assert_eq!(
        worker["read"],
        format!("^({esc}\\.tasks\\.device|{esc}\\.tasks\\.interactive)$")
    );
    assert_eq!(worker["write"], format!("^({esc}\\.results|{esc}\\.dead)$"));
    assert_eq!(defs["queues"].as_array().map(Vec::len), Some(6));
    assert_eq!(defs["bindings"].as_array().map(Vec::len), Some(6));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_declaring_names_the_missing_queue_and_the_fix() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let mut amqp = env.settings.amqp.clone();
    amqp.declare_topology = false;
    let conn = broker::connect(&amqp, "test-acl").await?;
    // Nothing declared this namespace yet.
    let queue = env.names.tasks_queue();
    let err = broker::consume(&conn, &env.names, &amqp, &queue, 1, broker::Scope::Topology)
        .await
        .expect_err("no queue to consume from");
    let text = err.to_string();
    assert!(
        text.contains(&queue)
            && text.contains("netraven broker setup")
            && text.contains("NOT_FOUND"),
        "{text}"
    );
    // Nor did the check declare it.
    let channel = conn.create_channel().await?;
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    assert!(channel
        .queue_declare(queue.into(), passive, Default::default())
        .await
        .is_err());
    let _ = conn.close(200, "ok".into()).await;
    Ok(())
}
