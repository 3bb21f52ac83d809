//! The `cisco_asa` platform: `HOST>`, `enable` + `Password:` (`Invalid password`, then
//! `Access denied.`), `HOST#`, `terminal pager 0`, `<--- More --->`, `ERROR: %` messages.

use super::{caret, parse, syn, LineResult, Syntax};
use super::{enable, ShellState};
use crate::device::Device;

/// The ASA pager prompt.
pub const MORE: &str = "<--- More --->";
/// What erases [`MORE`] once answered.
pub(crate) const MORE_ERASE: &str = "\r              \r";

/// The ASA's answer to anything it cannot parse (after a caret line).
pub const INVALID_INPUT: &str = "ERROR: % Invalid input detected at '^' marker.";

/// A wrong enable secret, and the last one.
const ENABLE_WORDS: enable::Words = enable::Words {
    again: "Invalid password\n",
    refused: "Access denied.\n",
};

const ENABLE: usize = 0;
const DISABLE: usize = 1;
const TERMINAL_PAGER: usize = 2;
const TERMINAL_PAGER_LINES: usize = 3;
const SHOW_RUN: usize = 4;
const SHOW_VERSION: usize = 5;
const EXIT: usize = 6;
const LOGOUT: usize = 7;
const QUIT: usize = 8;

const COMMANDS: &[Syntax] = &[
    syn(&["enable"], false),
    syn(&["disable"], false),
    syn(&["terminal", "pager"], true),
    syn(&["terminal", "pager", "lines"], true),
    syn(&["show", "running-config"], false),
    syn(&["show", "version"], false),
    syn(&["exit"], false),
    syn(&["logout"], false),
    syn(&["quit"], false),
];

pub(crate) fn prompt(device: &Device, state: &ShellState) -> String {
    let mark = if state.privileged { '#' } else { '>' };
    format!("{}{mark} ", device.name())
}

fn invalid(device: &Device, state: &ShellState, offset: usize) -> LineResult {
    let col = prompt(device, state).len() + offset;
    LineResult::text(format!("{}{INVALID_INPUT}\n", caret(col)))
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
        // `terminal pager` is a privileged command; unprivileged, the ASA marks `pager`.
        TERMINAL_PAGER | TERMINAL_PAGER_LINES | SHOW_RUN if !state.privileged => {
            let second = line
                .split_whitespace()
                .nth(1)
                .and_then(|w| line.find(w))
                .unwrap_or(0);
            invalid(device, state, second)
        }
        TERMINAL_PAGER | TERMINAL_PAGER_LINES => {
            state.paging = n != Some(0);
            LineResult::default()
        }
        SHOW_RUN => LineResult::config(device),
        SHOW_VERSION => LineResult::paged(format!(
            "\nCisco Adaptive Security Appliance Software Version 9.16(4)\n\
             SSP Operating System Version 2.10(1.162)\n\
             Device Manager Version 7.18(1)\n\
             \n\
             Compiled on Thu 19-Jan-23 11:44 GMT by builders\n\
             System image file is \"disk0:/asa9-16-4-lfbff-k8.SPA\"\n\
             Config file at boot was \"startup-config\"\n\
             \n\
             {} up 23 days 4 hours\n\
             \n\
             Hardware:   ASA5516, 8192 MB RAM, CPU Atom C2000 series 2416 MHz, 1 CPU (8 cores)\n",
            device.name()
        )),
        EXIT | LOGOUT | QUIT => LineResult::close("\nLogoff\n\n"),
        _ => invalid(device, state, 0),
    }
}
