//! The `juniper_junos` platform: `user@host>`, `set cli screen-length 0`, display set.

use super::ShellState;
use super::{caret, parse, LineResult, Syntax};
use crate::device::Device;

/// The Junos pager prompt.
pub const MORE: &str = "---(more)---";
/// What erases [`MORE`] once answered.
pub(crate) const MORE_ERASE: &str = "\r            \r";

const SHOW_CONFIGURATION: usize = 0;
const SCREEN_LENGTH: usize = 1;
const SHOW_VERSION: usize = 2;
const EXIT: usize = 3;
const QUIT: usize = 4;

const COMMANDS: &[Syntax] = &[
    Syntax {
        keywords: &["show", "configuration"],
        number: false,
    },
    Syntax {
        keywords: &["set", "cli", "screen-length"],
        number: true,
    },
    Syntax {
        keywords: &["show", "version"],
        number: false,
    },
    Syntax {
        keywords: &["exit"],
        number: false,
    },
    Syntax {
        keywords: &["quit"],
        number: false,
    },
];

pub(crate) fn prompt(device: &Device, state: &ShellState) -> String {
    format!("{}@{}> ", state.user, device.name())
}

fn error(device: &Device, state: &ShellState, offset: usize, message: &str) -> LineResult {
    let col = prompt(device, state).len() + offset;
    LineResult::text(format!("{}{message}\n\n", caret(col)))
}

pub(crate) fn line(device: &Device, state: &mut ShellState, line: &str) -> LineResult {
    if line.trim().is_empty() {
        return LineResult::default();
    }
    // `command | pipe | pipe`: pipes are `display set` and `no-more`.
    let mut parts = line.split('|');
    let command = parts.next().unwrap_or("");
    let mut display_set = false;
    let mut no_more = false;
    let mut offset = command.len() + 1;
    for pipe in parts {
        let words: Vec<&str> = pipe.split_whitespace().collect();
        match words.as_slice() {
            [d, s] if "display".starts_with(d) && "set".starts_with(s) && !s.is_empty() => {
                display_set = true;
            }
            [n] if "no-more".starts_with(n) && n.len() >= 2 => no_more = true,
            _ => {
                let lead = pipe.len() - pipe.trim_start().len();
                return error(
                    device,
                    state,
                    offset + lead,
                    "syntax error, expecting <command>.",
                );
            }
        }
        offset += pipe.len() + 1;
    }
    let (cmd, n) = match parse(command, COMMANDS) {
        Ok(parsed) => parsed,
        Err(at) => return error(device, state, at, "unknown command."),
    };
    let mut result = match cmd {
        SHOW_CONFIGURATION if display_set => LineResult::config(device),
        SHOW_CONFIGURATION => LineResult::text(
            "error: this simulated device only answers 'show configuration | display set'\n",
        ),
        SCREEN_LENGTH => {
            state.paging = n != Some(0);
            LineResult::text(format!("Screen length set to {}\n", n.unwrap_or(0)))
        }
        SHOW_VERSION => LineResult::paged(format!(
            "Hostname: {}\nModel: mx204\nJunos: 21.4R3-S5\nJUNOS OS Kernel 64-bit  [20230321.0fd3b0e_builder_stable_12]\n",
            device.name()
        )),
        EXIT | QUIT => LineResult::close(""),
        _ => error(device, state, 0, "unknown command."),
    };
    if no_more {
        result.pageable = false;
    }
    result
}
