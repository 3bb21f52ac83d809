//! The russh client configuration: algorithm preference, legacy algorithms, host-key
//! algorithms (no `ssh-rsa` SHA-1 signatures unless a profile allows them, only the pinned
//! key's type once a key is pinned), Nagle off.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use russh::client::{Config, GexParams};
use russh::keys::{Algorithm, EcdsaCurve, HashAlg};
use russh::{cipher, kex, mac, Preferred};

use super::SshOptions;

/// Key exchanges, fastest safe one first: `curve25519-sha256`, ahead of russh's default
/// `mlkem768x25519-sha256`, which adds an ML-KEM exchange to every handshake — and
/// handshakes are most of a worker's CPU (docs/performance.md). The NIST ECDH curves are added
/// because many network operating systems offer nothing newer.
const KEX: &[kex::Name] = &[
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::MLKEM768X25519_SHA256,
    kex::ECDH_SHA2_NISTP256,
    kex::ECDH_SHA2_NISTP384,
    kex::ECDH_SHA2_NISTP521,
    kex::DH_GEX_SHA256,
    kex::DH_G16_SHA512,
    kex::DH_G18_SHA512,
    kex::DH_G14_SHA256,
    kex::EXTENSION_SUPPORT_AS_CLIENT,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
];

/// Ciphers, cheapest safe one first: AES-GCM runs on the CPU's AES and carry-less multiply
/// instructions (every x86-64 server of the last decade, ARMv8 with its crypto extension)
/// at several times the speed of ChaCha20-Poly1305, russh's first choice; every byte a
/// device sends — a configuration, a stream that never ends — is decrypted with it. The
/// rest of russh's list follows for servers without GCM.
const CIPHERS: &[cipher::Name] = &[
    cipher::AES_256_GCM,
    cipher::AES_128_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_192_CTR,
    cipher::AES_128_CTR,
];

const LEGACY_KEX: &[kex::Name] = &[kex::DH_G14_SHA1, kex::DH_GEX_SHA1, kex::DH_G1_SHA1];

const LEGACY_CIPHERS: &[cipher::Name] = &[
    cipher::AES_128_CBC,
    cipher::AES_192_CBC,
    cipher::AES_256_CBC,
];

const LEGACY_MACS: &[mac::Name] = &[mac::HMAC_SHA1_ETM, mac::HMAC_SHA1];

/// Host-key signature algorithms, strongest first: russh's own order less `ssh-rsa`, whose
/// signatures are made with SHA-1 (OpenSSH disabled it in 8.8). RSA host keys still sign
/// with `rsa-sha2-512` or `rsa-sha2-256`.
const HOST_KEYS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// `ssh-rsa`: an RSA host key signing with SHA-1, offered last and only when a platform
/// profile sets `allow_ssh_rsa_sha1`.
const SSH_RSA_SHA1: Algorithm = Algorithm::Rsa { hash: None };

/// Which host-key algorithms to offer: all of them, or only those of the pinned key's type
/// (the index of its entry in [`HOST_KEYS`], the RSA ones counting as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFamily {
    Any,
    Ed25519,
    P256,
    P384,
    P521,
    Rsa,
}

impl KeyFamily {
    const COUNT: usize = 6;

    fn of(pinned: Option<&Algorithm>) -> KeyFamily {
        match pinned {
            Some(Algorithm::Ed25519) => KeyFamily::Ed25519,
            Some(Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            }) => KeyFamily::P256,
            Some(Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP384,
            }) => KeyFamily::P384,
            Some(Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP521,
            }) => KeyFamily::P521,
            Some(Algorithm::Rsa { .. }) => KeyFamily::Rsa,
            // Nothing pinned, a pin by fingerprint, or a key type we do not offer (the
            // check then refuses whatever the server presents).
            _ => KeyFamily::Any,
        }
    }

    fn admits(self, a: &Algorithm) -> bool {
        match self {
            KeyFamily::Any => true,
            KeyFamily::Rsa => matches!(a, Algorithm::Rsa { .. }),
            KeyFamily::Ed25519 => *a == Algorithm::Ed25519,
            KeyFamily::P256 | KeyFamily::P384 | KeyFamily::P521 => {
                let curve = match self {
                    KeyFamily::P256 => EcdsaCurve::NistP256,
                    KeyFamily::P384 => EcdsaCurve::NistP384,
                    _ => EcdsaCurve::NistP521,
                };
                *a == Algorithm::Ecdsa { curve }
            }
        }
    }
}

/// One cached configuration per combination of options and pinned key family.
const VARIANTS: usize = 2 * 2 * KeyFamily::COUNT;

/// The shared client configuration for these options and the algorithm of the key pinned
/// for the device, if a key (not a fingerprint) is pinned. Built once per variant.
pub(crate) fn client_config(options: &SshOptions, pinned: Option<&Algorithm>) -> Arc<Config> {
    static CONFIGS: [OnceLock<Arc<Config>>; VARIANTS] = [const { OnceLock::new() }; VARIANTS];
    let family = KeyFamily::of(pinned);
    let index = (usize::from(options.legacy_algorithms) * 2
        + usize::from(options.allow_ssh_rsa_sha1))
        * KeyFamily::COUNT
        + family as usize;
    Arc::clone(CONFIGS[index].get_or_init(|| Arc::new(build(options, family))))
}

/// The host-key algorithms offered: [`HOST_KEYS`] (and `ssh-rsa` last when allowed), only
/// the pinned family's when a key is pinned.
fn host_keys(options: &SshOptions, family: KeyFamily) -> Vec<Algorithm> {
    let sha1 = options.allow_ssh_rsa_sha1.then_some(SSH_RSA_SHA1);
    HOST_KEYS
        .iter()
        .cloned()
        .chain(sha1)
        .filter(|a| family.admits(a))
        .collect()
}

fn build(options: &SshOptions, family: KeyFamily) -> Config {
    let legacy = options.legacy_algorithms;
    let defaults = Preferred::DEFAULT;
    let mut preferred = Preferred {
        kex: Cow::Borrowed(KEX),
        key: Cow::Owned(host_keys(options, family)),
        cipher: Cow::Borrowed(CIPHERS),
        ..defaults.clone()
    };
    let mut gex = GexParams::default();
    if legacy {
        preferred.kex = Cow::Owned(append(KEX, LEGACY_KEX));
        preferred.cipher = Cow::Owned(append(CIPHERS, LEGACY_CIPHERS));
        preferred.mac = Cow::Owned(append(&defaults.mac, LEGACY_MACS));
        // Old group-exchange servers offer 2048-bit groups; 2048 is the lowest russh takes.
        if let Ok(g) = GexParams::for_client_config(2048, 4096, 8192) {
            gex = g;
        }
    }
    Config {
        preferred,
        gex,
        // Without it small handshake packets wait on Nagle for the peer's delayed ACK (up to
        // 40 ms on Linux) at every round trip.
        nodelay: true,
        // Phases are bounded by our own timeouts; the session itself must not expire
        // while the caller holds it between commands.
        inactivity_timeout: None,
        // russh acknowledges the SSH window as data arrives and queues it for the reader;
        // a reader that stops (a device waiting for a large-output turn) leaves this many
        // packets queued, plus one russh holds and one the reader holds, before russh stops
        // reading the socket: 4 × 32 KiB, the packet size we advertise (russh does not
        // enforce it; our handler ends the session at the first packet over it, so a peer
        // ignoring it holds one packet of up to 256 KiB more). russh's default, 100, would
        // let every waiting device hold 3.2 MiB outside the output budget.
        channel_buffer_size: CHANNEL_BUFFER,
        window_size: options.window.unwrap_or(Config::default().window_size),
        ..Config::default()
    }
}

/// Messages russh queues per channel for a reader that does not keep up (see above).
const CHANNEL_BUFFER: usize = 2;

fn append<T: Clone>(base: &[T], extra: &[T]) -> Vec<T> {
    base.iter().chain(extra).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<T: AsRef<str>>(list: &[T]) -> Vec<&str> {
        list.iter().map(AsRef::as_ref).collect()
    }

    #[test]
    fn curve25519_and_aes_gcm_are_preferred() {
        let c = client_config(&SshOptions::default(), None);
        let kex = names(&c.preferred.kex);
        assert_eq!(kex.first().copied(), Some("curve25519-sha256"));
        let pos = |n: &str| kex.iter().position(|k| *k == n);
        assert!(pos("curve25519-sha256") < pos("mlkem768x25519-sha256"));
        assert!(!kex.contains(&"diffie-hellman-group14-sha1"));
        let ciphers = names(&c.preferred.cipher);
        assert_eq!(ciphers.first().copied(), Some("aes256-gcm@openssh.com"));
        // Every cipher russh prefers by default is still offered, none of the legacy ones.
        for default in names(&Preferred::DEFAULT.cipher) {
            assert!(ciphers.contains(&default), "{default}");
        }
        assert!(!ciphers.contains(&"aes128-cbc"));
        assert!(c.nodelay);
    }

    #[test]
    fn legacy_appends_old_algorithms_after_modern_ones() {
        let c = client_config(
            &SshOptions {
                legacy_algorithms: true,
                ..SshOptions::default()
            },
            None,
        );
        let kex = names(&c.preferred.kex);
        assert_eq!(kex.first().copied(), Some("curve25519-sha256"));
        assert!(kex.contains(&"diffie-hellman-group14-sha1"));
        let ciphers = names(&c.preferred.cipher);
        assert!(ciphers.contains(&"aes128-cbc"));
        assert_eq!(ciphers.first().copied(), Some("aes256-gcm@openssh.com"));
        let pos = |n: &str| ciphers.iter().position(|k| *k == n);
        assert!(pos("chacha20-poly1305@openssh.com") < pos("aes128-cbc"));
        assert!(names(&c.preferred.mac).contains(&"hmac-sha1"));
        assert_eq!(c.gex.min_group_size(), 2048);
        assert!(c.nodelay);
    }

    fn key_names(c: &Config) -> Vec<String> {
        c.preferred.key.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn ssh_rsa_sha1_only_when_allowed_and_last() {
        let c = client_config(&SshOptions::default(), None);
        let keys = key_names(&c);
        assert_eq!(keys.first().map(String::as_str), Some("ssh-ed25519"));
        assert!(keys.contains(&"rsa-sha2-512".to_string()));
        assert!(keys.contains(&"rsa-sha2-256".to_string()));
        assert!(!keys.contains(&"ssh-rsa".to_string()), "{keys:?}");
        let allowed = client_config(
            &SshOptions {
                allow_ssh_rsa_sha1: true,
                ..SshOptions::default()
            },
            None,
        );
        assert_eq!(
            key_names(&allowed).last().map(String::as_str),
            Some("ssh-rsa")
        );
    }

    #[test]
    fn a_pinned_key_narrows_the_host_key_algorithms_to_its_type() {
        let rsa = Algorithm::Rsa { hash: None };
        let c = client_config(&SshOptions::default(), Some(&rsa));
        assert_eq!(key_names(&c), ["rsa-sha2-512", "rsa-sha2-256"]);
        let c = client_config(
            &SshOptions {
                allow_ssh_rsa_sha1: true,
                ..SshOptions::default()
            },
            Some(&rsa),
        );
        assert_eq!(key_names(&c), ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
        let c = client_config(&SshOptions::default(), Some(&Algorithm::Ed25519));
        assert_eq!(key_names(&c), ["ssh-ed25519"]);
        let p384 = Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        };
        let c = client_config(&SshOptions::default(), Some(&p384));
        assert_eq!(key_names(&c), ["ecdsa-sha2-nistp384"]);
        // A type we never offer (DSA): everything is offered and the pin check refuses.
        let c = client_config(&SshOptions::default(), Some(&Algorithm::Dsa));
        assert_eq!(key_names(&c).len(), HOST_KEYS.len());
    }
}
