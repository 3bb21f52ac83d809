//! The privileged mode of the platforms that have one (`cisco_ios`, `cisco_xe`,
//! `cisco_asa`, `hp_procurve`, `arista_eos`): `enable`, its `Password:` prompt, three tries, and each
//! platform's own words for a wrong secret and for giving up.

use super::{LineResult, ShellState};
use crate::device::Device;

/// Wrong enable secrets in a row before the device gives up.
const TRIES: u8 = 3;

/// What a platform prints around its enable prompt.
pub(crate) struct Words {
    /// Before the prompt again, after a wrong secret (`Invalid password\n` on an ASA;
    /// nothing on IOS).
    pub(crate) again: &'static str,
    /// After the last wrong secret (`% Bad secrets\n\n` on IOS).
    pub(crate) refused: &'static str,
}

/// `Password: `, after `before`, the device waiting for the secret.
pub(crate) fn prompt(before: &str) -> LineResult {
    LineResult {
        output: format!("{before}Password: "),
        no_prompt: true,
        ..LineResult::default()
    }
}

/// `enable`: privileged at once when the device has no enable secret, else its prompt.
pub(crate) fn enable(device: &Device, state: &mut ShellState) -> LineResult {
    if state.privileged {
        return LineResult::default();
    }
    match &device.spec.enable_secret {
        None => {
            state.privileged = true;
            LineResult::default()
        }
        Some(_) => {
            state.awaiting_secret = true;
            state.secret_failures = 0;
            prompt("")
        }
    }
}

/// The line typed at the enable prompt.
pub(crate) fn answer(
    device: &Device,
    state: &mut ShellState,
    answer: &str,
    words: &Words,
) -> LineResult {
    let right = device
        .spec
        .enable_secret
        .as_deref()
        .is_some_and(|s| s == answer);
    if right {
        state.awaiting_secret = false;
        state.privileged = true;
        state.secret_failures = 0;
        return LineResult::default();
    }
    state.secret_failures += 1;
    if state.secret_failures < TRIES {
        return prompt(words.again);
    }
    state.awaiting_secret = false;
    state.secret_failures = 0;
    LineResult::text(words.refused)
}

/// What a platform with an enable step answers before it parses a command: the line
/// typed at its enable prompt (`secret`), and an empty line (the prompt again). `None`:
/// a command for the platform to parse.
pub(crate) fn before_commands(
    device: &Device,
    state: &mut ShellState,
    line: &str,
    secret: bool,
    words: &Words,
) -> Option<LineResult> {
    if secret {
        return Some(answer(device, state, line, words));
    }
    line.trim().is_empty().then(LineResult::default)
}

/// `disable`: back to the unprivileged prompt.
pub(crate) fn disable(state: &mut ShellState) -> LineResult {
    state.privileged = false;
    LineResult::default()
}
