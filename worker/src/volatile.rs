//! Volatile lines: the lines of a configuration that change by themselves (a clock, a
//! byte count, an NTP drift estimate), removed before a configuration is hashed and stored.
//!
//! A platform profile lists them as `volatile = [regex, ...]`. A line is removed when one
//! of the patterns matches it, the line taken without its line end: `^` and `$` are the
//! line's start and end. The patterns are searched as one alternation over the whole
//! configuration, so a configuration without a volatile line costs one scan and no copy;
//! only a match costs a look at its line.

use crate::device_text::DeviceText;
use regex::bytes::Regex;

/// The compiled patterns of one profile.
#[derive(Debug)]
pub struct Volatile {
    /// Every pattern in one alternation, multi-line, CRLF-aware, on bytes: the same
    /// search for text and for output that is not UTF-8.
    any: Regex,
}

/// Why a `volatile` list cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VolatileError {
    #[error("pattern {pattern:?}: {source}")]
    Pattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error(
        "pattern {pattern:?}: \\A and \\z anchor on the whole configuration; use ^ and $, which anchor on the line"
    )]
    TextAnchor { pattern: String },
}

impl Volatile {
    /// The patterns as one search; `None` when there are none.
    pub fn new(patterns: &[String]) -> Result<Option<Volatile>, VolatileError> {
        if patterns.is_empty() {
            return Ok(None);
        }
        for p in patterns {
            Regex::new(p).map_err(|source| VolatileError::Pattern {
                pattern: p.clone(),
                source,
            })?;
            if p.contains("\\A") || p.contains("\\z") {
                return Err(VolatileError::TextAnchor { pattern: p.clone() });
            }
        }
        let joined = patterns
            .iter()
            .map(|p| format!("(?:{p})"))
            .collect::<Vec<_>>()
            .join("|");
        // `m`: ^ and $ at line ends; `R`: a line may end in \r\n.
        let any =
            Regex::new(&format!("(?mR){joined}")).map_err(|source| VolatileError::Pattern {
                pattern: joined.clone(),
                source,
            })?;
        Ok(Some(Volatile { any }))
    }

    /// `content` without its volatile lines: the same value (no copy) when it has none.
    /// The exact bytes of output that is not text lose the same lines and keep every
    /// other byte.
    pub fn strip(&self, content: DeviceText) -> DeviceText {
        match self.strip_bytes(content.as_bytes()) {
            None => content,
            Some(kept) => DeviceText::from_bytes(kept),
        }
    }

    /// `config` without the lines a pattern matches, line ends included; `None` when
    /// no line matches.
    pub fn strip_bytes(&self, config: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        // `config[..copied]` is in `out` already (or needs no copy yet).
        let mut copied = 0;
        let mut from = 0;
        while let Some(m) = self.any.find_at(config, from) {
            let (start, end, next) = line_bounds(config, m.start());
            from = next;
            // A match that crosses a line end (`\s` takes a newline) does not remove a
            // line unless the line on its own matches.
            if self.any.is_match(&config[start..end]) {
                let kept = out.get_or_insert_with(|| Vec::with_capacity(config.len()));
                kept.extend_from_slice(&config[copied..start]);
                copied = next;
            }
            if from >= config.len() {
                break;
            }
        }
        let mut kept = out?;
        kept.extend_from_slice(&config[copied..]);
        Some(kept)
    }
}

/// The line holding `at`: where it starts, where it ends without its line end (`\n` or
/// `\r\n`), and where the next line starts.
fn line_bounds(config: &[u8], at: usize) -> (usize, usize, usize) {
    let start = config[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    match config[at..].iter().position(|b| *b == b'\n') {
        Some(i) => {
            let nl = at + i;
            let end = if nl > start && config[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            (start, end, nl + 1)
        }
        None => (start, config.len(), config.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volatile(patterns: &[&str]) -> Volatile {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Volatile::new(&owned)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("some patterns"))
    }

    fn strip(v: &Volatile, text: &str) -> String {
        v.strip(DeviceText::from_text(text.to_string()))
            .text()
            .to_string()
    }

    #[test]
    fn matching_lines_go_with_their_line_ends_and_the_rest_stays() {
        let v = volatile(&[
            "^ntp clock-period \\d+$",
            "^! Last configuration change at ",
        ]);
        let config = "!\n! Last configuration change at 10:00:01 UTC Tue Mar 5 2024\n\
                      hostname r1\nntp clock-period 17179869\nntp server 10.0.0.1\nend";
        assert_eq!(
            strip(&v, config),
            "!\nhostname r1\nntp server 10.0.0.1\nend"
        );
        // CRLF line ends: `$` matches before `\r\n`, and the `\r` goes with its line.
        assert_eq!(strip(&v, "a\r\nntp clock-period 5\r\nb\r\n"), "a\r\nb\r\n");
        // The last line without a line end, and the first line.
        assert_eq!(
            strip(&v, "ntp clock-period 1\nx\nntp clock-period 2"),
            "x\n"
        );
    }

    #[test]
    fn a_line_that_merely_holds_the_words_stays() {
        let v = volatile(&["^ntp clock-period \\d+$"]);
        let config =
            "interface Gi0/1\n description ntp clock-period 5\n!\nntp clock-period 5 extra\n";
        assert_eq!(v.strip_bytes(config.as_bytes()), None, "nothing removed");
        assert_eq!(strip(&v, config), config);
    }

    #[test]
    fn a_match_across_lines_removes_nothing_it_does_not_match_alone() {
        let v = volatile(&["^last\\s+line$"]);
        assert_eq!(v.strip_bytes(b"last\nline\n"), None);
        assert_eq!(
            v.strip_bytes(b"x\nlast\nline\nlast line\n"),
            Some(b"x\nlast\nline\n".to_vec())
        );
    }

    #[test]
    fn exact_bytes_lose_the_same_lines_and_keep_the_others_exactly() {
        let v = volatile(&["^!Time: "]);
        let raw = b"!Time: Tue Mar  5 10:00:01 2024\nhostname caf\xe9\n\0x\n".to_vec();
        let out = v.strip(DeviceText::from_bytes(raw));
        assert_eq!(out.as_bytes(), b"hostname caf\xe9\n\0x\n");
        assert!(out.exact().is_some(), "still not text");
        // Text that loses its lines stays text without a byte copy beside it.
        let out = v.strip(DeviceText::from_text("!Time: now\nhostname r1\n".into()));
        assert_eq!((out.text(), out.exact()), ("hostname r1\n", None));
    }

    #[test]
    fn bad_patterns_are_named() {
        let err = Volatile::new(&["(".to_string()]).expect_err("unbalanced");
        assert!(err.to_string().contains("\"(\""), "{err}");
        let err = Volatile::new(&["\\Afoo".to_string()]).expect_err("text anchor");
        assert!(err.to_string().contains("use ^ and $"), "{err}");
        assert!(Volatile::new(&[]).expect("empty is fine").is_none());
    }

    /// Each built-in profile against what its devices print: every volatile line goes,
    /// the configuration around it stays byte for byte.
    #[test]
    fn built_in_profiles_remove_what_their_devices_print() {
        let profiles = crate::platform::Profiles::load(None).expect("built-ins parse");
        let cases: &[(&str, &str, &str)] = &[
            (
                "cisco_ios",
                "Building configuration...\r\n\r\nCurrent configuration : 3781 bytes\r\n!\r\n\
                 ! Last configuration change at 14:22:05 UTC Tue Mar 5 2024 by admin\r\n\
                 ! NVRAM config last updated at 14:22:07 UTC Tue Mar 5 2024 by admin\r\n!\r\n\
                 version 15.2\r\nhostname r1\r\n",
                "\r\n!\r\n!\r\nversion 15.2\r\nhostname r1\r\n",
            ),
            (
                "cisco_ios",
                "Building configuration...\n\nCurrent configuration : 912 bytes\n!\n\
                 ! No configuration change since last restart\n!\nversion 17.9\n\
                 interface Gi1\n description ntp clock-period 17179869\n!\n\
                 ntp clock-period 17179869\nntp server 10.0.0.1\nend\n",
                "\n!\n!\nversion 17.9\ninterface Gi1\n description ntp clock-period 17179869\n\
                 !\nntp server 10.0.0.1\nend\n",
            ),
            (
                "cisco_nxos",
                "\n!Command: show running-config\n!Running configuration last done at: Tue Mar  5 14:22:05 2024\n\
                 !Time: Tue Mar  5 14:25:11 2024\n\nversion 9.3(8) Bios:version 05.45\nhostname n1\n",
                "\n!Command: show running-config\n\nversion 9.3(8) Bios:version 05.45\nhostname n1\n",
            ),
            (
                "arista_eos",
                "! Command: show running-config\n! device: sw1 (DCS-7050SX-64, EOS-4.28.3M)\n!\n\
                 ! Startup-config last modified at Tue Mar  5 14:22:05 2024 by admin\n\
                 ! boot system flash:/EOS-4.28.3M.swi\n!\nhostname sw1\n",
                "!\n! boot system flash:/EOS-4.28.3M.swi\n!\nhostname sw1\n",
            ),
            (
                "juniper_junos",
                "## Last commit: 2024-03-05 14:22:05 UTC by admin\nversion 21.4R3-S5;\n\
                 system {\n    host-name mx1;\n}\n",
                "version 21.4R3-S5;\nsystem {\n    host-name mx1;\n}\n",
            ),
            (
                "juniper_junos",
                "## Last changed: 2024-03-05 14:22:05 UTC\nset version 21.4R3-S5\n\
                 set interfaces ge-0/0/0 description \"## Last commit: \"\n",
                "set version 21.4R3-S5\nset interfaces ge-0/0/0 description \"## Last commit: \"\n",
            ),
            (
                "cisco_xr",
                "Sat Apr  4 02:42:10.498 UTC\nBuilding configuration...\n\
                 !! IOS XR Configuration 6.6.3\n\
                 !! Last configuration change at Fri Apr  3 22:52:53 2026 by admin\n!\n\
                 hostname lab-xrv0\n",
                "!! IOS XR Configuration 6.6.3\n!\nhostname lab-xrv0\n",
            ),
            (
                "cisco_asa",
                ": Saved\n: Written by enable_15 at 01:02:03.456 UTC Mon Jan 1 2024\n:\n\
                 ASA Version 9.16(4)\n!\nhostname fw1\n\
                 Cryptochecksum:2ab0e943d112e3066d830e29a140d8a9\n: end\n",
                ":\nASA Version 9.16(4)\n!\nhostname fw1\n: end\n",
            ),
            (
                "huawei_vrp",
                "2024-03-05 14:22:05.123+00:00\n!Software Version V200R021C10SPC600\n\
                 !Last configuration was updated at 2024-03-05 14:20:00+00:00 by netops\n\
                 !Last configuration was saved at 2024-03-01 09:00:00+00:00\n#\n sysname s1\n#\nreturn\n",
                "!Software Version V200R021C10SPC600\n#\n sysname s1\n#\nreturn\n",
            ),
            (
                "fortinet",
                "#config-version=FGT60F-7.2.8-FW-build1639-240313:opmode=0:vdom=0:user=admin\n\
                 #conf_file_ver=84751309846839\n#buildno=1639\n#global_vdom=1\n\
                 config system global\n    set hostname \"fw1\"\nend\n",
                "#buildno=1639\n#global_vdom=1\nconfig system global\n    set hostname \"fw1\"\nend\n",
            ),
            (
                "mikrotik_routeros",
                "# 2024-03-05 14:22:05 by RouterOS 7.14.2\n# software id = ABCD-1234\n#\n\
                 /system identity\nset name=r1\n",
                "# software id = ABCD-1234\n#\n/system identity\nset name=r1\n",
            ),
            (
                "mikrotik_routeros",
                "# mar/05/2024 14:22:05 by RouterOS 6.49.10\n/system identity\nset name=r1\n",
                "/system identity\nset name=r1\n",
            ),
        ];
        for (platform, sent, kept) in cases {
            let profile = profiles.get(platform).expect("built in");
            let v = profile.volatile.as_ref().expect("has volatile lines");
            assert_eq!(strip(v, sent), *kept, "{platform}");
        }
        for platform in [
            "linux",
            "generic",
            "hp_procurve",
            "paloalto_panos",
            "aruba_aoscx",
        ] {
            assert!(profiles.get(platform).expect("built in").volatile.is_none());
        }
    }

    /// No volatile line, no copy: one scan of a 20 KB configuration, the value handed
    /// back as it came (the same allocation).
    #[test]
    fn a_configuration_without_volatile_lines_is_not_copied() {
        let profiles = crate::platform::Profiles::load(None).expect("built-ins parse");
        let ios = profiles.get("cisco_ios").expect("ios");
        let v = ios.volatile.as_ref().expect("volatile");
        let mut config = String::new();
        let mut n = 0;
        while config.len() < 20_000 {
            config.push_str(&format!(
                "interface GigabitEthernet0/{n}\n description uplink {n}\n ip address 10.0.{}.1 255.255.255.0\n!\n",
                n % 250
            ));
            n += 1;
        }
        let before = config.as_ptr();
        let out = v.strip(DeviceText::from_text(config));
        assert_eq!(out.text().as_ptr(), before, "handed back without a copy");
        let started = std::time::Instant::now();
        for _ in 0..100 {
            assert!(v.strip_bytes(out.text().as_bytes()).is_none());
        }
        // Some 10 µs per scan in a release build; the bound is loose for a loaded debug one.
        let per_scan = started.elapsed() / 100;
        assert!(
            per_scan < std::time::Duration::from_millis(20),
            "{per_scan:?}"
        );
    }
}
