//! The `cisco_nxos` platform: `HOST# ` at login (an NX-OS administrator is privileged, no
//! `enable`), `terminal length 0`, `--More--` paging, and the caret line with
//! `% Invalid command at '^' marker.` under the first character no command accepts.
//!
//! As a Nexus 9000v records it (scrapli's mock session `cisco_nxos.yaml`): the prompt
//! `switch# `, `disable` answered with `          ^` and `% Invalid command at '^' marker.`,
//! `show running-config` opening with a blank line, `!Command: show running-config`,
//! `!Running configuration last done at: ...` and `!Time: ...`, and `--More--` at a
//! line's start when paging is on. A command that stops short gets the caret at the end of
//! the line and `% Incomplete command at '^' marker.` (a public Nexus 9000 lab note:
//! `N9K01(config)# wr` answered with the caret in column 17).

use super::ShellState;
use super::{caret, incomplete, parse, syn, LineResult, Syntax};
use crate::device::Device;

/// What NX-OS prints before the first prompt.
pub const BANNER: &str = "Cisco NX-OS Software\n\
     Copyright (c) 2002-2021, Cisco Systems, Inc. All rights reserved.\n\
     Nexus 9000v software (\"Nexus 9000v Software\") and related documentation,\n\
     files or other reference materials (\"Documentation\") are\n\
     the proprietary property and confidential information of Cisco\n\
     Systems, Inc. (\"Cisco\") and are protected, without limitation,\n\
     pursuant to United States and International copyright and trademark\n\
     laws in the applicable jurisdiction which provide civil and criminal\n\
     penalties for copying or distribution without Cisco's authorization.\n";
/// The NX-OS pager prompt, at the start of its own line.
pub const MORE: &str = "--More--";
/// What erases [`MORE`] once answered.
pub(crate) const MORE_ERASE: &str = "\r        \r";

/// NX-OS's answer to a word it cannot parse (after a caret line).
pub const INVALID_COMMAND: &str = "% Invalid command at '^' marker.";
/// NX-OS's answer to a command that stops short (after a caret line).
pub const INCOMPLETE_COMMAND: &str = "% Incomplete command at '^' marker.";

const TERMINAL_LENGTH: usize = 0;
const TERMINAL_WIDTH: usize = 1;
const SHOW_RUN: usize = 2;
const SHOW_VERSION: usize = 3;
const EXIT: usize = 4;

const COMMANDS: &[Syntax] = &[
    syn(&["terminal", "length"], true),
    syn(&["terminal", "width"], true),
    syn(&["show", "running-config"], false),
    syn(&["show", "version"], false),
    syn(&["exit"], false),
];

pub(crate) fn prompt(device: &Device, _state: &ShellState) -> String {
    format!("{}# ", device.name())
}

/// How far into `line` NX-OS reads before it finds no command: the word at `offset` (the
/// first no entry takes), plus as many of its characters as some keyword in its place
/// starts with.
fn marker(line: &str, offset: usize) -> usize {
    let index = line[..offset].split_whitespace().count();
    let typed: Vec<&str> = line.split_whitespace().collect();
    let Some(word) = typed.get(index) else {
        return line.trim_end().len();
    };
    let matched = COMMANDS
        .iter()
        .filter(|s| {
            s.keywords.len() > index
                && typed[..index]
                    .iter()
                    .zip(s.keywords)
                    .all(|(t, k)| k.starts_with(t))
        })
        .map(|s| {
            s.keywords[index]
                .chars()
                .zip(word.chars())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    offset + matched
}

pub(crate) fn line(device: &Device, state: &mut ShellState, line: &str) -> LineResult {
    if line.trim().is_empty() {
        return LineResult::default();
    }
    let col = |at: usize| prompt(device, state).len() + at;
    let (cmd, n) = match parse(line, COMMANDS) {
        Ok(parsed) => parsed,
        Err(_) if incomplete(line, COMMANDS) => {
            let at = col(line.trim_end().len());
            return LineResult::text(format!("{}{INCOMPLETE_COMMAND}\n", caret(at)));
        }
        Err(offset) => {
            let at = col(marker(line, offset));
            return LineResult::text(format!("{}{INVALID_COMMAND}\n", caret(at)));
        }
    };
    match cmd {
        TERMINAL_LENGTH => {
            state.paging = n != Some(0);
            LineResult::default()
        }
        TERMINAL_WIDTH => LineResult::default(),
        SHOW_RUN => LineResult::config(device),
        SHOW_VERSION => LineResult::paged(format!(
            "Cisco Nexus Operating System (NX-OS) Software\n\
             TAC support: http://www.cisco.com/tac\n\
             Copyright (c) 2002-2021, Cisco Systems, Inc. All rights reserved.\n\
             \n\
             Software\n\
             \x20 BIOS: version 05.45\n\
             \x20NXOS: version 9.3(8)\n\
             \x20 NXOS image file is: bootflash:///nxos.9.3.8.bin\n\
             \n\
             Hardware\n\
             \x20 cisco Nexus9000 C93180YC-EX chassis\n\
             \n\
             \x20 Device name: {}\n\
             Kernel uptime is 41 day(s), 3 hour(s), 12 minute(s), 9 second(s)\n",
            device.name()
        )),
        EXIT => LineResult::close(""),
        _ => LineResult::text(format!("{}{INVALID_COMMAND}\n", caret(col(0)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceSpec, Platform};

    fn device() -> Device {
        let spec = DeviceSpec::new("n1", Platform::CiscoNxos);
        Device::new(
            spec,
            1,
            std::net::Ipv4Addr::LOCALHOST.into(),
            22,
            String::new(),
        )
    }

    #[test]
    fn the_caret_marks_the_first_character_no_command_takes() {
        let d = device();
        let mut state = ShellState::default();
        assert_eq!(prompt(&d, &state), "n1# ");
        // `n1# ` is four columns: `frobnication` starts at the tenth.
        let out = line(&d, &mut state, "show frobnication").output;
        assert_eq!(
            out, "         ^\n% Invalid command at '^' marker.\n",
            "{out:?}"
        );
        // `show ver` is taken as far as `ver`; the `z` is where NX-OS stops.
        let out = line(&d, &mut state, "show verz").output;
        assert_eq!(out, "            ^\n% Invalid command at '^' marker.\n");
        let out = line(&d, &mut state, "show").output;
        assert_eq!(out, "        ^\n% Incomplete command at '^' marker.\n");
    }

    #[test]
    fn an_administrator_is_privileged_at_login_and_turns_paging_off() {
        let d = device();
        let mut state = ShellState {
            paging: true,
            ..ShellState::default()
        };
        assert!(line(&d, &mut state, "terminal length 0").output.is_empty());
        assert!(!state.paging);
        let shown = line(&d, &mut state, "show running-config");
        assert!(shown.config && shown.pageable);
        assert!(shown.output.contains("\n!Time: "), "{}", shown.output);
        assert!(line(&d, &mut state, "exit").close);
    }
}
