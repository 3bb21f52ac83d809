//! `netraven device diff`: two versions' line diff (the `similar` crate) as hunks for
//! `--json`, and as a unified diff for people: red and green on a terminal, escaped.

use super::{shown, Style};
use comfy_table::Color;
use std::fmt::Write;

pub use netraven_reads::diff::*;

/// The unified diff: headers naming the versions, `@@` lines in cyan, removed lines red,
/// added green; every line's control characters escaped.
pub fn render(d: &ConfigDiff, style: Style) -> String {
    let name = shown(&d.device);
    let side = |s: &Side| {
        format!(
            "{name} version {} ({}, {})",
            s.version,
            &s.sha256[..s.sha256.len().min(12)],
            s.first_seen_at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    };
    let mut out = String::new();
    let _ = writeln!(out, "--- {}", side(&d.from));
    let _ = writeln!(out, "+++ {}", side(&d.to));
    for h in &d.hunks {
        let range = |start: usize, len: usize| match len {
            1 => start.to_string(),
            _ => format!("{start},{len}"),
        };
        let header = format!(
            "@@ -{} +{} @@",
            range(h.old_start, h.old_lines),
            range(h.new_start, h.new_lines)
        );
        let _ = writeln!(out, "{}", style.paint(&header, Some(Color::Cyan)));
        for l in &h.lines {
            let (mark, color) = match l.tag {
                "added" => ('+', Some(Color::Green)),
                "removed" => ('-', Some(Color::Red)),
                _ => (' ', None),
            };
            let line = format!("{mark}{}", shown(&l.text));
            let _ = writeln!(out, "{}", style.paint(&line, color));
        }
    }
    if d.hunks.is_empty() {
        let _ = writeln!(
            out,
            "(versions {} and {} have the same text)",
            d.from.version, d.to.version
        );
    } else {
        let _ = writeln!(
            out,
            "{} line{} added, {} removed",
            d.lines_added,
            if d.lines_added == 1 { "" } else { "s" },
            d.lines_removed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::history::{Version, VersionText};
    use chrono::Utc;

    fn version(n: i32, content: &str) -> VersionText {
        VersionText {
            device: "r1".into(),
            meta: Version {
                version: n,
                sha256: format!("{n:064}"),
                first_seen_at: Utc::now(),
                last_seen_at: Utc::now(),
                first_job_id: None,
                last_job_id: None,
                size_bytes: 0,
                lines_added: None,
                lines_removed: None,
            },
            content: content.into(),
            content_base64: None,
        }
    }

    #[test]
    fn a_changed_line_reads_as_a_unified_diff() {
        let old = version(1, "hostname r1\nntp server 1.1.1.1\nend\n");
        let new = version(
            2,
            "hostname r1\nntp server 2.2.2.2\nlogging host 3.3.3.3\nend\n",
        );
        let d = diff(&old, &new, 1);
        assert_eq!((d.lines_added, d.lines_removed), (2, 1));
        assert_eq!(d.hunks.len(), 1);
        let text = render(&d, Style::plain());
        assert!(
            text.contains(
                "@@ -1,3 +1,4 @@\n hostname r1\n-ntp server 1.1.1.1\n+ntp server 2.2.2.2\n\
                 +logging host 3.3.3.3\n end\n"
            ),
            "{text}"
        );
        let coloured = render(
            &d,
            Style {
                color: true,
                width: None,
            },
        );
        assert!(
            coloured.contains("\x1b[31m-ntp server 1.1.1.1\x1b[0m"),
            "{coloured}"
        );
        assert!(
            coloured.contains("\x1b[32m+ntp server 2.2.2.2\x1b[0m"),
            "{coloured}"
        );
    }

    #[test]
    fn device_bytes_reach_the_diff_escaped() {
        let d = diff(&version(1, "a\n"), &version(2, "a\n\u{1b}[2Jb\r\n"), 3);
        let text = render(&d, Style::plain());
        assert!(text.contains("+\\e[2Jb\\r\n"), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert_eq!(d.hunks[0].lines[1].text, "\u{1b}[2Jb\r");
    }
}
