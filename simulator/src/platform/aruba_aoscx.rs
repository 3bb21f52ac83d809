//! The `aruba_aoscx` platform: `HOST# ` at login for an administrator, `no page`,
//! `show running-config`, the `-- MORE --, next page: Space, ...` pager, and
//! `Invalid input: WORD` errors.
//!
//! The error texts: `Invalid input: ` is what scrapli-community's AOS-CX platform treats
//! as a failed command (`failed_when_contains` in scrapli_community/aruba/aoscx/
//! aruba_aoscx.py, beside `% Command incomplete.`); a recorded AOS-CX session (a public
//! lab note of a 6300 configured by hand) shows `% Command incomplete.` after
//! `port-access event-log` and `% Ambiguous command.` after `ex`.

use super::ShellState;
use super::{incomplete, kw, parse, LineResult, Syntax};
use crate::device::Device;

/// What an AOS-CX switch prints before the first prompt.
pub const BANNER: &str = "\nLast login: 2024-03-05 14:22:05 from 10.0.0.9\nUser \"netops\" has logged in 12 times in the past 30 days\n\n";
/// The AOS-CX pager prompt.
pub const MORE: &str = "-- MORE --, next page: Space, next line: Enter, quit: q";
/// What erases [`MORE`] once answered.
pub(crate) const MORE_ERASE: &str = "\r                                                       \r";

/// AOS-CX's answer to a command that stops short (`show`).
const INCOMPLETE: &str = "% Command incomplete.\n";

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
        Err(_) if incomplete(line, COMMANDS) => return LineResult::text(INCOMPLETE),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceSpec, Platform};

    #[test]
    fn a_bad_word_is_named_and_a_short_command_is_incomplete() {
        let spec = DeviceSpec::new("cx1", Platform::ArubaAoscx);
        let d = Device::new(
            spec,
            1,
            std::net::Ipv4Addr::LOCALHOST.into(),
            22,
            String::new(),
        );
        let mut state = ShellState::default();
        assert_eq!(
            line(&d, &mut state, "show frobnication").output,
            "Invalid input: frobnication\n"
        );
        assert_eq!(
            line(&d, &mut state, "show").output,
            "% Command incomplete.\n"
        );
        assert!(line(&d, &mut state, "show running-config").config);
    }
}
