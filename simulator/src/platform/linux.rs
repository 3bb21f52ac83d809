//! The `linux` platform: a few shell commands over exec or a `name:~$ ` shell.

use super::{ExecResult, LineResult};
use crate::device::Device;

/// The command that prints the running config.
pub const CONFIG_COMMAND: &str = "cat /etc/netraven/running-config";

/// Runs one command line.
pub(crate) fn exec(device: &Device, command: &str) -> ExecResult {
    let command = command.trim();
    let ok = |s: String| ExecResult {
        stdout: s.into_bytes(),
        stderr: Vec::new(),
        status: 0,
        config: false,
    };
    let word = command.split_whitespace().next().unwrap_or("");
    match word {
        "" => ok(String::new()),
        "cat" if command == CONFIG_COMMAND => ExecResult {
            stdout: device.config_bytes(),
            stderr: Vec::new(),
            status: 0,
            config: true,
        },
        "cat" => {
            let file = command.split_whitespace().nth(1).unwrap_or("");
            ExecResult {
                stdout: Vec::new(),
                stderr: format!("cat: {file}: No such file or directory\n").into_bytes(),
                status: 1,
                config: false,
            }
        }
        "hostname" => ok(format!("{}\n", device.name())),
        "uname" if command == "uname -a" => ok(format!(
            "Linux {} 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64 GNU/Linux\n",
            device.name()
        )),
        "uname" => ok("Linux\n".to_string()),
        "echo" => ok(format!(
            "{}\n",
            command.strip_prefix("echo").unwrap_or("").trim_start()
        )),
        "true" => ok(String::new()),
        "false" => ExecResult {
            status: 1,
            config: false,
            ..ExecResult::default()
        },
        _ => ExecResult {
            stdout: Vec::new(),
            stderr: format!("sh: 1: {word}: not found\n").into_bytes(),
            status: 127,
            config: false,
        },
    }
}

pub(crate) fn prompt(device: &Device) -> String {
    format!("{}:~$ ", device.name())
}

/// A line typed at the shell prompt.
pub(crate) fn line(device: &Device, line: &str) -> LineResult {
    if matches!(line.trim(), "exit" | "logout") {
        return LineResult {
            output: "logout\n".to_string(),
            close: true,
            ..LineResult::default()
        };
    }
    let r = exec(device, line);
    let mut s = String::from_utf8_lossy(&r.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&r.stderr));
    LineResult {
        config: r.config,
        ..LineResult::text(s)
    }
}
