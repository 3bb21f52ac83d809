//! The `mikrotik_routeros` platform: commands over an exec channel (`/export`,
//! `/system identity print`), or a `[user@HOST] > ` shell; RouterOS's `bad command
//! name WORD (line 1 column N)` and `syntax error (line 1 column N)`.

use super::{ExecResult, LineResult, ShellState};
use crate::device::Device;

/// The command that prints the configuration.
pub const CONFIG_COMMAND: &str = "/export";

/// What RouterOS prints before the first shell prompt.
pub const BANNER: &str =
    "\n\n  MikroTik RouterOS 7.14.2 (c) 1999-2024       https://www.mikrotik.com/\n\n";

/// Menus this simulated router knows (`/system identity print`, ...).
const MENUS: &[&str] = &["/export", "/system", "/interface", "/ip", "/quit"];

fn ok(text: String) -> ExecResult {
    ExecResult {
        stdout: text.into_bytes(),
        stderr: Vec::new(),
        status: 0,
        config: false,
    }
}

/// Runs one command line. RouterOS reports errors on stdout with exit status 0; only the
/// text says the command failed.
pub(crate) fn exec(device: &Device, command: &str) -> ExecResult {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        [] => ok(String::new()),
        ["/export"] => ExecResult {
            stdout: device.session_config().into_bytes(),
            stderr: Vec::new(),
            status: 0,
            config: true,
        },
        ["/system", "identity", "print"] => ok(format!("  name: {}\n", device.name())),
        ["/system", "resource", "print"] => ok(
            "                   uptime: 6w2d3h12m\n                  version: 7.14.2 (stable)\n\
             \x20              board-name: RB5009UG+S+\n"
                .to_string(),
        ),
        [first, ..] if !MENUS.contains(first) => ok(format!(
            "bad command name {} (line 1 column 2)\n",
            first.trim_start_matches('/')
        )),
        [first, second, ..] => {
            let column = command.find(second).unwrap_or(0) + 1;
            let _ = first;
            ok(format!("syntax error (line 1 column {column})\n"))
        }
        [_] => ok(format!(
            "syntax error (line 1 column {})\n",
            command.trim_end().len() + 1
        )),
    }
}

pub(crate) fn prompt(device: &Device, state: &ShellState) -> String {
    format!("[{}@{}] > ", state.user, device.name())
}

/// A line typed at the shell prompt: as on the exec channel.
pub(crate) fn line(device: &Device, line: &str) -> LineResult {
    if line.trim() == "/quit" {
        return LineResult::close("interrupted\n");
    }
    let r = exec(device, line);
    LineResult {
        config: r.config,
        ..LineResult::text(String::from_utf8_lossy(&r.stdout).into_owned())
    }
}
