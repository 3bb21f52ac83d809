//! The `aruba_aoscx` platform: `HOST# ` at login for an administrator, `no page`,
//! `show running-config`, the `-- MORE --, next page: Space, ...` pager, and
//! `Invalid input: WORD` errors.

use super::ShellState;
use super::{kw, parse, LineResult, Syntax};
use crate::device::Device;

/// What an AOS-CX switch prints before the first prompt.
pub const BANNER: &str = "\nLast login: 2024-03-05 14:22:05 from 10.0.0.9\nUser \"netops\" has logged in 12 times in the past 30 days\n\n";
/// The AOS-CX pager prompt.
pub const MORE: &str = "-- MORE --, next page: Space, next line: Enter, quit: q";
/// What erases [`MORE`] once answered.
pub(crate) const MORE_ERASE: &str = "\r                                                       \r";

const NO_PAGE: usize = 0;
const PAGE: usize = 1;
const SHOW_RUN: usize = 2;
const SHOW_VERSION: usize = 3;
const EXIT: usize = 4;

const COMMANDS: &[Syntax] = &[
    kw(&["no", "page"]),
    kw(&["page"]),
    kw(&["show", "running-config"]),
    kw(&["show", "version"]),
    kw(&["exit"]),
];

pub(crate) fn prompt(device: &Device, _state: &ShellState) -> String {
    format!("{}# ", device.name())
}

pub(crate) fn line(device: &Device, state: &mut ShellState, line: &str) -> LineResult {
    if line.trim().is_empty() {
        return LineResult::default();
    }
    let cmd = match parse(line, COMMANDS) {
        Ok((cmd, _)) => cmd,
        Err(offset) => {
            let word = line[offset.min(line.len())..]
                .split_whitespace()
                .next()
                .unwrap_or("");
            return LineResult::text(format!("Invalid input: {word}\n"));
        }
    };
    match cmd {
        NO_PAGE => {
            state.paging = false;
            LineResult::default()
        }
        PAGE => {
            state.paging = true;
            LineResult::default()
        }
        SHOW_RUN => LineResult::config(device),
        SHOW_VERSION => LineResult::paged(
            "-----------------------------------------------------------------------------\n\
             ArubaOS-CX\n\
             (c) Copyright 2017-2023 Hewlett Packard Enterprise Development LP\n\
             -----------------------------------------------------------------------------\n\
             Version      : FL.10.10.1040\n\
             Build Date   : 2023-02-14 00:57:51 UTC\n\
             Active Image : primary\n",
        ),
        EXIT => LineResult::close(""),
        _ => LineResult::text("Invalid input: \n"),
    }
}
