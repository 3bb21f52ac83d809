//! The `cisco_ios` platform: `HOST>`, `enable` + `Password:`, `HOST#`, paging, IOS errors.

use super::{caret, kw, parse, LineResult, Syntax};
use super::{enable, ShellState};
use crate::device::Device;

/// What erases ` --More-- ` once answered (backspaces, blanks, backspaces).
pub(crate) const MORE_ERASE: &str =
    "\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08          \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08";

/// IOS's answer to anything it cannot parse (after a caret line).
pub const INVALID_INPUT: &str = "% Invalid input detected at '^' marker.";

/// A wrong enable secret, and the last one.
const ENABLE_WORDS: enable::Words = enable::Words {
    again: "",
    refused: "% Bad secrets\n\n",
};

const ENABLE: usize = 0;
const DISABLE: usize = 1;
const TERMINAL_LENGTH: usize = 2;
const SHOW_RUN: usize = 3;
const SHOW_VERSION: usize = 4;
const EXIT: usize = 5;
const LOGOUT: usize = 6;
const QUIT: usize = 7;

const COMMANDS: &[Syntax] = &[
    kw(&["enable"]),
    kw(&["disable"]),
    Syntax {
        keywords: &["terminal", "length"],
        number: true,
    },
    kw(&["show", "running-config"]),
    kw(&["show", "version"]),
    kw(&["exit"]),
    kw(&["logout"]),
    kw(&["quit"]),
];

pub(crate) fn prompt(device: &Device, state: &ShellState) -> String {
    let mark = if state.privileged { '#' } else { '>' };
    format!("{}{mark}", device.name())
}

fn invalid(device: &Device, state: &ShellState, offset: usize) -> LineResult {
    let col = prompt(device, state).len() + offset;
    LineResult::text(format!("{}{INVALID_INPUT}\n\n", caret(col)))
}

pub(crate) fn line(
    device: &Device,
    state: &mut ShellState,
    line: &str,
    secret: bool,
) -> LineResult {
    if let Some(answered) = enable::before_commands(device, state, line, secret, &ENABLE_WORDS) {
        return answered;
    }
    let (cmd, n) = match parse(line, COMMANDS) {
        Ok(parsed) => parsed,
        Err(offset) => return invalid(device, state, offset),
    };
    match cmd {
        ENABLE => enable::enable(device, state),
        DISABLE => enable::disable(state),
        TERMINAL_LENGTH => {
            state.paging = n != Some(0);
            LineResult::default()
        }
        SHOW_RUN if !state.privileged => {
            // Level-1 users do not have `running-config`: IOS marks the second word.
            let offset = line.find(|c: char| !c.is_whitespace()).unwrap_or(0);
            let second = line[offset..]
                .find(char::is_whitespace)
                .and_then(|e| {
                    let after = offset + e;
                    line[after..]
                        .find(|c: char| !c.is_whitespace())
                        .map(|s| after + s)
                })
                .unwrap_or(offset);
            invalid(device, state, second)
        }
        SHOW_RUN => LineResult::config(device),
        SHOW_VERSION if device.spec.platform == crate::Platform::CiscoXe => {
            LineResult::paged(super::cisco_xe::version(device))
        }
        SHOW_VERSION => LineResult::paged(version(device)),
        EXIT | LOGOUT | QUIT => LineResult::close(""),
        _ => invalid(device, state, 0),
    }
}

fn version(device: &Device) -> String {
    format!(
        "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E8, RELEASE SOFTWARE (fc1)\n\
         Technical Support: http://www.cisco.com/techsupport\n\
         Copyright (c) 1986-2023 by Cisco Systems, Inc.\n\
         \n\
         ROM: Bootstrap program is C2960X boot loader\n\
         \n\
         {} uptime is 41 weeks, 2 days, 3 hours, 12 minutes\n\
         System image file is \"flash:c2960x-universalk9-mz.152-7.E8.bin\"\n\
         \n\
         cisco WS-C2960X-48FPD-L (APM86XXX) processor with 524288K bytes of memory.\n\
         48 Gigabit Ethernet interfaces\n\
         \n\
         Configuration register is 0xF\n",
        device.name()
    )
}
