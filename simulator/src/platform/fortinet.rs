//! The `fortinet` platform (FortiOS): `HOST # `, paging off by `config system console`,
//! `set output standard`, `end` (the prompt reads `HOST (console) # ` in between), `show`,
//! the `--More-- ` pager, `Unknown action 0` and `Command fail. Return code -61`.

use super::{LineResult, ShellState};
use crate::device::Device;

/// The FortiOS pager prompt.
pub const MORE: &str = "--More-- ";
/// What erases [`MORE`] once answered (FortiOS writes `\r`, blanks, `\r`).
pub(crate) const MORE_ERASE: &str = "\r         \r";

pub(crate) fn prompt(device: &Device, state: &ShellState) -> String {
    match state.context {
        Some(context) => format!("{} ({context}) # ", device.name()),
        None => format!("{} # ", device.name()),
    }
}

/// A known first word with a word after it FortiOS cannot parse.
fn parse_error(word: &str) -> LineResult {
    LineResult::text(format!(
        "command parse error before '{word}'\nCommand fail. Return code -61\n"
    ))
}

pub(crate) fn line(device: &Device, state: &mut ShellState, line: &str) -> LineResult {
    let words: Vec<&str> = line.split_whitespace().collect();
    match (state.context, words.as_slice()) {
        (_, []) => LineResult::default(),
        (None, ["config", "system", "console"]) => {
            state.context = Some("console");
            LineResult::default()
        }
        (Some("console"), ["set", "output", "standard"]) => {
            state.paging = false;
            LineResult::default()
        }
        (Some("console"), ["set", "output", "more"]) => {
            state.paging = true;
            LineResult::default()
        }
        (Some(_), ["end"] | ["abort"]) => {
            state.context = None;
            LineResult::default()
        }
        (Some(_), ["set", _, bad, ..]) => parse_error(bad),
        (None, ["show"]) => LineResult::config(device),
        (None, ["get", "system", "status"]) => LineResult::paged(format!(
            "Version: FortiGate-60F v7.2.8,build1639,240313 (GA.M)\n\
             Serial-Number: FGT60FTK2209XXXX\n\
             BIOS version: 05000009\n\
             Log hard disk: Not available\n\
             Hostname: {}\n\
             Operation Mode: NAT\n\
             Current virtual domain: root\n\
             Virtual domains status: 1 in NAT mode, 0 in TP mode\n\
             Virtual domain configuration: disable\n\
             System time: Tue Mar  5 14:22:05 2024\n",
            device.name()
        )),
        (None, ["exit"]) => LineResult::close(""),
        (None, ["show" | "get" | "config" | "diagnose" | "execute", bad, ..]) => parse_error(bad),
        _ => LineResult::text("Unknown action 0\nCommand fail. Return code -1\n"),
    }
}
