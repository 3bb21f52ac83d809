//! Host key checking: the presented key, its OpenSSH fingerprint, and pin verification.

use russh::keys::{HashAlg, PublicKey};

use super::error::SshError;

/// How to check the server's host key. `pinned` is the key previously pinned for this
/// device: an OpenSSH public key line (`ssh-ed25519 AAAA... [comment]`) or, also
/// accepted, its fingerprint (`SHA256:...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// Trust on first use: with nothing pinned any key is accepted (the caller then pins
    /// [`PresentedKey::public_key`]); with a pin, the key must match it.
    AcceptNew { pinned: Option<String> },
    /// The key must match the pin; nothing pinned fails with
    /// [`SshError::HostKeyNotPinned`].
    Strict { pinned: Option<String> },
    /// Any key is accepted. Insecure: the caller should log it.
    Off,
}

/// The host key the server presented during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    /// Key algorithm, e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`.
    pub algorithm: String,
    /// OpenSSH public key line without comment: `ssh-ed25519 AAAA...`.
    pub public_key: String,
    /// OpenSSH SHA-256 fingerprint: `SHA256:<base64 without padding>`.
    pub fingerprint: String,
}

impl PresentedKey {
    /// Describes `key` (its comment, if any, is dropped).
    pub(crate) fn from_public_key(key: &PublicKey) -> Result<PresentedKey, String> {
        let bare = PublicKey::new(key.key_data().clone(), "");
        let public_key = bare
            .to_openssh()
            .map_err(|e| format!("cannot encode host key: {e}"))?;
        Ok(PresentedKey {
            algorithm: key.algorithm().as_str().to_string(),
            public_key: public_key.trim_end().to_string(),
            fingerprint: fingerprint(key),
        })
    }
}

/// OpenSSH-style SHA-256 fingerprint of a public key: `SHA256:<base64 without padding>`.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Fingerprint of an OpenSSH public key line, `None` if it does not parse.
pub fn fingerprint_of_line(line: &str) -> Option<String> {
    PublicKey::from_openssh(line.trim())
        .ok()
        .map(|k| fingerprint(&k))
}

/// Checks the presented key against the policy. Runs inside the handshake, before any
/// authentication request is sent.
pub(crate) fn verify(
    check: &HostKeyCheck,
    key: &PublicKey,
    presented: &PresentedKey,
) -> Result<(), SshError> {
    let pinned = match check {
        HostKeyCheck::Off | HostKeyCheck::AcceptNew { pinned: None } => return Ok(()),
        HostKeyCheck::Strict { pinned: None } => {
            return Err(SshError::HostKeyNotPinned {
                presented_fingerprint: presented.fingerprint.clone(),
            })
        }
        HostKeyCheck::AcceptNew { pinned: Some(p) } | HostKeyCheck::Strict { pinned: Some(p) } => {
            p.trim()
        }
    };
    let mismatch = |expected: String| SshError::HostKeyMismatch {
        expected_fingerprint: expected,
        presented_fingerprint: presented.fingerprint.clone(),
    };
    if pinned.starts_with("SHA256:") {
        return if pinned == presented.fingerprint {
            Ok(())
        } else {
            Err(mismatch(pinned.to_string()))
        };
    }
    match PublicKey::from_openssh(pinned) {
        Ok(pinned_key) if pinned_key.key_data() == key.key_data() => Ok(()),
        Ok(pinned_key) => Err(mismatch(fingerprint(&pinned_key))),
        // A pin we cannot read must not let an unknown key through.
        Err(_) => Err(mismatch("<unreadable pinned key>".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two real ed25519 public keys (from `ssh-keygen -t ed25519`).
    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfszSJ/4ObMqCRANc2dVQh";

    fn key(line: &str) -> (PublicKey, PresentedKey) {
        let k = PublicKey::from_openssh(line).expect("test key parses");
        let p = PresentedKey::from_public_key(&k).expect("test key encodes");
        (k, p)
    }

    #[test]
    fn presented_key_is_openssh_line_and_fingerprint() {
        let (_, p) = key(&format!("{KEY_A} root@router"));
        assert_eq!(p.algorithm, "ssh-ed25519");
        assert_eq!(p.public_key, KEY_A, "comment dropped");
        assert!(p.fingerprint.starts_with("SHA256:"));
        assert!(!p.fingerprint.ends_with('='), "no base64 padding");
        assert_eq!(p.fingerprint.len(), "SHA256:".len() + 43);
        assert_eq!(
            fingerprint_of_line(KEY_A).as_deref(),
            Some(p.fingerprint.as_str())
        );
    }

    #[test]
    fn policies() {
        let (k, p) = key(KEY_A);
        let (_, other) = key(KEY_B);
        let pin = |s: &str| Some(s.to_string());
        assert!(verify(&HostKeyCheck::Off, &k, &p).is_ok());
        assert!(verify(&HostKeyCheck::AcceptNew { pinned: None }, &k, &p).is_ok());
        assert!(verify(&HostKeyCheck::AcceptNew { pinned: pin(KEY_A) }, &k, &p).is_ok());
        assert!(verify(
            &HostKeyCheck::Strict {
                pinned: pin(&format!("{KEY_A} a comment"))
            },
            &k,
            &p
        )
        .is_ok());
        assert!(verify(
            &HostKeyCheck::Strict {
                pinned: pin(&p.fingerprint)
            },
            &k,
            &p
        )
        .is_ok());

        match verify(&HostKeyCheck::AcceptNew { pinned: pin(KEY_B) }, &k, &p) {
            Err(SshError::HostKeyMismatch {
                expected_fingerprint,
                presented_fingerprint,
            }) => {
                assert_eq!(expected_fingerprint, other.fingerprint);
                assert_eq!(presented_fingerprint, p.fingerprint);
            }
            r => panic!("expected mismatch, got {r:?}"),
        }
        assert!(matches!(
            verify(&HostKeyCheck::Strict { pinned: None }, &k, &p),
            Err(SshError::HostKeyNotPinned { .. })
        ));
        assert!(matches!(
            verify(
                &HostKeyCheck::Strict {
                    pinned: pin("garbage")
                },
                &k,
                &p
            ),
            Err(SshError::HostKeyMismatch { .. })
        ));
        assert!(matches!(
            verify(
                &HostKeyCheck::Strict {
                    pinned: pin(&other.fingerprint)
                },
                &k,
                &p
            ),
            Err(SshError::HostKeyMismatch { .. })
        ));
    }
}
