//! The key ring file: written private (0600), rewritten in place keeping owner and mode,
//! and the two commands that only touch it: `secrets init` and `secrets add-key`.

use anyhow::{bail, Context, Result};
use netraven_shared::sealing::{ring_file, KeyRing};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub(super) const HEADER: &str =
    "# NetRaven sealing key ring: the first key seals, every key opens.\n";

/// Jobs whose tasks may still carry secrets sealed with a key (open, created before it
/// stopped sealing) are listed up to this many when `retire` refuses.
pub(super) const LISTED: i64 = 10;

/// Writes a new key file with mode 0600, atomically (a reader never sees half a file).
/// Refuses to replace an existing file.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    if path.exists() {
        bail!(
            "{} exists; refusing to overwrite a key file (its keys may still be in use)",
            path.display()
        );
    }
    write_atomically(path, text, None)
}

/// Replaces the key file's text atomically, keeping its owner, group and mode: a temporary
/// file in the same folder gets the original's owner and mode, the text, an fsync, then
/// takes the original's name; the folder is fsynced so the rename survives a crash. A
/// symbolic link is followed: the file it points to is replaced and the link stays.
pub fn rewrite(path: &Path, text: &str) -> Result<()> {
    let target =
        std::fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))?;
    let meta =
        std::fs::metadata(&target).with_context(|| format!("cannot read {}", target.display()))?;
    write_atomically(&target, text, Some(&meta))
}

pub(super) fn write_atomically(
    path: &Path,
    text: &str,
    like: Option<&std::fs::Metadata>,
) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?
        .to_string_lossy();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        if let Some(meta) = like {
            let mine = f.metadata()?;
            if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
                std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid())).with_context(
                    || {
                        format!(
                            "cannot give the new {} its owner {}:{} (run as that user or root)",
                            path.display(),
                            meta.uid(),
                            meta.gid()
                        )
                    },
                )?;
            }
            f.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

pub(super) fn read_ring(path: &Path) -> Result<(String, KeyRing)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let ring = KeyRing::parse(&text)
        .with_context(|| format!("{} is not a valid key ring", path.display()))?;
    Ok((text, ring))
}

/// `netraven secrets init`: a new key ring of one key.
pub fn init(path: &Path) -> Result<String> {
    let line = KeyRing::generate_line()?;
    write_private(path, &format!("{HEADER}{line}\n"))?;
    Ok(line.split(' ').next().unwrap_or_default().to_string())
}

/// What `add-key` did.
#[derive(Debug)]
pub struct Added {
    pub key_id: String,
    pub sealing_key_id: String,
    pub keys_in_ring: usize,
}

/// `netraven secrets add-key`: a new key at the end of the ring; it does not seal yet.
pub fn add_key(path: &Path) -> Result<Added> {
    let (text, _) = read_ring(path)?;
    let (text, key_id) = ring_file::add_key(&text)?;
    rewrite(path, &text)?;
    let ring = KeyRing::parse(&text)?;
    Ok(Added {
        key_id,
        sealing_key_id: ring.sealing_key_id().to_string(),
        keys_in_ring: ring.key_ids().len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_keeps_the_files_mode_and_owner_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ring.key");
        let id = init(&path).expect("init");
        let meta = std::fs::metadata(&path).expect("meta");
        assert_eq!(meta.mode() & 0o777, 0o600, "init writes 0600");
        assert!(init(&path).is_err(), "init never overwrites");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let added = add_key(&path).expect("add");
        assert_eq!(added.sealing_key_id, id);
        assert_eq!(added.keys_in_ring, 2);
        let after = std::fs::metadata(&path).expect("meta");
        assert_eq!(after.mode() & 0o777, 0o640, "mode kept");
        assert_eq!(
            (after.uid(), after.gid()),
            (meta.uid(), meta.gid()),
            "owner kept"
        );
        assert_ne!(
            after.ino(),
            meta.ino(),
            "replaced by rename, not written in place"
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(HEADER), "{text}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["ring.key".to_string()]);

        // A link to the key file stays a link; the file it points to is rewritten.
        let link = dir.path().join("current.key");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        let added = add_key(&link).expect("add through the link");
        assert_eq!(added.keys_in_ring, 3);
        assert!(std::fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink());
        assert_eq!(
            KeyRing::parse(&std::fs::read_to_string(&path).expect("read"))
                .expect("ring")
                .key_ids()
                .len(),
            3
        );
        assert_eq!(
            std::fs::metadata(&path).expect("meta").mode() & 0o777,
            0o640
        );
    }
}
