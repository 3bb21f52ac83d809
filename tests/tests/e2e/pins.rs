//! Host-key pins in group commit (`netraven_worker::persist::Pinner`), against Postgres:
//! the devices of one worker that make first contact together share one statement, and
//! what trust on first use promises still holds — one key per device, whoever asks, and a
//! pin committed before the caller goes on to send secrets.

use netraven_tests::TestEnv;
use netraven_worker::persist::Pinner;
use netraven_worker::ssh::PresentedKey;
use std::collections::HashMap;
use tokio::task::JoinSet;

fn key(n: usize) -> PresentedKey {
    PresentedKey {
        algorithm: "ssh-ed25519".into(),
        public_key: format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{n:020}"),
        fingerprint: format!("SHA256:{n:043}"),
    }
}

async fn devices(env: &TestEnv, prefix: &str, n: i32) -> anyhow::Result<Vec<i64>> {
    let client = env.pool.get().await?;
    Ok(client
        .query(
            "INSERT INTO devices (name, host, port, platform)
             SELECT $1 || g, '127.0.0.1', 22, 'linux' FROM generate_series(1, $2) g
             RETURNING id",
            &[&prefix, &n],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

async fn stored(env: &TestEnv, device: i64) -> anyhow::Result<Option<String>> {
    let client = env.pool.get().await?;
    Ok(client
        .query_opt(
            "SELECT public_key FROM host_keys WHERE device_id = $1",
            &[&device],
        )
        .await?
        .map(|r| r.get(0)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_contacts_pin_one_key_per_device() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let ids = devices(&env, "pin-", 300).await?;
    // Two workers meet every device at the same moment, each shown another key; the same
    // worker meets the first 50 twice more (a redelivered task) with yet another key.
    let workers = [
        Pinner::start(env.pool.clone()),
        Pinner::start(env.pool.clone()),
    ];
    let mut asks = JoinSet::new();
    for (n, &id) in ids.iter().enumerate() {
        let mut shown = vec![(0, 3 * n), (1, 3 * n + 1)];
        if n < 50 {
            shown.push((0, 3 * n + 2));
        }
        for (w, k) in shown {
            let pinner = workers[w].clone();
            asks.spawn(async move { (id, k, pinner.pin(id, &key(k)).await) });
        }
    }
    let mut answers: HashMap<i64, Vec<(usize, String)>> = HashMap::new();
    while let Some(joined) = asks.join_next().await {
        let (id, k, answer) = joined?;
        let pinned = answer.map_err(anyhow::Error::msg)?;
        answers.entry(id).or_default().push((k, pinned));
    }
    assert_eq!(answers.len(), ids.len(), "every device answered");
    for (n, id) in ids.iter().enumerate() {
        let got = &answers[id];
        assert_eq!(got.len(), if n < 50 { 3 } else { 2 });
        let winner = &got[0].1;
        assert!(
            got.iter().all(|(_, pinned)| pinned == winner),
            "device {id}: every caller is told the same pinned key: {got:?}"
        );
        assert!(
            got.iter().any(|(k, _)| &key(*k).public_key == winner),
            "device {id}: the pinned key is one of those shown"
        );
        // Exactly one caller sees its own key: the others get a mismatch and send nothing.
        let own = got
            .iter()
            .filter(|(k, pinned)| &key(*k).public_key == pinned)
            .count();
        assert_eq!(own, 1, "device {id}: {got:?}");
        assert_eq!(stored(&env, *id).await?.as_ref(), Some(winner));
    }
    // A repeat of a pinned device returns the pin, whatever key it is shown.
    let again = workers[1].pin(ids[7], &key(99_999)).await;
    assert_eq!(again.ok(), stored(&env, ids[7]).await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_deleted_meanwhile_fails_alone_in_its_batch() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let ids = devices(&env, "batch-", 20).await?;
    let gone = ids[5];
    env.pool
        .get()
        .await?
        .execute("DELETE FROM devices WHERE id = $1", &[&gone])
        .await?;
    let pinner = Pinner::start(env.pool.clone());
    let mut asks = JoinSet::new();
    for (n, &id) in ids.iter().enumerate() {
        let pinner = pinner.clone();
        asks.spawn(async move { (id, n, pinner.pin(id, &key(n)).await) });
    }
    while let Some(joined) = asks.join_next().await {
        let (id, n, answer) = joined?;
        if id == gone {
            let e = answer.expect_err("a deleted device cannot be pinned");
            assert!(e.to_string().contains("no longer in the inventory"), "{e}");
        } else {
            assert_eq!(answer.as_deref().ok(), Some(key(n).public_key.as_str()));
            assert_eq!(stored(&env, id).await?, Some(key(n).public_key));
        }
    }
    Ok(())
}
