//! The `cisco_xr` platform: `RP/0/RSP0/CPU0:HOST#` at login (no `enable`), `terminal
//! length 0`, a timestamp line before each command's output, IOS-style `% Invalid input`.

use super::ShellState;
use super::{caret, parse, syn, LineResult, Syntax};
use crate::device::Device;

/// IOS-XR's answer to anything it cannot parse (after a caret line).
pub const INVALID_INPUT: &str = "% Invalid input detected at '^' marker.";

const TERMINAL_LENGTH: usize = 0;
const TERMINAL_WIDTH: usize = 1;
const SHOW_RUN: usize = 2;
const SHOW_VERSION: usize = 3;
const EXIT: usize = 4;
const LOGOUT: usize = 5;

const COMMANDS: &[Syntax] = &[
    syn(&["terminal", "length"], true),
    syn(&["terminal", "width"], true),
    syn(&["show", "running-config"], false),
    syn(&["show", "version"], false),
    syn(&["exit"], false),
    syn(&["logout"], false),
];

pub(crate) fn prompt(device: &Device, _state: &ShellState) -> String {
    format!("RP/0/RSP0/CPU0:{}#", device.name())
}

/// `Tue Mar  5 14:22:05.123 UTC`: what IOS-XR prints before a command's output.
fn stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    crate::config_gen::xr_stamp(now.as_secs(), u64::from(now.subsec_millis()))
}

pub(crate) fn line(device: &Device, state: &mut ShellState, line: &str) -> LineResult {
    if line.trim().is_empty() {
        return LineResult::default();
    }
    let (cmd, n) = match parse(line, COMMANDS) {
        Ok(parsed) => parsed,
        Err(offset) => {
            let col = prompt(device, state).len() + offset;
            return LineResult::text(format!("{}{INVALID_INPUT}\n", caret(col)));
        }
    };
    match cmd {
        TERMINAL_LENGTH => {
            state.paging = n != Some(0);
            LineResult::text(format!("{}\n", stamp()))
        }
        TERMINAL_WIDTH => LineResult::text(format!("{}\n", stamp())),
        SHOW_RUN => LineResult::config(device),
        SHOW_VERSION => LineResult::paged(format!(
            "{}\nCisco IOS XR Software, Version 7.9.2\n\
             Copyright (c) 2013-2023 by Cisco Systems, Inc.\n\
             \n\
             Build Information:\n Built By     : ingunawa\n Built On     : Mon Jul 10 07:07:48 PDT 2023\n\
             \n\
             cisco ASR9K Series (Intel 686 F6M14S4) processor with 12582912K bytes of memory.\n\
             {} uptime is 9 weeks, 4 days, 2 hours, 51 minutes\n",
            stamp(),
            device.name()
        )),
        EXIT | LOGOUT => LineResult::close(""),
        _ => LineResult::text(INVALID_INPUT),
    }
}
