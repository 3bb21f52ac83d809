//! Reading OpenSSH `known_hosts` files and fingerprints: which key of a file is a device's.

use anyhow::{bail, Context, Result};
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::ssh_key::{Fingerprint, HashAlg};
use russh::keys::{Algorithm, EcdsaCurve, PublicKey};

/// The key to pin for a device, chosen from a `known_hosts` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// OpenSSH public key line without comment.
    pub public_key: String,
    pub algorithm: String,
    pub fingerprint: String,
    /// The 1-based line it came from.
    pub line: usize,
    /// What else the file said about the host: other keys, revoked keys, CA lines.
    pub notes: Vec<String>,
}

/// The host key of `host`:`port` in the text of a `known_hosts` file. When the file holds
/// several keys for it, the one of the type the worker prefers (ed25519, then ECDSA
/// P-256, P-384, P-521, then RSA) is chosen: once it is pinned the worker offers only that
/// type, so the device presents it.
pub fn choose_from_known_hosts(text: &str, host: &str, port: u16) -> Result<Chosen> {
    let name = if port == 22 {
        host.to_ascii_lowercase()
    } else {
        format!("[{}]:{port}", host.to_ascii_lowercase())
    };
    let mut keys: Vec<(usize, PublicKey)> = Vec::new();
    let mut revoked: Vec<PublicKey> = Vec::new();
    let mut notes = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let entry: Entry = line.parse().map_err(|e| {
            anyhow::anyhow!(
                "known_hosts line {number} does not parse ({e}); fix or remove it: an \
                 unreadable line could be a revocation"
            )
        })?;
        if !matches_host(entry.host_patterns(), &name) {
            continue;
        }
        match entry.marker() {
            Some(Marker::Revoked) => revoked.push(entry.public_key().clone()),
            Some(Marker::CertAuthority) => notes.push(format!(
                "line {number}: @cert-authority entry ignored (host certificates are not \
                 accepted; pin the host's own key)"
            )),
            None => keys.push((number, entry.public_key().clone())),
        }
    }
    let before = keys.len();
    keys.retain(|(_, k)| !revoked.iter().any(|r| r.key_data() == k.key_data()));
    if !revoked.is_empty() {
        notes.push(format!(
            "{} @revoked key{} for {name} never pinned{}",
            revoked.len(),
            if revoked.len() == 1 { "" } else { "s" },
            if before > keys.len() {
                " (a listed key is among them)"
            } else {
                ""
            }
        ));
    }
    let mut usable: Vec<(usize, usize, PublicKey)> = keys
        .into_iter()
        .filter_map(|(line, k)| preference(&k.algorithm()).map(|rank| (rank, line, k)))
        .collect();
    usable.sort_by_key(|(rank, line, _)| (*rank, *line));
    let Some((_, line, key)) = usable.first().cloned() else {
        bail!(
            "the known_hosts file has no usable key for {name} (entries are matched as \
             `{name}`{}; ed25519, ECDSA and RSA keys are usable)",
            if port == 22 {
                ""
            } else {
                ", as OpenSSH writes a host on another port than 22"
            }
        );
    };
    for (_, other_line, other) in usable.iter().skip(1) {
        notes.push(format!(
            "line {other_line}: {} key not pinned (one key per device; the worker then \
             offers only the pinned key's type)",
            other.algorithm()
        ));
    }
    let bare = PublicKey::new(key.key_data().clone(), "");
    let public_key = bare
        .to_openssh()
        .context("cannot encode the host key")?
        .trim_end()
        .to_string();
    Ok(Chosen {
        public_key,
        algorithm: key.algorithm().as_str().to_string(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        line,
        notes,
    })
}

/// The worker's preference among host key types (lower first); `None` for types it does
/// not accept (DSA, security keys).
pub(super) fn preference(a: &Algorithm) -> Option<usize> {
    Some(match a {
        Algorithm::Ed25519 => 0,
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        } => 1,
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        } => 2,
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP521,
        } => 3,
        Algorithm::Rsa { .. } => 4,
        _ => return None,
    })
}

/// Whether an entry's host patterns select `name` (`host` or `[host]:port`), as OpenSSH
/// decides: a hashed entry when HMAC-SHA1(salt, name) is its hash; a pattern list when a
/// pattern matches and no negated one does.
pub(super) fn matches_host(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
            ring::hmac::verify(&key, name.as_bytes(), hash).is_ok()
        }
        HostPatterns::Patterns(list) => {
            let mut hit = false;
            for p in list {
                let p = p.to_ascii_lowercase();
                if let Some(negated) = p.strip_prefix('!') {
                    if glob(negated, name) {
                        return false;
                    }
                } else if glob(&p, name) {
                    hit = true;
                }
            }
            hit
        }
    }
}

/// `*` matches any run of characters, `?` any one; the rest literally.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A fingerprint as `ssh-keygen -l` prints it: `SHA256:` and 43 base64 characters.
pub fn parse_fingerprint(s: &str) -> Result<String> {
    let s = s.trim();
    let fp: Fingerprint = s.parse().map_err(|_| {
        anyhow::anyhow!(
            "{s:?} is not a fingerprint: give it as `ssh-keygen -lf` prints it, \
             SHA256:<43 base64 characters>"
        )
    })?;
    if fp.algorithm() != HashAlg::Sha256 {
        bail!("only SHA256 fingerprints can be pinned (the worker compares SHA-256)");
    }
    Ok(fp.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfszSJ/4ObMqCRANc2dVQh";

    fn hashed(name: &str) -> String {
        use base64::Engine as _;
        let salt = [7u8; 20];
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
        let tag = ring::hmac::sign(&key, name.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD;
        format!("|1|{}|{}", b64.encode(salt), b64.encode(tag.as_ref()))
    }

    #[test]
    fn plain_port_and_hashed_entries_match_as_openssh_writes_them() {
        let text = format!("# comment\n\nrouter1,10.0.0.1 {ED}\n[10.0.0.1]:2222 {ED2} c\n");
        assert_eq!(
            choose_from_known_hosts(&text, "10.0.0.1", 22)
                .expect("ok")
                .public_key,
            ED
        );
        let c = choose_from_known_hosts(&text, "10.0.0.1", 2222).expect("ok");
        assert_eq!((c.public_key.as_str(), c.line), (ED2, 4));
        assert!(c.fingerprint.starts_with("SHA256:"));
        assert!(choose_from_known_hosts(&text, "10.0.0.2", 22).is_err());
        assert!(choose_from_known_hosts(&text, "10.0.0.1", 2200).is_err());

        let text = format!("{} {ED2}\n", hashed("[lab.example]:2022"));
        let c = choose_from_known_hosts(&text, "LAB.example", 2022).expect("ok");
        assert_eq!(c.public_key, ED2);
        assert!(choose_from_known_hosts(&text, "lab.example", 22).is_err());
    }

    #[test]
    fn wildcards_and_negations() {
        let text = format!("*.core.example,!bad.core.example {ED}\n");
        assert!(choose_from_known_hosts(&text, "r1.core.example", 22).is_ok());
        assert!(choose_from_known_hosts(&text, "bad.core.example", 22).is_err());
        assert!(glob("r?.x", "r1.x"));
        assert!(!glob("r?.x", "r10.x"));
        assert!(glob("*", ""));
    }

    #[test]
    fn revoked_keys_are_never_pinned_and_ca_lines_are_ignored() {
        let text = format!("h {ED}\n@revoked h {ED}\n@cert-authority h {ED2}\n");
        let e = choose_from_known_hosts(&text, "h", 22).expect_err("refused");
        assert!(e.to_string().contains("no usable key"), "{e}");
        let text = format!("h {ED}\nh {ED2}\n@revoked * {ED}\n");
        let c = choose_from_known_hosts(&text, "h", 22).expect("ok");
        assert_eq!(c.public_key, ED2);
        assert!(
            c.notes.iter().any(|n| n.contains("@revoked")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn an_unreadable_line_is_an_error_naming_it() {
        let text = format!("h {ED}\n@revoked h ssh-ed25519 AAAAnotbase64!\n");
        let e = choose_from_known_hosts(&text, "h", 22).expect_err("refused");
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn the_preferred_key_type_is_chosen() {
        let ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBI9tGZSIbIOSASXcIWCM6OxvXcLoEgtI9jsMg9RzVKXEFMz4rlWcs2vHMulufesw+X57wLBU9HzEf1iggiqBl8o=";
        let text = format!("h {ecdsa}\nh {ED2}\nh {ED}\n");
        let c = choose_from_known_hosts(&text, "h", 22).expect("ok");
        assert_eq!((c.public_key.as_str(), c.line), (ED2, 2));
        assert_eq!(c.notes.len(), 2, "{:?}", c.notes);
        let text = format!("h {ecdsa}\n");
        let c = choose_from_known_hosts(&text, "h", 22).expect("ok");
        assert_eq!(c.algorithm, "ecdsa-sha2-nistp256");
    }

    #[test]
    fn fingerprints() {
        let fp = "SHA256:uAXuaDt8OTo9zDRfCUh2T6xBtNyRxRjZYk5vzA91Vxk";
        assert_eq!(parse_fingerprint(&format!(" {fp} ")).expect("ok"), fp);
        assert!(parse_fingerprint("SHA256:short").is_err());
        assert!(parse_fingerprint("MD5:aa:bb").is_err());
        assert!(parse_fingerprint("uAXuaDt8OTo9zDRfCUh2T6xBtNyRxRjZYk5vzA91Vxk").is_err());
    }
}
