//! Pure text logic of interactive shells: a small terminal (ANSI escapes, CR, backspace),
//! prompt and pager matching at the end of output, and stripping the command's echo.
//!
//! No I/O here, so it can be unit tested and fuzzed: [`Terminal::feed`] takes any bytes in
//! any chunking and gives the same text as if they had arrived at once.
//!
//! Files: `screen.rs` ([`Terminal`]: the text so far, the current line, takes and cuts),
//! `bytes.rs` (how each byte moves it: escape sequences, control bytes, UTF-8) and
//! `matching.rs` (prompts and pagers at the end of a line, the command's echo).

mod bytes;
mod matching;
mod screen;

#[cfg(test)]
mod tests;

pub use matching::{match_at_end, strip_echo};
pub use screen::Terminal;
