//! Device behaviour per platform: what an exec request returns, what a shell line does.

pub(crate) mod linux;

use crate::device::Device;
use crate::shell::ShellState;
use crate::Platform;

/// Output of one exec request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ExecResult {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) status: u32,
}

/// Runs `command` on an exec channel; `None` if the platform refuses exec channels
/// (network OSes that only offer a shell).
pub(crate) fn exec(device: &Device, command: &str) -> Option<ExecResult> {
    match device.spec.platform {
        Platform::Linux => Some(linux::exec(device, command)),
        Platform::CiscoIos | Platform::JuniperJunos => None,
    }
}

/// What a shell line produced.
#[derive(Debug, Default)]
pub(crate) struct LineResult {
    /// Text, `\n` line ends (the shell sends `\r\n`).
    pub(crate) output: String,
    /// The output may be paged (`--More--`) if the session has paging on.
    pub(crate) pageable: bool,
    /// End the session after the output.
    pub(crate) close: bool,
}

impl LineResult {
    pub(crate) fn text(output: impl Into<String>) -> Self {
        LineResult {
            output: output.into(),
            ..LineResult::default()
        }
    }
}

/// Text shown when a shell starts, before the first prompt.
pub(crate) fn banner(device: &Device) -> String {
    match device.spec.platform {
        Platform::Linux => format!("Welcome to {} (Debian GNU/Linux 12)\n\n", device.name()),
        Platform::CiscoIos | Platform::JuniperJunos => "\n".to_string(),
    }
}

/// The prompt for the session's current state.
pub(crate) fn prompt(device: &Device, _state: &ShellState) -> String {
    match device.spec.platform {
        Platform::Linux | Platform::CiscoIos | Platform::JuniperJunos => linux::prompt(device),
    }
}

/// A line typed at the prompt (`secret`: typed at a `Password:` prompt).
pub(crate) fn line(
    device: &Device,
    _state: &mut ShellState,
    line: &str,
    _secret: bool,
) -> LineResult {
    match device.spec.platform {
        Platform::Linux | Platform::CiscoIos | Platform::JuniperJunos => linux::line(device, line),
    }
}
