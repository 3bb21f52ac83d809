//! `netraven device configs` (a device's versions as a table) and `device config` (one
//! version's text: as stored for a file, escaped for a terminal).

use super::history::{DeviceVersions, VersionText};
use super::{number, short_hash, shown, Style};
use comfy_table::Cell;
use netraven_shared::text::{escape_controls, Lines};
use std::borrow::Cow;
use std::fmt::Write;

/// The versions, newest first, and a line saying how to read one.
pub fn render_versions(v: &DeviceVersions, style: Style) -> String {
    if v.versions.is_empty() {
        return format!("{} has no configuration stored yet\n", shown(&v.device));
    }
    let mut table = style.table([
        "VERSION",
        "SHA256",
        "FIRST SEEN",
        "LAST SEEN",
        "JOB",
        "BYTES",
        "+LINES",
        "-LINES",
    ]);
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    let count = |n: Option<i32>| number(n.map_or_else(|| "-".to_string(), |n| n.to_string()));
    for r in &v.versions {
        table.add_row(vec![
            number(r.version),
            Cell::new(short_hash(Some(&r.sha256))),
            Cell::new(day(r.first_seen_at)),
            Cell::new(day(r.last_seen_at)),
            Cell::new(r.first_job_id.map_or_else(|| "-".into(), |j| j.to_string())),
            number(r.size_bytes),
            count(r.lines_added),
            count(r.lines_removed),
        ]);
    }
    let mut out = format!(
        "{}: {} version{} (times UTC)\n{table}\n",
        shown(&v.device),
        v.versions.len(),
        if v.versions.len() == 1 { "" } else { "s" }
    );
    if v.versions.len() > 1 {
        let _ = writeln!(
            out,
            "`netraven device diff {}` shows the latest change; `device config {} --version N` \
             one version",
            shown(&v.device),
            shown(&v.device)
        );
    }
    out
}

/// How `device config` writes a version's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMode {
    /// The text as stored (for a file or a pipe).
    Stored,
    /// Control characters escaped, line ends kept (for a terminal).
    Escaped,
    /// The exact bytes the device sent.
    Raw,
}

/// The bytes `device config` writes for `v`.
pub fn render_text(v: &VersionText, mode: TextMode) -> Cow<'_, [u8]> {
    match mode {
        TextMode::Stored => Cow::Borrowed(v.content.as_bytes()),
        TextMode::Raw => Cow::Borrowed(v.bytes()),
        // From the exact bytes, so a NUL reads `\0`, not the U+FFFD of the stored text.
        TextMode::Escaped => {
            let text = String::from_utf8_lossy(v.bytes());
            Cow::Owned(
                escape_controls(&text, Lines::Keep)
                    .into_owned()
                    .into_bytes(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::history::Version;

    fn hostile() -> VersionText {
        VersionText {
            device: "r1".into(),
            meta: Version {
                version: 2,
                sha256: "ab".repeat(32),
                first_seen_at: chrono::Utc::now(),
                last_seen_at: chrono::Utc::now(),
                first_job_id: None,
                last_job_id: None,
                size_bytes: 20,
                lines_added: Some(1),
                lines_removed: Some(0),
            },
            content: "hostname r1\n\u{1b}]0;x\u{7}\u{fffd}\n".into(),
            content_base64: Some(b"hostname r1\n\x1b]0;x\x07\0\n".to_vec()),
        }
    }

    #[test]
    fn a_terminal_sees_escapes_and_a_file_gets_what_was_stored() {
        let v = hostile();
        assert_eq!(
            render_text(&v, TextMode::Escaped).as_ref(),
            b"hostname r1\n\\e]0;x\\x07\\0\n"
        );
        assert_eq!(
            render_text(&v, TextMode::Stored).as_ref(),
            v.content.as_bytes()
        );
        assert_eq!(
            render_text(&v, TextMode::Raw).as_ref(),
            b"hostname r1\n\x1b]0;x\x07\0\n"
        );
    }
}
