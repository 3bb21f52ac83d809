//! Where a device's file goes in the exported repository: the layout rule, and device
//! names (untrusted) turned into path components that cannot leave the repository.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// `--layout`: how device files are grouped in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `<device name>`: every file at the top.
    Flat,
    /// `<first tag in byte order>/<device name>`; `untagged/<device name>` without tags.
    Tag,
    /// `<platform>/<device name>`.
    Platform,
}

impl Layout {
    /// The name used on the command line and in the `NetRaven-Layout` trailer.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Flat => "flat",
            Layout::Tag => "tag",
            Layout::Platform => "platform",
        }
    }

    pub fn parse(s: &str) -> Option<Layout> {
        [Layout::Flat, Layout::Tag, Layout::Platform]
            .into_iter()
            .find(|l| l.as_str() == s)
    }

    /// The path of a device's file: `first_tag` is the device's first tag in byte order.
    pub fn path(self, name: &str, first_tag: Option<&str>, platform: &str) -> String {
        let file = component(name);
        match self {
            Layout::Flat => file,
            Layout::Tag => match first_tag {
                Some(tag) => format!("{}/{file}", component(tag)),
                None => format!("untagged/{file}"),
            },
            Layout::Platform => format!("{}/{file}", component(platform)),
        }
    }
}

/// The longest component kept as it is, in bytes; longer ones are cut and hashed (file
/// systems refuse names past 255 bytes).
const MAX_COMPONENT: usize = 200;

/// `name` as one path component. Letters, digits and `-_.+@=` stay; every other byte of
/// its UTF-8 (`/`, `\`, `%`, `~`, spaces, control characters, non-ASCII) becomes `%XX`, and
/// so does a leading `.` (no `.`, `..`, `.git` or hidden file). The empty name is `%`. A
/// component longer than 200 bytes keeps its first 180 and ends with `~` and 16 hex
/// digits of the name's SHA-256. Different names give different components.
pub fn component(name: &str) -> String {
    if name.is_empty() {
        return "%".into();
    }
    let mut out = String::with_capacity(name.len());
    // Where each encoded unit starts, so that a cut never splits a `%XX`.
    let mut units = Vec::new();
    for (i, b) in name.bytes().enumerate() {
        units.push(out.len());
        let keep = b.is_ascii_alphanumeric() || b"-_+@=".contains(&b) || (b == b'.' && i > 0);
        if keep {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    if out.len() <= MAX_COMPONENT {
        return out;
    }
    let cut = units
        .into_iter()
        .take_while(|&at| at <= MAX_COMPONENT - 20)
        .last()
        .unwrap_or(0);
    out.truncate(cut);
    let digest = Sha256::digest(name.as_bytes());
    out.push('~');
    for b in &digest[..8] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The file name of a path (its last component): what ties a file to its device when the
/// device moves between folders.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_stay_readable() {
        assert_eq!(component("core-rtr-01.dc1"), "core-rtr-01.dc1");
        assert_eq!(Layout::Flat.path("sw1", Some("core"), "cisco_ios"), "sw1");
        assert_eq!(
            Layout::Tag.path("sw1", Some("core"), "cisco_ios"),
            "core/sw1"
        );
        assert_eq!(Layout::Tag.path("sw1", None, "cisco_ios"), "untagged/sw1");
        assert_eq!(
            Layout::Platform.path("sw1", None, "cisco_ios"),
            "cisco_ios/sw1"
        );
    }

    #[test]
    fn hostile_names_cannot_leave_their_folder() {
        for (name, want) in [
            ("../../etc/passwd", "%2E.%2F..%2Fetc%2Fpasswd"),
            ("..", "%2E."),
            (".", "%2E"),
            (".git", "%2Egit"),
            ("a/b", "a%2Fb"),
            ("a\\b", "a%5Cb"),
            ("tab\there", "tab%09here"),
            ("esc\x1b[31m", "esc%1B%5B31m"),
            ("100%", "100%25"),
            ("~x", "%7Ex"),
            ("café", "caf%C3%A9"),
            ("", "%"),
        ] {
            let c = component(name);
            assert_eq!(c, want, "{name:?}");
            assert!(!c.contains('/') && !c.starts_with('.') && !c.is_empty());
            assert!(c.bytes().all(|b| b.is_ascii_graphic()), "{c}");
        }
        assert_eq!(
            Layout::Tag.path("x", Some("../up"), "p"),
            "%2E.%2Fup/x",
            "tags are encoded too"
        );
    }

    #[test]
    fn long_names_are_cut_and_told_apart_by_hash() {
        let a = "é".repeat(300);
        let b = format!("{}x", "é".repeat(299));
        let (ca, cb) = (component(&a), component(&b));
        assert!(ca.len() <= MAX_COMPONENT, "{}", ca.len());
        assert_ne!(ca, cb);
        let kept = ca.split('~').next().unwrap_or_default();
        assert!(kept.len() % 3 == 0, "no %XX is split: {kept}");
        assert_eq!(file_name("core/x"), "x");
        assert_eq!(file_name("x"), "x");
    }
}
