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

/// A cheap test for the keywords: most lines of a configuration carry none, and only
/// those that do are given to the full pattern.
fn keywords() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)password|secret|community|key|md5")
            .unwrap_or_else(|e| panic!("redaction keywords are malformed: {e}"))
    })
}

/// Replaces the secret on every secret-bearing line with [`MARKER`], keeping the keyword
/// so that a reviewer still sees that a secret is set. Line by line: a keyword at the end
/// of one line never takes the next line for its secret.
///
/// One scan of the whole text finds the keywords; only their lines meet the full pattern
/// (a regex call per line of a 20 KB configuration costs more than the scan).
pub fn redact(config: &str) -> String {
    let mut out = String::with_capacity(config.len());
    // `config[..copied]` is in `out` already.
    let mut copied = 0;
    for m in keywords().find_iter(config) {
        if m.start() < copied {
            continue; // another keyword on a line already done
        }
        let start = config[..m.start()].rfind('\n').map_or(0, |i| i + 1);
        let end = config[m.end()..]
            .find('\n')
            .map_or(config.len(), |i| m.end() + i);
        out.push_str(&config[copied..start]);
        let redacted = pattern().replace(&config[start..end], |c: &regex::Captures<'_>| {
            format!("{}{MARKER}", &c["keep"])
        });
        out.push_str(&redacted);
        copied = end;
    }
    out.push_str(&config[copied..]);
    out
}

/// The pattern of [`pattern`] on bytes, for output that is not UTF-8: with Unicode off,
/// `.` and `\S` take any byte, so a line whose other bytes are not text loses its secret
/// all the same. Applied to one line at a time, as [`redact`] does.
fn byte_pattern() -> &'static regex::bytes::Regex {
    static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::bytes::Regex::new(
            r"(?i-u)^(?P<keep>.*?\b(?:password|secret|community|key-string|pre-shared-key|key|authentication-key|md5)\b(?:\s+(?:\d{1,2}|sha\d+|md5|encrypted|hidden))?\s+)(?P<secret>\S.*?)\s*$",
        )
        .unwrap_or_else(|e| panic!("redaction byte pattern is malformed: {e}"))
    })
}

/// [`redact`] for output that is not valid UTF-8 (or holds a NUL): the same lines lose
/// the same secrets, and every other byte is kept as the device sent it.
pub fn redact_bytes(config: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(config.len());
    for (i, line) in config.split(|b| *b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        let redacted = byte_pattern().replace(line, |c: &regex::bytes::Captures<'_>| {
            let mut kept = c["keep"].to_vec();
            kept.extend_from_slice(MARKER.as_bytes());
            kept
        });
        out.extend_from_slice(&redacted);
    }
    out
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

    #[test]
    fn a_keyword_ending_a_line_does_not_take_the_next_line_and_endings_are_kept() {
        let config = "snmp-server community\nhostname core-1\r\n password 7 0822455D0A16\nend";
        let out = redact(config);
        assert!(
            out.contains("snmp-server community\nhostname core-1\r\n"),
            "{out:?}"
        );
        assert!(out.contains(" password 7 <removed>\nend"), "{out:?}");
        assert!(out.ends_with("\nend"), "{out:?}");
    }

    #[test]
    fn bytes_lose_the_same_secrets_and_keep_everything_else() {
        let config = "hostname core-1\n\
                      enable secret 5 $1$abcd$efghijkl\n\
                      snmp-server community s3cr3tC0mm RO\r\n\
                      snmp-server community\nend";
        assert_eq!(
            redact_bytes(config.as_bytes()),
            redact(config).into_bytes(),
            "text and bytes agree on text"
        );
        let raw = b"username a password 7 0822\xff55D\n\0 key x\xe9y\n".to_vec();
        let out = redact_bytes(&raw);
        assert_eq!(
            out,
            b"username a password 7 <removed>\n\0 key <removed>\n".to_vec()
        );
    }
}
