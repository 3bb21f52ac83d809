//! Prompts and pagers matched at the end of the current line, and the command's echo.

use regex::Regex;
use std::ops::Range;

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
