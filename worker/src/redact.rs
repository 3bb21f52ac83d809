//! Removes secrets from configuration text before it is stored.

use regex::Regex;
use std::sync::OnceLock;

/// The marker that replaces a removed secret.
pub const MARKER: &str = "<removed>";

fn pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // The keyword, an optional encryption type (`5`, `7`, `sha512`), then the secret.
        Regex::new(
            r"(?im)^(?P<keep>.*?\b(?:password|secret|community|key-string|pre-shared-key|key|authentication-key|md5)\b(?:\s+(?:\d{1,2}|sha\d+|md5|encrypted|hidden))?\s+)(?P<secret>\S.*?)\s*$",
        )
        .unwrap_or_else(|e| panic!("redaction pattern is malformed: {e}"))
    })
}

/// Replaces the secret on every secret-bearing line with [`MARKER`], keeping the keyword
/// so that a reviewer still sees that a secret is set.
pub fn redact(config: &str) -> String {
    pattern()
        .replace_all(config, |c: &regex::Captures<'_>| {
            format!("{}{MARKER}", &c["keep"])
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_secrets_and_keeps_everything_else() {
        let config = "hostname core-1\n\
                      enable secret 5 $1$abcd$efghijkl\n\
                      username admin privilege 15 password 7 0822455D0A16\n\
                      snmp-server community s3cr3tC0mm RO\n\
                      set system root-authentication encrypted-password \"$6$x\"\n\
                      interface Gi0/1\n description uplink key switch\n";
        let out = redact(config);
        for secret in ["$1$abcd$efghijkl", "0822455D0A16", "s3cr3tC0mm", "$6$x"] {
            assert!(!out.contains(secret), "{secret} left in:\n{out}");
        }
        assert!(out.contains("enable secret 5 <removed>"), "{out}");
        assert!(out.contains("snmp-server community <removed>"), "{out}");
        assert!(out.contains("hostname core-1\n"));
        assert!(out.contains("interface Gi0/1\n"));
        assert_eq!(out.lines().count(), config.lines().count());
    }
}
