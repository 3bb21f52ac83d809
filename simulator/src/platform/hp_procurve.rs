//! The `hp_procurve` platform (HP ProCurve, Aruba OS-Switch): a banner and `Press any key
//! to continue`, then `HOST> `; `enable` + `Password:` to `HOST# `; `no page`; the
//! `-- MORE --, next page: Space, ...` pager; `Invalid input: WORD` errors.

use super::{enable, ShellState};
use super::{kw, parse, LineResult, Syntax};
use crate::device::Device;

/// What the switch waits on a key for after its banner, before the first prompt.
pub const PRESS_ANY_KEY: &str = "Press any key to continue";
/// The ProCurve pager prompt.
pub const MORE: &str = "-- MORE --, next page: Space, next line: Enter, quit: Control-C";
/// What erases [`MORE`] (and [`PRESS_ANY_KEY`]) once answered.
pub(crate) const MORE_ERASE: &str =
    "\r                                                                 \r";

/// A wrong enable secret, and the last one.
const ENABLE_WORDS: enable::Words = enable::Words {
    again: "Invalid password\n",
    refused: "Invalid password\n",
};

const ENABLE: usize = 0;
const DISABLE: usize = 1;
const NO_PAGE: usize = 2;
const SHOW_RUN: usize = 3;
const SHOW_VERSION: usize = 4;
const EXIT: usize = 5;
const LOGOUT: usize = 6;

const COMMANDS: &[Syntax] = &[
    kw(&["enable"]),
    kw(&["disable"]),
    kw(&["no", "page"]),
    kw(&["show", "running-config"]),
    kw(&["show", "version"]),
    kw(&["exit"]),
    kw(&["logout"]),
];

pub(crate) fn banner() -> String {
    "HP J9773A 2530-24G-PoEP Switch\n\
     Software revision YA.16.10.0009\n\
     \n\
     (C) Copyright 2020 Hewlett Packard Enterprise Development LP\n\
     \n\
     \x20                  RESTRICTED RIGHTS LEGEND\n\
     \x20Confidential computer software. Valid license from Hewlett Packard Enterprise\n\
     \x20Development LP required for possession, use or copying.\n\
     \n\
     We'd like to keep you up to date about:\n\
     \x20 * Software feature updates\n\
     \x20 * New product announcements\n\
     \x20 * Special events\n\
     \n\
     Please register your products now at:  www.hpe.com/networking/register\n\
     \n\
     \n"
    .to_string()
}

pub(crate) fn prompt(device: &Device, state: &ShellState) -> String {
    let mark = if state.privileged { '#' } else { '>' };
    format!("{}{mark} ", device.name())
}

/// `Invalid input: WORD`, naming the first word the switch does not take.
fn invalid(line: &str, offset: usize) -> LineResult {
    let word = line[offset.min(line.len())..]
        .split_whitespace()
        .next()
        .unwrap_or("");
    LineResult::text(format!("Invalid input: {word}\n"))
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
    let cmd = match parse(line, COMMANDS) {
        Ok((cmd, _)) => cmd,
        Err(offset) => return invalid(line, offset),
    };
    match cmd {
        ENABLE => enable::enable(device, state),
        DISABLE => enable::disable(state),
        NO_PAGE => {
            state.paging = false;
            LineResult::default()
        }
        // An operator does not see the configuration: the switch names the word.
        SHOW_RUN if !state.privileged => {
            let at = line.find("ru").unwrap_or(0);
            invalid(line, at)
        }
        SHOW_RUN => LineResult::config(device),
        SHOW_VERSION => LineResult::paged(
            "Image stamp:    /ws/swbuildm/rel_tacoma_qaoff/code/build/lakes(swbuildm_rel_tacoma_qaoff_rel_tacoma)\n\
             \x20               Mar 18 2020 10:21:44\n\
             \x20               YA.16.10.0009\n\
             \x20               1536\n\
             Boot Image:     Primary\n",
        ),
        EXIT | LOGOUT => LineResult::close(""),
        _ => invalid(line, 0),
    }
}
