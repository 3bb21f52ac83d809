//! The `huawei_vrp` platform: `<HOST>` (user view; no `enable`, the login's level
//! decides), `screen-length 0 temporary`, `display current-configuration`,
//! `  ---- More ----`, `Error: Unrecognized command found at '^' position.`

use super::ShellState;
use super::{caret, parse, syn, LineResult, Syntax};
use crate::device::Device;

/// The VRP pager prompt.
pub const MORE: &str = "  ---- More ----";
/// What erases [`MORE`] once answered.
pub(crate) const MORE_ERASE: &str = "\r                \r";

/// VRP's answer to a word it does not know (after a caret line).
pub const UNRECOGNIZED: &str = "Error: Unrecognized command found at '^' position.";

const DISPLAY_CURRENT: usize = 0;
const DISPLAY_VERSION: usize = 1;
const QUIT: usize = 2;
const SCREEN_LENGTH: usize = 3;

const COMMANDS: &[Syntax] = &[
    syn(&["display", "current-configuration"], false),
    syn(&["display", "version"], false),
    syn(&["quit"], false),
    // `screen-length 0 temporary`: the number comes before the last keyword, which
    // `line` strips first.
    syn(&["screen-length"], true),
];

pub(crate) fn prompt(device: &Device, _state: &ShellState) -> String {
    format!("<{}>", device.name())
}

pub(crate) fn line(device: &Device, state: &mut ShellState, line: &str) -> LineResult {
    if line.trim().is_empty() {
        return LineResult::default();
    }
    // `screen-length N temporary` (this session only) is the form a user view takes.
    let mut words = line.split_whitespace();
    let temporary = words
        .next()
        .is_some_and(|w| "screen-length".starts_with(w) && w.len() >= 2)
        && words
            .nth(1)
            .is_some_and(|w| "temporary".starts_with(w) && w.len() >= 2)
        && words.next().is_none();
    let parsed_line = if temporary {
        line.trim_end()
            .rsplit_once(char::is_whitespace)
            .map_or(line, |(head, _)| head)
    } else {
        line
    };
    let unrecognized = |offset: usize| {
        let col = prompt(device, state).len() + offset.min(line.len());
        LineResult::text(format!("{}{UNRECOGNIZED}\n", caret(col)))
    };
    let (cmd, n) = match parse(parsed_line, COMMANDS) {
        // Without `temporary` the user view has no `screen-length`: VRP marks the end.
        Ok((SCREEN_LENGTH, _)) if !temporary => return unrecognized(line.trim_end().len()),
        Ok(parsed) => parsed,
        Err(offset) => return unrecognized(offset),
    };
    match cmd {
        DISPLAY_CURRENT => LineResult::config(device),
        DISPLAY_VERSION => LineResult::paged(format!(
            "Huawei Versatile Routing Platform Software\n\
             VRP (R) software, Version 8.210 (AR6300 V300R021C10SPC600)\n\
             Copyright (C) 2011-2023 HUAWEI TECH CO., LTD\n\
             HUAWEI AR6300 uptime is 38 days, 6 hours, 14 minutes\n\
             {} BoardType : AR6300\n",
            device.name()
        )),
        SCREEN_LENGTH => {
            state.paging = n != Some(0);
            LineResult::text(
                "Info: The configuration takes effect on the current user terminal interface only.\n",
            )
        }
        QUIT => LineResult::close(""),
        _ => unrecognized(0),
    }
}
