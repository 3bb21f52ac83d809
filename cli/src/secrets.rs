//! `netraven secrets`: creating a key ring and rotating it.
//!
//! Rotation writes the new key in front of the old ones first (so every ciphertext stays
//! openable whatever happens next), then re-seals every credential under it in one
//! transaction. Workers that meet the new key id reload their key file by themselves.

use anyhow::{bail, Context, Result};
use netraven_shared::sealing::KeyRing;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const HEADER: &str = "# NetRaven sealing key ring: the first key seals, every key opens.\n";

/// Writes `text` to `path` with mode 0600, atomically (a reader never sees half a file).
pub fn write_private(path: &Path, text: &str, replace: bool) -> Result<()> {
    if !replace && path.exists() {
        bail!(
            "{} exists; refusing to overwrite a key that may seal stored secrets",
            path.display()
        );
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `netraven secrets init`: a new key ring of one key.
pub fn init(path: &Path) -> Result<String> {
    let line = KeyRing::generate_line()?;
    write_private(path, &format!("{HEADER}{line}\n"), false)?;
    Ok(line.split(' ').next().unwrap_or_default().to_string())
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotated {
    pub new_key_id: String,
    pub resealed: usize,
    pub keys_in_ring: usize,
}

/// `netraven secrets rotate`: a new current key, every credential re-sealed under it.
pub async fn rotate(client: &mut deadpool_postgres::Client, path: &Path) -> Result<Rotated> {
    let old =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    KeyRing::parse(&old).with_context(|| format!("{} is not a valid key ring", path.display()))?;
    let line = KeyRing::generate_line()?;
    let old_keys: String = old
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = format!("{HEADER}{line}\n{old_keys}");
    let ring = KeyRing::parse(&text)?;
    write_private(path, &text, true)?;

    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "SELECT id, name, sealed_secret FROM credentials ORDER BY id FOR UPDATE",
            &[],
        )
        .await?;
    let mut resealed = 0;
    for row in rows {
        let (id, name, sealed): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        if ring.is_current(&sealed) {
            continue;
        }
        let secret = ring.open(&sealed).with_context(|| {
            format!(
                "credential {name:?} cannot be opened with {}",
                path.display()
            )
        })?;
        tx.execute(
            "UPDATE credentials SET sealed_secret = $2, updated_at = now() WHERE id = $1",
            &[&id, &ring.seal(&secret)?],
        )
        .await?;
        resealed += 1;
    }
    tx.commit().await?;
    Ok(Rotated {
        new_key_id: ring.key_ids()[0].to_string(),
        resealed,
        keys_in_ring: ring.key_ids().len(),
    })
}
