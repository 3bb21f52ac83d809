//! The russh client configuration: algorithm preference, legacy algorithms, Nagle off.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use russh::client::{Config, GexParams};
use russh::{cipher, kex, mac, Preferred};

use super::SshOptions;

/// Key exchanges, fastest safe one first: `curve25519-sha256` handshakes ~50% faster than
/// the russh default `mlkem768x25519-sha256` (CRATES.md). The NIST ECDH curves are added
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

/// The shared client configuration for these options (built once per variant).
pub(crate) fn client_config(options: &SshOptions) -> Arc<Config> {
    static MODERN: OnceLock<Arc<Config>> = OnceLock::new();
    static LEGACY: OnceLock<Arc<Config>> = OnceLock::new();
    let cell = if options.legacy_algorithms {
        &LEGACY
    } else {
        &MODERN
    };
    Arc::clone(cell.get_or_init(|| Arc::new(build(options.legacy_algorithms))))
}

fn build(legacy: bool) -> Config {
    let defaults = Preferred::DEFAULT;
    let mut preferred = Preferred {
        kex: Cow::Borrowed(KEX),
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
        // Without it every handshake stalls ~40 ms on Nagle + delayed ACK (CRATES.md).
        nodelay: true,
        // Phases are bounded by our own timeouts; the session itself must not expire
        // while the caller holds it between commands.
        inactivity_timeout: None,
        // russh acknowledges the SSH window as data arrives and queues it for the reader;
        // a reader that stops (a device waiting for a large-output turn) leaves this many
        // packets queued, plus one russh holds and one the reader holds, before russh stops
        // reading the socket: 4 × 32 KiB, the packet size we advertise (russh does not
        // enforce it: a peer ignoring it may send up to 256 KiB a packet). russh's default,
        // 100, would let every waiting device hold 3.2 MiB outside the output budget.
        channel_buffer_size: CHANNEL_BUFFER,
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
        let c = client_config(&SshOptions::default());
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
        let c = client_config(&SshOptions {
            legacy_algorithms: true,
        });
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
}
