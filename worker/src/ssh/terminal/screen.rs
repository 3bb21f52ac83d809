//! The terminal's text: completed lines, the current line and its cursor; what callers
//! read, cut and take.

/// Where the byte stream stands in an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Esc {
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

/// The terminal's width: cursor moves stop at its last column, and a line that reaches it
/// goes on on the next line, as a terminal wraps. It bounds what one character written
/// inside a line costs (finding its place, moving what follows), whatever a device sends.
pub(super) const MAX_COLUMNS: usize = 4096;

/// Blanks that cursor moves may add (`ESC [ 4096 C` then one character pads a line with
/// 4,095), beyond one per byte received: the text stays within about twice what the
/// device sent, which is what the output budget counts.
pub(super) const PADDING_SLACK: usize = MAX_COLUMNS;

/// What a terminal would show, reduced to text lines.
///
/// Handles: CSI / OSC / DCS escape sequences (removed; `K` erase-line and `C`/`D`/`G`
/// cursor moves are applied), `\r\n` and `\n\r` line ends, a lone `\r` (back to column 0,
/// later text overwrites), backspace (cursor left; `\b \b` erases), other control bytes
/// (dropped) and UTF-8 split across chunks (invalid bytes become U+FFFD). Lines that were
/// overwritten lose their trailing blanks (what erasing a pager leaves behind). The
/// screen is [`MAX_COLUMNS`] wide: a longer line wraps, and the blanks cursor moves add
/// are bounded by the bytes received ([`PADDING_SLACK`]).
#[derive(Debug, Default, Clone)]
pub struct Terminal {
    /// Completed lines, each ending in `\n`.
    pub(super) done: String,
    /// The current line.
    pub(super) line: String,
    /// Characters in `line`.
    pub(super) line_chars: usize,
    /// Cursor column, in characters (may be past the end: writing pads with blanks).
    pub(super) col: usize,
    /// The current line was edited in place (CR, backspace, cursor moves, pager removed).
    pub(super) dirty: bool,
    pub(super) pending_cr: bool,
    pub(super) esc: Esc,
    pub(super) esc_len: usize,
    pub(super) csi_params: Vec<u8>,
    pub(super) utf8: Vec<u8>,
    /// Bytes fed so far, and blanks that cursor moves added: `padded` stays within
    /// `fed + PADDING_SLACK`.
    pub(super) fed: usize,
    pub(super) padded: usize,
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
                    self.fed += run;
                    self.append_ascii(text);
                    bytes = rest;
                    continue;
                }
            }
            self.fed += 1;
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

    fn append_ascii(&mut self, mut text: &[u8]) {
        while !text.is_empty() {
            if self.line_chars >= MAX_COLUMNS {
                self.newline();
            }
            let (now, rest) = text.split_at(text.len().min(MAX_COLUMNS - self.line_chars));
            // Printable ASCII is always UTF-8; the check is a formality the compiler keeps
            // cheap.
            if let Ok(now) = std::str::from_utf8(now) {
                self.line.push_str(now);
                self.line_chars += now.len();
                self.col = self.line_chars;
            }
            text = rest;
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
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}
