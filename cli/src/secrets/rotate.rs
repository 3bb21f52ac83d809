//! `netraven secrets rotate`: add-key, wait for the workers to hold it, reseal.

use super::key_file::{add_key, Added};
use super::reseal::{reseal, Resealed};
use super::workers::running_workers;
use anyhow::{bail, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// What `rotate` did.
#[derive(Debug)]
pub struct Rotated {
    pub added: Added,
    pub resealed: Resealed,
}

/// `netraven secrets rotate`: add-key, then wait up to `wait` for every running worker to
/// hold the new key, then reseal. When the workers do not all get it in time, the new key
/// stays in the ring (not sealing) and the error names the workers and the next step.
pub async fn rotate(
    client: &mut deadpool_postgres::Client,
    path: &Path,
    wait: Duration,
) -> Result<Rotated> {
    let added = add_key(path)?;
    let until = Instant::now() + wait;
    loop {
        let workers = running_workers(client).await?;
        if workers.iter().all(|w| w.key_ids.contains(&added.key_id)) {
            break;
        }
        if Instant::now() >= until {
            let lacking: Vec<String> = workers
                .iter()
                .filter(|w| !w.key_ids.contains(&added.key_id))
                .map(|w| format!("  {w}"))
                .collect();
            bail!(
                "added key {} to {} (it does not seal yet), but after {:?} these running \
                 workers still cannot open it:\n{}\nGive them the key file or restart them, \
                 then run `netraven secrets reseal`.",
                added.key_id,
                path.display(),
                wait,
                lacking.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let resealed = reseal(client, path, Some(&added.key_id)).await?;
    Ok(Rotated { added, resealed })
}
