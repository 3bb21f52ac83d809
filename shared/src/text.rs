//! Text that came from outside (a device's output, its error lines, a database's message)
//! made safe to show: every control character escaped, so nothing a device sent can move
//! an operator's cursor, retitle their terminal, clear their screen or hide a line.
//!
//! The escaped form is for people. What is stored keeps what the device sent (see
//! docs/data-model.md); the views and the worker's reasons pass it through here.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether line ends and tabs are kept (a multi-line output printed as it is) or escaped
/// as well (a table cell, a reason: one line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// `\n` and `\t` stay; a lone `\r` is still escaped, since it would overwrite the line.
    Keep,
    /// Every control character is escaped, `\n` and `\t` too.
    Escape,
}

/// `s` with every control character escaped: NUL as `\0`, ESC as `\e`, `\r`, `\n` and
/// `\t` by their letters, other C0 controls and DEL as `\xNN`, C1 controls (U+0080 to
/// U+009F, which some terminals obey like ESC sequences) and the bidirectional overrides
/// and isolates (which reorder what is shown) as `\u{NNNN}`. A backslash is left as it is:
/// configurations are full of them, and the escapes are for reading, not for decoding.
///
/// Borrowed when nothing needed escaping, which is nearly always.
pub fn escape_controls(s: &str, lines: Lines) -> Cow<'_, str> {
    if !s.chars().any(|c| needs_escape(c, lines)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !needs_escape(c, lines) {
            out.push(c);
            continue;
        }
        match c {
            '\0' => out.push_str("\\0"),
            '\u{1b}' => out.push_str("\\e"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// One line of text for a table cell or a reason: [`escape_controls`] with
/// [`Lines::Escape`].
pub fn one_line(s: &str) -> Cow<'_, str> {
    escape_controls(s, Lines::Escape)
}

/// The longest reason made from what came from outside, in bytes ([`clip`]): decode
/// errors, dead letters' reasons.
pub const MAX_REASON_BYTES: usize = 1024;

/// `s` cut to at most `max` bytes in all (`max` ≥ 64), on a character boundary, saying
/// at the end how much was cut: for a reason built from what a message or a device sent
/// (a decoder quotes an unknown field's name whole), which goes into headers, replies and
/// logs. Borrowed when it fits; a clipped text clipped again is unchanged.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    // Room for the note: "… (" (5 bytes), up to 20 digits, " bytes cut)" (11 bytes).
    let mut at = max.saturating_sub(36);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes cut)", &s[..at], s.len() - at))
}

fn needs_escape(c: char, lines: Lines) -> bool {
    match c {
        '\n' | '\t' => lines == Lines::Escape,
        // U+202A..U+202E: embeddings and overrides; U+2066..U+2069: isolates.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        c => c.is_control(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_on_a_character_boundary_and_says_how_much() {
        assert!(matches!(clip("short", 64), Cow::Borrowed("short")));
        let long = "a".repeat(100);
        assert_eq!(
            clip(&long, 64),
            format!("{}… (72 bytes cut)", "a".repeat(28))
        );
        // 'é' is two bytes: a cut inside it falls back before it.
        let accents = format!("{}{}", "a".repeat(27), "é".repeat(40));
        assert_eq!(
            clip(&accents, 64),
            format!("{}… (80 bytes cut)", "a".repeat(27))
        );
        for s in [long.as_str(), accents.as_str()] {
            let once = clip(s, 64);
            assert!(once.len() <= 64, "{once}");
            assert_eq!(clip(&once, 64), once, "clipped again, unchanged");
        }
    }

    #[test]
    fn plain_text_is_borrowed_untouched() {
        let s = "interface Gi0/1\n description uplink \\ café\n";
        assert!(matches!(escape_controls(s, Lines::Keep), Cow::Borrowed(x) if x == s));
        assert_eq!(one_line("a b"), "a b");
    }

    #[test]
    fn every_control_is_escaped_and_nothing_raw_is_left() {
        let hostile =
            "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mred\u{1b}[0m\0x\u{8}\u{8}y\rz\u{7f}\u{9b}1m";
        let shown = escape_controls(hostile, Lines::Keep);
        assert_eq!(
            shown,
            "\\e]0;pwned\\x07\\e[2J\\e[31mred\\e[0m\\0x\\x08\\x08y\\rz\\x7f\\u{009b}1m"
        );
        assert!(!shown.chars().any(char::is_control), "{shown}");
    }

    #[test]
    fn line_ends_and_tabs_are_kept_only_when_asked() {
        assert_eq!(escape_controls("a\n\tb\r\n", Lines::Keep), "a\n\tb\\r\n");
        assert_eq!(one_line("a\n\tb\r\n"), "a\\n\\tb\\r\\n");
    }

    #[test]
    fn bidirectional_overrides_cannot_reorder_what_is_shown() {
        assert_eq!(one_line("ok\u{202e}txt.exe"), "ok\\u{202e}txt.exe");
        assert_eq!(one_line("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
    }

    #[test]
    fn any_string_comes_out_free_of_controls() {
        // Every char up to U+2100 at once, in both modes.
        let all: String = (0u32..0x2100).filter_map(char::from_u32).collect();
        for lines in [Lines::Keep, Lines::Escape] {
            let shown = escape_controls(&all, lines);
            assert!(shown
                .chars()
                .all(|c| !c.is_control() || (lines == Lines::Keep && matches!(c, '\n' | '\t'))));
        }
    }
}
