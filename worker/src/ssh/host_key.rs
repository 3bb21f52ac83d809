//! Host key checking: the presented key, its OpenSSH fingerprint, and pin verification.

use russh::keys::{Algorithm, HashAlg, PublicKey};

use super::error::{Phase, SshError};

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
    match check {
        HostKeyCheck::Off | HostKeyCheck::AcceptNew { pinned: None } => Ok(()),
        HostKeyCheck::Strict { pinned: None } => Err(SshError::HostKeyNotPinned {
            presented_fingerprint: presented.fingerprint.clone(),
        }),
        HostKeyCheck::AcceptNew { pinned: Some(p) } | HostKeyCheck::Strict { pinned: Some(p) } => {
            matches_pin(p, key, presented)
        }
    }
}

/// Whether `key` is the one `pin` names: a pin `SHA256:...` (pinned by fingerprint) is
/// compared with the presented key's SHA-256 fingerprint, any other pin is read as an
/// OpenSSH public key line and compared key to key. A pin that reads as neither matches
/// nothing.
pub(crate) fn matches_pin(
    pin: &str,
    key: &PublicKey,
    presented: &PresentedKey,
) -> Result<(), SshError> {
    let pin = pin.trim();
    let mismatch = |expected: String| SshError::HostKeyMismatch {
        expected_fingerprint: expected,
        presented_fingerprint: presented.fingerprint.clone(),
    };
    if pin.starts_with("SHA256:") {
        return if pin == presented.fingerprint {
            Ok(())
        } else {
            Err(mismatch(pin.to_string()))
        };
    }
    match PublicKey::from_openssh(pin) {
        Ok(pinned_key) if pinned_key.key_data() == key.key_data() => Ok(()),
        Ok(pinned_key) => Err(mismatch(fingerprint(&pinned_key))),
        // A pin we cannot read must not let an unknown key through.
        Err(_) => Err(mismatch("<unreadable pinned key>".to_string())),
    }
}

/// [`matches_pin`] for a key already presented: how a worker checks the pin another worker
/// (or an operator) stored while it was connecting.
pub fn pin_accepts(pin: &str, presented: &PresentedKey) -> Result<(), SshError> {
    let key = PublicKey::from_openssh(&presented.public_key).map_err(|e| {
        SshError::Disconnected(Phase::Handshake, format!("cannot read host key: {e}"))
    })?;
    matches_pin(pin, &key, presented)
}

/// The algorithm of the key pinned for a check, when the pin is a public key line (a pin
/// by fingerprint does not say). The client then offers only the host-key algorithms that
/// key can sign with, as OpenSSH does for a host in `known_hosts`: a server that also has
/// keys of other types presents the pinned one rather than failing the check.
pub(crate) fn pinned_algorithm(check: &HostKeyCheck) -> Option<Algorithm> {
    match check {
        HostKeyCheck::AcceptNew { pinned: Some(p) } | HostKeyCheck::Strict { pinned: Some(p) } => {
            let p = p.trim();
            if p.starts_with("SHA256:") {
                return None;
            }
            PublicKey::from_openssh(p).ok().map(|k| k.algorithm())
        }
        _ => None,
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

    #[test]
    fn a_stored_pin_by_key_or_fingerprint_accepts_the_presented_key() {
        let (_, p) = key(KEY_A);
        let (_, other) = key(KEY_B);
        assert!(pin_accepts(KEY_A, &p).is_ok());
        assert!(pin_accepts(&p.fingerprint, &p).is_ok());
        assert!(matches!(
            pin_accepts(&other.fingerprint, &p),
            Err(SshError::HostKeyMismatch { .. })
        ));
        assert!(matches!(
            pin_accepts(KEY_B, &p),
            Err(SshError::HostKeyMismatch { .. })
        ));
    }

    #[test]
    fn only_a_key_pin_names_an_algorithm() {
        let (_, p) = key(KEY_A);
        let strict = |pin: &str| HostKeyCheck::Strict {
            pinned: Some(pin.to_string()),
        };
        assert_eq!(pinned_algorithm(&strict(KEY_A)), Some(Algorithm::Ed25519));
        assert_eq!(pinned_algorithm(&strict(&p.fingerprint)), None);
        assert_eq!(pinned_algorithm(&HostKeyCheck::Off), None);
        assert_eq!(
            pinned_algorithm(&HostKeyCheck::AcceptNew { pinned: None }),
            None
        );
    }
}
