//! The worker's key ring, reloaded from its file when a task carries a secret sealed with a
//! key this worker has not loaded yet (after `netraven secrets rotate`), so rotation needs
//! no coordinated restart of the workers.

use netraven_shared::config::SecretSettings;
use netraven_shared::sealing::KeyRing;
use netraven_shared::Error;
use secrecy::SecretString;
use std::sync::{Arc, RwLock};

pub struct Keys {
    settings: SecretSettings,
    ring: RwLock<Arc<KeyRing>>,
}

impl Keys {
    /// Loads the ring; without one, the worker must not start.
    pub fn load(settings: &SecretSettings) -> Result<Keys, Error> {
        Ok(Keys {
            ring: RwLock::new(Arc::new(KeyRing::from_settings(settings)?)),
            settings: settings.clone(),
        })
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
                let reloaded = KeyRing::from_settings(&self.settings)?;
                let secret = reloaded.open(sealed);
                if secret.is_ok() {
                    tracing::info!(key.id = %id, keys = ?reloaded.key_ids(), "key ring reloaded: a newer key is in use");
                    let mut slot = match self.ring.write() {
                        Ok(w) => w,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    *slot = Arc::new(reloaded);
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

    #[test]
    fn a_rotated_key_file_is_picked_up_on_first_use() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("key");
        let old = KeyRing::generate_line().expect("key");
        std::fs::write(&path, format!("{old}\n")).expect("write");
        let settings = SecretSettings {
            key_file: Some(path.clone()),
            key: None,
        };
        let keys = Keys::load(&settings).expect("loads");
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
}
