//! How each byte received moves the terminal: escape sequences, line ends, carriage
//! returns, backspace, other control bytes and UTF-8 split across chunks.

use super::screen::{Esc, Terminal, MAX_COLUMNS, PADDING_SLACK};

/// Longest escape sequence we keep swallowing before deciding it is garbage.
const MAX_CSI: usize = 64;
const MAX_STRING_SEQ: usize = 4096;

impl Terminal {
    /// One byte off the fast path of [`Terminal::feed`].
    pub(super) fn byte(&mut self, b: u8) {
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
                self.col = self.col.saturating_add(n.max(1)).min(MAX_COLUMNS - 1);
                self.dirty = true;
            }
            b'G' => {
                self.col = n.clamp(1, MAX_COLUMNS) - 1;
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
        if self.col >= MAX_COLUMNS {
            // Past the last column: the line wraps.
            self.newline();
        }
        if self.col >= self.line_chars {
            // Blanks up to the cursor, within what the bytes received allow.
            let wanted = self.col - self.line_chars;
            let allowed = (self.fed + PADDING_SLACK).saturating_sub(self.padded);
            let blanks = wanted.min(allowed);
            self.padded += blanks;
            self.line.extend(std::iter::repeat_n(' ', blanks));
            self.line.push(c);
            self.line_chars += blanks + 1;
            self.col = self.line_chars;
            return;
        }
        // Inside the line: a line of ASCII (nearly all) is indexed directly; another
        // is at most MAX_COLUMNS characters to walk.
        let at = if self.line.len() == self.line_chars {
            Some((self.col, 1))
        } else {
            self.line
                .char_indices()
                .nth(self.col)
                .map(|(i, old)| (i, old.len_utf8()))
        };
        if let Some((i, len)) = at {
            let mut buf = [0u8; 4];
            self.line.replace_range(i..i + len, c.encode_utf8(&mut buf));
        }
        self.col += 1;
    }

    pub(super) fn newline(&mut self) {
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
