//! Inventory problems with jump hosts, each with its line; a file with any imports nothing.

use netraven_cli::inventory::Invalid;
use netraven_tests::TestEnv;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOn0tN6QZWMyc5W2zSarme0mlYEWHkx5iG+A4bdnCwcJ";

async fn refused(env: &TestEnv, yaml: &str) -> anyhow::Result<Vec<String>> {
    let path = env.dir.path().join("refused.yaml");
    std::fs::write(&path, yaml)?;
    let e = env.import_file(&path).await.expect_err("refused");
    let invalid = e.downcast_ref::<Invalid>().expect("an Invalid");
    Ok(invalid.problems.iter().map(ToString::to_string).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_host_problems_are_refused_with_their_lines() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // A good file first: a stored jump host and credential, a tag naming it.
    let good = format!(
        "tags:\n  - {{ name: west, jump_host: b1 }}\n  - name: east\n\
         credentials:\n  - {{ name: jc, username: jump, secret: s1, tags: [west] }}\n\
         jump_hosts:\n  - {{ name: b1, host: 10.0.0.1, credential: jc, host_key: {KEY} }}\n\
         devices:\n  - {{ name: r1, host: 10.1.0.1, platform: linux, tags: [west] }}\n"
    );
    let path = env.dir.path().join("good.yaml");
    std::fs::write(&path, &good)?;
    let imported = env.import_file(&path).await?;
    assert_eq!(imported.jump_hosts, 1);
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT j.name, j.port, j.max_channels, c.name FROM tags t
             JOIN jump_hosts j ON j.id = t.jump_host_id JOIN credentials c ON c.id = j.credential_id
             WHERE t.name = 'west'",
            &[],
        )
        .await?;
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, i32>(1),
            row.get::<_, i32>(2),
            row.get::<_, String>(3)
        ),
        ("b1".to_string(), 22, 10, "jc".to_string())
    );

    // Everything wrong at once: names unknown here and in Postgres, a bad key, a
    // fingerprint, a loop, a cap out of range, a device whose tags (one of them stored)
    // name two jump hosts.
    let bad = format!(
        "tags:\n\
         \x20 - {{ name: north, jump_host: b2 }}\n\
         \x20 - {{ name: south, jump_host: nowhere }}\n\
         credentials:\n\
         \x20 - {{ name: jc2, username: jump, secret: s2, tags: [north] }}\n\
         jump_hosts:\n\
         \x20 - {{ name: b2, host: 10.0.0.2, credential: jc2, host_key: {KEY} }}\n\
         \x20 - {{ name: b3, host: 10.0.0.3, credential: missing-cred, host_key: not-a-key }}\n\
         \x20 - {{ name: b4, host: 10.0.0.4, credential: jc, host_key: 'SHA256:abc', via: b5 }}\n\
         \x20 - {{ name: b5, host: 10.0.0.5, credential: jc, host_key: {KEY}, via: b4, max_channels: 0 }}\n\
         devices:\n\
         \x20 - {{ name: r2, host: 10.1.0.2, platform: linux, tags: [north, west] }}\n\
         \x20 - {{ name: r3, host: 10.1.0.3, platform: linux, jump_host: ghost }}\n"
    );
    let problems = refused(&env, &bad).await?;
    let all = problems.join("\n");
    eprintln!("{all}");
    for expected in [
        "line 3, column 31: tag \"south\": unknown jump host \"nowhere\": it is neither under `jump_hosts:` nor stored",
        "line 8, column 45: jump host \"b3\": unknown credential \"missing-cred\"",
        "line 8, column 69: jump host \"b3\": host_key is not an OpenSSH public key line",
        "line 9, column 59: jump host \"b4\": host_key is a fingerprint",
        "jump host \"b4\": its via chain loops (b4 → b5 → b4)",
        "jump host \"b5\": max_channels 0 is out of range (1 to 1000)",
        "line 12, column 13: device \"r2\": its tags name different jump hosts (tag \"west\" names \"b1\", tag \"north\" names \"b2\")",
        "line 13, column 61: device \"r3\": unknown jump host \"ghost\"",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in\n{all}");
    }
    assert_eq!(problems.len(), 8, "{all}");
    // Nothing of the bad file was written.
    let n: i64 = client
        .query_one("SELECT count(*) FROM jump_hosts", &[])
        .await?
        .get(0);
    assert_eq!(n, 1);
    Ok(())
}
