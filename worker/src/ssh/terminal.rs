//! Pure text logic of interactive shells: a small terminal (ANSI escapes, CR, backspace),
//! prompt and pager matching at the end of output, and stripping the command's echo.
//!
//! No I/O here, so it can be unit tested and fuzzed: [`Terminal::feed`] takes any bytes in
//! any chunking and gives the same text as if they had arrived at once.

use std::ops::Range;

use regex::Regex;

/// Longest escape sequence we keep swallowing before deciding it is garbage.
const MAX_CSI: usize = 64;
const MAX_STRING_SEQ: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Esc {
    #[default]
    Ground,
    /// After `ESC`.
    Escape,
    /// After `ESC` and an intermediate byte such as `(`: one more byte ends it.
    EscapeIntermediate,
    /// `ESC [` ... final byte.
    Csi,
    /// `ESC ]`, `ESC P`, ...: ends at BEL or `ESC \`.
    StringSeq,
    /// `ESC` inside a string sequence: `\` ends it.
    StringSeqEscape,
}

/// What a terminal would show, reduced to text lines.
///
/// Handles: CSI / OSC / DCS escape sequences (removed; `K` erase-line and `C`/`D`/`G`
/// cursor moves are applied), `\r\n` and `\n\r` line ends, a lone `\r` (back to column 0,
/// later text overwrites), backspace (cursor left; `\b \b` erases), other control bytes
/// (dropped) and UTF-8 split across chunks (invalid bytes become U+FFFD). Lines that were
/// overwritten lose their trailing blanks (what erasing a pager leaves behind).
#[derive(Debug, Default, Clone)]
pub struct Terminal {
    /// Completed lines, each ending in `\n`.
    done: String,
    /// The current line.
    line: String,
    /// Characters in `line`.
    line_chars: usize,
    /// Cursor column, in characters (may be past the end: writing pads with blanks).
    col: usize,
    /// The current line was edited in place (CR, backspace, cursor moves, pager removed).
    dirty: bool,
    pending_cr: bool,
    esc: Esc,
    esc_len: usize,
    csi_params: Vec<u8>,
    utf8: Vec<u8>,
}

impl Terminal {
    pub fn new() -> Self {
        Terminal::default()
    }

    /// Feeds bytes received from the device.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while let Some((&b, rest)) = bytes.split_first() {
            // Fast path, most of every reply: a run of printable ASCII written at the end
            // of the line is appended whole, not a character at a time.
            if self.appending() {
                let run = bytes
                    .iter()
                    .position(|b| !(0x20..0x7f).contains(b))
                    .unwrap_or(bytes.len());
                if run > 0 {
                    let (text, rest) = bytes.split_at(run);
                    self.append_ascii(text);
                    bytes = rest;
                    continue;
                }
            }
            self.byte(b);
            bytes = rest;
        }
    }

    /// Whether the next printable character simply goes at the end of the line: no
    /// escape sequence, CR or UTF-8 sequence pending, the cursor at the end.
    fn appending(&self) -> bool {
        self.esc == Esc::Ground
            && !self.pending_cr
            && self.utf8.is_empty()
            && self.col == self.line_chars
    }

    fn append_ascii(&mut self, text: &[u8]) {
        // Printable ASCII is always UTF-8; the check is a formality the compiler keeps cheap.
        if let Ok(text) = std::str::from_utf8(text) {
            self.line.push_str(text);
            self.line_chars += text.len();
            self.col = self.line_chars;
        }
    }

    /// The line the cursor is on (after the last `\n`): where prompts and pagers appear.
    pub fn current_line(&self) -> &str {
        &self.line
    }

    /// All text so far, current line included.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.done.len() + self.line.len());
        s.push_str(&self.done);
        s.push_str(&self.line);
        s
    }

    /// Whether nothing has been shown since the last take.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty() && self.line.is_empty()
    }

    /// Removes the current line from byte offset `at` on (a pager prompt); later output
    /// continues there.
    pub fn cut_current_line(&mut self, at: usize) {
        let at = floor_char_boundary(&self.line, at);
        self.line.truncate(at);
        self.line_chars = self.line.chars().count();
        self.col = self.line_chars;
        self.dirty = true;
    }

    /// Takes the text up to byte offset `at` of the current line (a prompt starting there)
    /// and empties the terminal. Escape, CR and UTF-8 state carry over.
    pub fn take_until(&mut self, at: usize) -> String {
        let at = floor_char_boundary(&self.line, at);
        let mut out = std::mem::take(&mut self.done);
        out.push_str(self.line.get(..at).unwrap_or_default());
        self.line.clear();
        self.line_chars = 0;
        self.col = 0;
        self.dirty = false;
        out
    }

    fn byte(&mut self, b: u8) {
        match self.esc {
            Esc::Ground => self.ground(b),
            Esc::Escape => self.escape(b),
            Esc::EscapeIntermediate => self.esc = Esc::Ground,
            Esc::Csi => self.csi(b),
            Esc::StringSeq => {
                self.esc_len += 1;
                if b == 0x07 {
                    self.esc = Esc::Ground;
                } else if b == 0x1b {
                    self.esc = Esc::StringSeqEscape;
                } else if self.esc_len > MAX_STRING_SEQ {
                    self.esc = Esc::Ground;
                }
            }
            Esc::StringSeqEscape => {
                // `ESC \` ends it; anything else: still inside (lenient).
                self.esc = if b == b'\\' {
                    Esc::Ground
                } else {
                    Esc::StringSeq
                };
            }
        }
    }

    fn ground(&mut self, b: u8) {
        if self.pending_cr {
            match b {
                b'\n' => {
                    self.pending_cr = false;
                    self.newline();
                    return;
                }
                // `\r\r\n`: one line end.
                b'\r' => return,
                _ => {
                    self.pending_cr = false;
                    self.carriage_return();
                }
            }
        }
        if b >= 0x80 {
            self.utf8_byte(b);
            return;
        }
        self.flush_utf8();
        match b {
            b'\r' => self.pending_cr = true,
            b'\n' => self.newline(),
            0x08 => {
                if self.col > 0 {
                    self.col -= 1;
                    self.dirty = true;
                }
            }
            0x1b => {
                self.esc = Esc::Escape;
                self.esc_len = 0;
            }
            b'\t' => self.put('\t'),
            0x00..=0x1f | 0x7f => {}
            _ => self.put(char::from(b)),
        }
    }

    fn escape(&mut self, b: u8) {
        self.esc = match b {
            b'[' => {
                self.csi_params.clear();
                Esc::Csi
            }
            b']' | b'P' | b'X' | b'^' | b'_' => Esc::StringSeq,
            b' '..=b'/' => Esc::EscapeIntermediate,
            // `ESC ESC`: the first one was stray; start over.
            0x1b => Esc::Escape,
            _ => Esc::Ground,
        };
    }

    fn csi(&mut self, b: u8) {
        self.esc_len += 1;
        match b {
            0x30..=0x3f if self.esc_len <= MAX_CSI => self.csi_params.push(b),
            0x20..=0x2f if self.esc_len <= MAX_CSI => {}
            0x40..=0x7e => {
                self.esc = Esc::Ground;
                self.csi_final(b);
            }
            _ => {
                // Malformed or endless: drop the sequence, keep the byte.
                self.esc = Esc::Ground;
                self.ground(b);
            }
        }
    }

    fn csi_final(&mut self, fin: u8) {
        let first = self
            .csi_params
            .split(|c| *c == b';')
            .next()
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|p| p.parse::<usize>().ok());
        let n = first.unwrap_or(0);
        match fin {
            // Erase in line: 0 cursor to end, 1 start to cursor, 2 whole line.
            b'K' => {
                self.dirty = true;
                match n {
                    0 => self.truncate_at_cursor(),
                    1 => {
                        let keep: String = self.line.chars().skip(self.col + 1).collect();
                        let blanks = (self.col + 1).min(self.line_chars);
                        self.line = " ".repeat(blanks) + &keep;
                        self.line_chars = blanks + keep.chars().count();
                    }
                    _ => {
                        self.line.clear();
                        self.line_chars = 0;
                    }
                }
            }
            b'D' => {
                self.col = self.col.min(self.line_chars).saturating_sub(n.max(1));
                self.dirty = true;
            }
            b'C' => {
                self.col = self.col.saturating_add(n.max(1)).min(4096);
                self.dirty = true;
            }
            b'G' => {
                self.col = n.clamp(1, 4096) - 1;
                self.dirty = true;
            }
            _ => {}
        }
    }

    fn truncate_at_cursor(&mut self) {
        if self.col < self.line_chars {
            let at = self
                .line
                .char_indices()
                .nth(self.col)
                .map_or(self.line.len(), |(i, _)| i);
            self.line.truncate(at);
            self.line_chars = self.col;
        }
    }

    fn utf8_byte(&mut self, b: u8) {
        self.utf8.push(b);
        match std::str::from_utf8(&self.utf8) {
            Ok(s) => {
                let chars: Vec<char> = s.chars().collect();
                self.utf8.clear();
                for c in chars {
                    self.put(c);
                }
            }
            Err(e) if e.error_len().is_some() || self.utf8.len() >= 4 => {
                self.utf8.clear();
                self.put(char::REPLACEMENT_CHARACTER);
            }
            Err(_) => {}
        }
    }

    fn flush_utf8(&mut self) {
        if !self.utf8.is_empty() {
            self.utf8.clear();
            self.put(char::REPLACEMENT_CHARACTER);
        }
    }

    fn carriage_return(&mut self) {
        if self.col > 0 {
            self.dirty = true;
        }
        self.col = 0;
    }

    fn put(&mut self, c: char) {
        if self.col >= self.line_chars {
            for _ in self.line_chars..self.col {
                self.line.push(' ');
            }
            self.line.push(c);
            self.col += 1;
            self.line_chars = self.col;
            return;
        }
        if let Some((i, old)) = self.line.char_indices().nth(self.col) {
            let mut buf = [0u8; 4];
            self.line
                .replace_range(i..i + old.len_utf8(), c.encode_utf8(&mut buf));
        }
        self.col += 1;
    }

    fn newline(&mut self) {
        self.flush_utf8();
        if self.dirty {
            let end = self.line.trim_end_matches(' ').len();
            self.line.truncate(end);
        }
        self.done.push_str(&self.line);
        self.done.push('\n');
        self.line.clear();
        self.line_chars = 0;
        self.col = 0;
        self.dirty = false;
    }
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The first match of `re` in `line` that ends the line (only blanks after it).
///
/// Prompts and pagers are only looked for on the current line, so text earlier in the
/// output (a config line that looks like a prompt) can never match.
pub fn match_at_end(line: &str, re: &Regex) -> Option<Range<usize>> {
    re.find_iter(line)
        .find(|m| {
            line.get(m.end()..)
                .is_some_and(|rest| rest.trim().is_empty())
        })
        .map(|m| m.range())
}

/// `output` without the echo of `typed`: leading blank lines, then the first line if it
/// ends with what was typed (devices echo it, sometimes after a prompt). Output that does
/// not start with the echo is returned whole.
pub fn strip_echo<'a>(output: &'a str, typed: &str) -> &'a str {
    let typed = typed.trim();
    if typed.is_empty() {
        return output;
    }
    let body = output.trim_start_matches(['\n', ' ']);
    let (first, rest) = match body.split_once('\n') {
        Some((first, rest)) => (first, rest),
        None => (body, ""),
    };
    if first.trim_end().ends_with(typed) {
        rest
    } else {
        output
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(bytes: &[u8]) -> String {
        let mut t = Terminal::new();
        t.feed(bytes);
        t.text()
    }

    #[test]
    fn line_ends() {
        assert_eq!(show(b"a\r\nb\n\rc\r\r\nd"), "a\nb\nc\nd");
        assert_eq!(show(b"one\r\n\r\ntwo\r\n"), "one\n\ntwo\n");
    }

    #[test]
    fn ansi_sequences_are_removed() {
        assert_eq!(show(b"\x1b[1;32mgreen\x1b[0m text"), "green text");
        assert_eq!(show(b"\x1b]0;title\x07R1#"), "R1#");
        assert_eq!(show(b"\x1b]0;title\x1b\\R1#"), "R1#");
        assert_eq!(show(b"\x1b(Bx\x1b=y"), "xy");
        assert_eq!(show(b"\x1b[?2004hR1#"), "R1#");
    }

    #[test]
    fn carriage_return_overwrites_and_erase_line() {
        assert_eq!(show(b"Loading...\rDone\x1b[K\r\n"), "Done\n");
        assert_eq!(show(b"abcdef\rXY\r\n"), "XYcdef\n");
        assert_eq!(show(b"abc\x1b[2K\rxyz\n"), "xyz\n");
    }

    #[test]
    fn backspace_moves_the_cursor() {
        assert_eq!(show(b"abc\x08\x08 \x08\x08\n"), "a c\n");
        assert_eq!(show(b"abc\x08 \x08\n"), "ab\n");
        assert_eq!(show(b"\x08\x08x"), "x");
    }

    #[test]
    fn control_bytes_dropped_and_utf8_kept() {
        assert_eq!(show(b"a\x07b\x00c\x7f"), "abc");
        assert_eq!(show("café — ok".as_bytes()), "café — ok");
        assert_eq!(show(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(show(b"a\xc3"), "a");
        assert_eq!(show(b"a\xc3b"), "a\u{fffd}b");
    }

    #[test]
    fn cisco_pager_erase_leaves_clean_lines() {
        let pager = Regex::new(r"\s*--More--\s*").expect("regex");
        let mut t = Terminal::new();
        t.feed(b"line 1\r\nline 2\r\n --More-- ");
        let m = match_at_end(t.current_line(), &pager).expect("pager at end");
        t.cut_current_line(m.start);
        t.feed(b"\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08          ");
        t.feed(b"\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08line 3\r\nR1#");
        assert_eq!(t.text(), "line 1\nline 2\nline 3\nR1#");
    }

    #[test]
    fn junos_pager_erase_leaves_clean_lines() {
        let pager = Regex::new(r"\s*---\(more[^)]*\)---\s*").expect("regex");
        let mut t = Terminal::new();
        t.feed(b"set a\r\n---(more 42%)---");
        let m = match_at_end(t.current_line(), &pager).expect("pager at end");
        t.cut_current_line(m.start);
        t.feed(b"\r            \rset b\r\nuser@r1> ");
        assert_eq!(t.text(), "set a\nset b\nuser@r1> ");
    }

    #[test]
    fn prompt_only_at_the_end_of_the_current_line() {
        let prompt = Regex::new(r"(?m)^[\w.\-@()/:]{1,63}[>#]\s*$").expect("regex");
        assert_eq!(match_at_end("R1#", &prompt), Some(0..3));
        assert_eq!(match_at_end("R1(config)# ", &prompt), Some(0..12));
        assert_eq!(match_at_end(" description R1#", &prompt), None);
        assert_eq!(match_at_end("R1#show run", &prompt), None);
        let pager = Regex::new(r"\s*--More--\s*").expect("regex");
        assert_eq!(match_at_end("x --More-- ", &pager), Some(1..11));
        assert_eq!(match_at_end("--More-- and more", &pager), None);

        // A config line that looks like a prompt is not on the current line once its
        // newline arrived.
        let mut t = Terminal::new();
        t.feed(b"hostname R1\r\nR1#\r\n!\r\n");
        assert_eq!(match_at_end(t.current_line(), &prompt), None);
    }

    #[test]
    fn take_until_splits_output_and_prompt() {
        let mut t = Terminal::new();
        t.feed(b"show clock\r\n12:00\r\nR1#");
        let out = t.take_until(0);
        assert_eq!(out, "show clock\n12:00\n");
        assert!(t.is_empty());
        assert_eq!(strip_echo(&out, "show clock"), "12:00\n");
    }

    #[test]
    fn echo_stripping() {
        assert_eq!(strip_echo("show ver\nIOS 15\n", "show ver"), "IOS 15\n");
        assert_eq!(
            strip_echo("\nR1#show ver\nIOS 15\n", "show ver"),
            "IOS 15\n"
        );
        assert_eq!(strip_echo("IOS 15\n", "show ver"), "IOS 15\n");
        assert_eq!(strip_echo("show ver", "show ver"), "");
        assert_eq!(strip_echo("x\n", ""), "x\n");
    }

    /// xorshift: deterministic pseudo-random inputs without a dependency.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn any_chunking_gives_the_same_text() {
        let alphabet: &[u8] = b"ab #>\r\n\x08\x1b[]0;K2DmC\x07\\\xc3\xa9\xff\t-";
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2000 {
            let len = (rng(&mut seed) % 40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[(rng(&mut seed) as usize) % alphabet.len()])
                .collect();
            let whole = show(&input);
            for split in 0..=input.len() {
                let mut t = Terminal::new();
                t.feed(&input[..split]);
                t.feed(&input[split..]);
                assert_eq!(t.text(), whole, "input {input:?} split at {split}");
            }
            let one_by_one = {
                let mut t = Terminal::new();
                for b in &input {
                    t.feed(std::slice::from_ref(b));
                }
                t.text()
            };
            assert_eq!(one_by_one, whole, "input {input:?} byte by byte");
        }
    }

    #[test]
    fn cuts_and_takes_never_panic_on_odd_offsets() {
        let mut t = Terminal::new();
        t.feed("héllo".as_bytes());
        t.cut_current_line(2); // inside 'é'
        assert_eq!(t.current_line(), "h");
        t.feed("é".as_bytes());
        assert_eq!(t.take_until(99), "hé");
    }
}
