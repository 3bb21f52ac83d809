//! The `arista_eos` platform: `HOST>` at login, `enable` to `HOST#` (at once when the
//! switch has no enable secret, EOS's default; else `Password:`), `terminal length 0`,
//! ` --More-- ` paging, `% Invalid input (at token N: 'WORD')` errors.
//!
//! As vEOS records it (scrapli's mock session `arista_eos.yaml`, EOS 4.22.1F): `localhost>`,
//! `enable` + `Password: ` to `localhost#`, `terminal length 0` answered `Pagination
//! disabled.`, `terminal width 32767` answered `Width set to 32767 columns.`, `show run`
//! refused below `#` with `% Invalid input (privileged mode required)`, ` --More-- ` after a
//! page, and `show running-config` opening with `! Command: show running-config` and
//! `! device: localhost (vEOS, EOS-4.22.1F)`. Later releases name the token that failed
//! (pyeapi's test fixtures: `% Invalid input (at token 1: 'bogus')` for `show bogus`).
//! What EOS prints after a wrong enable secret is not in those recordings: the simulator
//! says `% Access denied` after the third.

use super::{enable, ShellState};
use super::{incomplete, parse, syn, LineResult, Syntax};
use crate::device::Device;

/// What the switch prints before the first prompt.
pub const BANNER: &str = "\n";

/// What EOS says when a command is refused below privileged mode.
const PRIVILEGED_REQUIRED: &str = "% Invalid input (privileged mode required)";

/// A wrong enable secret, and the last one.
const ENABLE_WORDS: enable::Words = enable::Words {
    again: "",
    refused: "% Access denied\n",
};

const ENABLE: usize = 0;
const DISABLE: usize = 1;
const TERMINAL_LENGTH: usize = 2;
const TERMINAL_WIDTH: usize = 3;
const SHOW_RUN: usize = 4;
const SHOW_VERSION: usize = 5;
const EXIT: usize = 6;
const LOGOUT: usize = 7;

const COMMANDS: &[Syntax] = &[
    syn(&["enable"], false),
    syn(&["disable"], false),
    syn(&["terminal", "length"], true),
    syn(&["terminal", "width"], true),
    syn(&["show", "running-config"], false),
    syn(&["show", "version"], false),
    syn(&["exit"], false),
    syn(&["logout"], false),
];

pub(crate) fn prompt(device: &Device, state: &ShellState) -> String {
    let mark = if state.privileged { '#' } else { '>' };
    format!("{}{mark}", device.name())
}

/// `% Invalid input (at token N: 'WORD')`, N counted from 0.
fn invalid(line: &str, offset: usize) -> LineResult {
    let token = line[..offset].split_whitespace().count();
    let word = line[offset..].split_whitespace().next().unwrap_or("");
    LineResult::text(format!("% Invalid input (at token {token}: '{word}')\n"))
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
        Err(_) if incomplete(line, COMMANDS) => {
            return LineResult::text("% Incomplete command\n");
        }
        Err(offset) => return invalid(line, offset),
    };
    match cmd {
        ENABLE => enable::enable(device, state),
        DISABLE => enable::disable(state),
        TERMINAL_LENGTH => {
            state.paging = n != Some(0);
            match n {
                Some(0) => LineResult::text("Pagination disabled.\n"),
                Some(n) => LineResult::text(format!("Pagination set to {n} lines.\n")),
                None => LineResult::default(),
            }
        }
        TERMINAL_WIDTH => LineResult::text(format!("Width set to {} columns.\n", n.unwrap_or(80))),
        SHOW_RUN if !state.privileged => LineResult::text(format!("{PRIVILEGED_REQUIRED}\n")),
        SHOW_RUN => LineResult::config(device),
        SHOW_VERSION => LineResult::paged(
            "Arista vEOS-lab\n\
             Hardware version:\n\
             Serial number:\n\
             System MAC address:  5254.001f.e379\n\
             \n\
             Software image version: 4.31.2F\n\
             Architecture:           x86_64\n\
             Internal build version: 4.31.2F-35442176.4312F\n\
             \n\
             Uptime:                 6 weeks, 2 days, 3 hours and 12 minutes\n\
             Total memory:           4008840 kB\n\
             Free memory:            3233440 kB\n\
             \n",
        ),
        EXIT | LOGOUT => LineResult::close(""),
        _ => invalid(line, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceSpec, Platform};

    fn device(secret: Option<&str>) -> Device {
        let mut spec = DeviceSpec::new("e1", Platform::AristaEos);
        spec.enable_secret = secret.map(str::to_string);
        Device::new(
            spec,
            1,
            std::net::Ipv4Addr::LOCALHOST.into(),
            22,
            String::new(),
        )
    }

    #[test]
    fn enable_without_a_secret_is_privileged_at_once() {
        let d = device(None);
        let mut state = ShellState::default();
        assert_eq!(prompt(&d, &state), "e1>");
        let refused = line(&d, &mut state, "show running-config", false);
        assert_eq!(
            refused.output,
            "% Invalid input (privileged mode required)\n"
        );
        assert!(!refused.config);
        let out = line(&d, &mut state, "enable", false);
        assert!(out.output.is_empty() && !out.no_prompt);
        assert_eq!(prompt(&d, &state), "e1#");
        let shown = line(&d, &mut state, "show running-config", false);
        assert!(shown.config);
        assert!(shown.output.starts_with(
            "! Command: show running-config\n! device: e1 (vEOS-lab, EOS-4.31.2F)\n!\n"
        ));
    }

    #[test]
    fn enable_with_a_secret_asks_for_it_and_refuses_a_wrong_one() {
        let d = device(Some("s3cret"));
        let mut state = ShellState::default();
        let asked = line(&d, &mut state, "enable", false);
        assert_eq!(asked.output, "Password: ");
        assert!(asked.no_prompt && state.awaiting_secret);
        for _ in 0..2 {
            assert_eq!(line(&d, &mut state, "wrong", true).output, "Password: ");
        }
        assert_eq!(
            line(&d, &mut state, "wrong", true).output,
            "% Access denied\n"
        );
        assert!(!state.privileged && !state.awaiting_secret);
        line(&d, &mut state, "enable", false);
        assert!(line(&d, &mut state, "s3cret", true).output.is_empty());
        assert!(state.privileged);
    }

    #[test]
    fn errors_name_the_token_and_terminal_length_answers() {
        let d = device(None);
        let mut state = ShellState {
            paging: true,
            ..ShellState::default()
        };
        assert_eq!(
            line(&d, &mut state, "show frobnication", false).output,
            "% Invalid input (at token 1: 'frobnication')\n"
        );
        assert_eq!(
            line(&d, &mut state, "frobnicate now", false).output,
            "% Invalid input (at token 0: 'frobnicate')\n"
        );
        assert_eq!(
            line(&d, &mut state, "show", false).output,
            "% Incomplete command\n"
        );
        assert_eq!(
            line(&d, &mut state, "terminal length 0", false).output,
            "Pagination disabled.\n"
        );
        assert!(!state.paging);
        assert_eq!(
            line(&d, &mut state, "terminal width 32767", false).output,
            "Width set to 32767 columns.\n"
        );
    }
}
