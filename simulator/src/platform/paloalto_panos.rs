//! The `paloalto_panos` platform: `user@HOST> ` (operational mode), `set cli
//! scripting-mode on`, `set cli pager off`, `show config running` (XML),
//! `Unknown command: WORD` and `Invalid syntax.`

use super::{LineResult, ShellState};
use crate::device::Device;

/// What PAN-OS prints before the first prompt.
pub const BANNER: &str = "Number of failed attempts since last successful login: 0\n\n\n";
/// The PAN-OS pager prompt.
pub const MORE: &str = "--more--";
/// What erases [`MORE`] once answered.
pub(crate) const MORE_ERASE: &str = "\r        \r";

pub(crate) fn prompt(device: &Device, state: &ShellState) -> String {
    format!("{}@{}> ", state.user, device.name())
}

pub(crate) fn line(device: &Device, state: &mut ShellState, line: &str) -> LineResult {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => LineResult::default(),
        ["set", "cli", "pager", "off"] => {
            state.paging = false;
            LineResult::default()
        }
        ["set", "cli", "pager", "on"] => {
            state.paging = true;
            LineResult::default()
        }
        ["set", "cli", "scripting-mode", "on" | "off"] => LineResult::default(),
        ["set", "cli", "terminal", "width", n] if n.parse::<u32>().is_ok() => LineResult::default(),
        ["show", "config", "running"] => LineResult::config(device),
        ["show", "system", "info"] => LineResult::paged(format!(
            "\nhostname: {}\nip-address: 10.0.0.20\nmodel: PA-VM\nserial: 007200001234\n\
             sw-version: 10.2.4\napp-version: 8712-8222\nuptime: 41 days, 3:12:05\n",
            device.name()
        )),
        ["exit" | "quit"] => LineResult::close(""),
        // A known verb whose object PAN-OS does not know.
        ["show" | "set" | "request" | "test" | "debug", bad, ..]
            if !matches!(*bad, "config" | "system" | "cli") =>
        {
            LineResult::text(format!("Unknown command: {bad}\n"))
        }
        ["show" | "set" | "request" | "test" | "debug", ..] => {
            LineResult::text("Invalid syntax.\n")
        }
        [bad, ..] => LineResult::text(format!("Unknown command: {bad}\n")),
    }
}
