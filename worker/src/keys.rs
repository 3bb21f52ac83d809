//! The worker's key ring. It is reloaded from its file when the file changes (the
//! [`crate::key_reports`] task polls it, see [`Keys::reload_if_changed`]) and, as a last
//! resort, when a task carries a secret sealed with a key this worker has not loaded yet,
//! so a rotation needs no restart of the workers.

use netraven_shared::config::SecretSettings;
use netraven_shared::sealing::KeyRing;
use netraven_shared::Error;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex, RwLock};

pub struct Keys {
    settings: SecretSettings,
    ring: RwLock<Arc<KeyRing>>,
    /// SHA-256 of the key file's text the ring was loaded from (None: an inline key).
    loaded_from: Mutex<Option<[u8; 32]>>,
}

impl Keys {
    /// Loads the ring; without one, the worker must not start.
    pub fn load(settings: &SecretSettings) -> Result<Keys, Error> {
        let (ring, digest) = Self::read(settings)?;
        Ok(Keys {
            ring: RwLock::new(Arc::new(ring)),
            settings: settings.clone(),
            loaded_from: Mutex::new(digest),
        })
    }

    /// The ring from the settings, with the digest of the key file's text.
    fn read(settings: &SecretSettings) -> Result<(KeyRing, Option<[u8; 32]>), Error> {
        match (&settings.key, &settings.key_file) {
            (None, Some(path)) => {
                let text = Self::read_file(path)?;
                let ring = KeyRing::parse(&text)
                    .map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
                Ok((ring, Some(Sha256::digest(text.as_bytes()).into())))
            }
            _ => Ok((KeyRing::from_settings(settings)?, None)),
        }
    }

    fn read_file(path: &std::path::Path) -> Result<String, Error> {
        std::fs::read_to_string(path).map_err(|e| {
            Error::Key(format!(
                "cannot read key file {}: {e} (create one with `netraven secrets init --key-file {}`)",
                path.display(),
                path.display()
            ))
        })
    }

    /// The ids of the keys this worker holds, the sealing key first.
    pub fn key_ids(&self) -> Vec<String> {
        self.current()
            .key_ids()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Reloads the ring when the key file's text changed since it was loaded. Returns
    /// whether it did. A file that no longer parses is an error and the ring in use stays
    /// (so this worker goes on opening what it could, and reports the keys it really holds).
    pub fn reload_if_changed(&self) -> Result<bool, Error> {
        let Some(path) = self
            .settings
            .key_file
            .as_ref()
            .filter(|_| self.settings.key.is_none())
        else {
            return Ok(false);
        };
        let text = Self::read_file(path)?;
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        if *self.lock_digest() == Some(digest) {
            return Ok(false);
        }
        let ring =
            KeyRing::parse(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
        tracing::info!(keys = ?ring.key_ids(), sealing = ring.sealing_key_id(), file = %path.display(), "key file changed: key ring reloaded");
        self.install(ring, Some(digest));
        Ok(true)
    }

    fn lock_digest(&self) -> std::sync::MutexGuard<'_, Option<[u8; 32]>> {
        match self.loaded_from.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn install(&self, ring: KeyRing, digest: Option<[u8; 32]>) {
        let mut slot = match self.ring.write() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(ring);
        *self.lock_digest() = digest;
    }

    fn current(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Opens a sealed secret, reloading the key file once if the key is unknown.
    pub fn open(&self, sealed: &str) -> Result<SecretString, Error> {
        match self.current().open(sealed) {
            Err(Error::UnknownKey(id)) => {
                let (reloaded, digest) = Self::read(&self.settings)?;
                let secret = reloaded.open(sealed);
                if secret.is_ok() {
                    tracing::info!(key.id = %id, keys = ?reloaded.key_ids(), "key ring reloaded: a newer key is in use");
                    self.install(reloaded, digest);
                }
                secret
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key file of one key in a fresh folder (kept alive by the returned guard), and the
    /// worker's keys loaded from it.
    fn one_key_file() -> (tempfile::TempDir, std::path::PathBuf, String, Keys) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("key");
        let old = KeyRing::generate_line().expect("key");
        std::fs::write(&path, format!("{old}\n")).expect("write");
        let settings = SecretSettings {
            key_file: Some(path.clone()),
            key: None,
        };
        let keys = Keys::load(&settings).expect("loads");
        (dir, path, old, keys)
    }

    #[test]
    fn a_rotated_key_file_is_picked_up_on_first_use() {
        let (_dir, path, old, keys) = one_key_file();
        let sealed_old = KeyRing::parse(&old)
            .expect("ring")
            .seal(&SecretString::from("s1"))
            .expect("seal");
        assert!(keys.open(&sealed_old).is_ok());

        let new = KeyRing::generate_line().expect("key");
        std::fs::write(&path, format!("{new}\n{old}\n")).expect("rotate");
        let sealed_new = KeyRing::parse(&new)
            .expect("ring")
            .seal(&SecretString::from("s2"))
            .expect("seal");
        use secrecy::ExposeSecret;
        assert_eq!(
            keys.open(&sealed_new).expect("reloads").expose_secret(),
            "s2"
        );
        assert_eq!(
            keys.open(&sealed_old)
                .expect("old still opens")
                .expose_secret(),
            "s1"
        );
        let stranger = KeyRing::parse(&KeyRing::generate_line().expect("key")).expect("ring");
        let sealed_elsewhere = stranger.seal(&SecretString::from("s3")).expect("seal");
        assert!(matches!(
            keys.open(&sealed_elsewhere),
            Err(Error::UnknownKey(_))
        ));
    }

    #[test]
    fn a_changed_key_file_is_reloaded_when_polled_and_a_broken_one_is_not() {
        let (_dir, path, old, keys) = one_key_file();
        let old_id = old.split(' ').next().expect("id").to_string();
        assert_eq!(keys.key_ids(), vec![old_id.clone()]);
        assert!(!keys.reload_if_changed().expect("reads"), "unchanged");

        let new = KeyRing::generate_line().expect("key");
        let new_id = new.split(' ').next().expect("id").to_string();
        std::fs::write(&path, format!("{old}\n{new}\n")).expect("add");
        assert!(keys.reload_if_changed().expect("reads"));
        assert_eq!(keys.key_ids(), vec![old_id.clone(), new_id.clone()]);
        assert!(!keys.reload_if_changed().expect("reads"), "loaded once");

        std::fs::write(&path, "garbage\n").expect("break");
        let err = keys.reload_if_changed().expect_err("broken file");
        assert!(err.to_string().contains("line 1"), "{err}");
        assert_eq!(
            keys.key_ids(),
            vec![old_id, new_id],
            "the ring in use stays"
        );

        let inline = Keys::load(&SecretSettings {
            key_file: None,
            key: Some(SecretString::from(old)),
        })
        .expect("inline");
        assert!(!inline.reload_if_changed().expect("nothing to poll"));
    }
}
