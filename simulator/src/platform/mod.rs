//! Device behaviour per platform: what an exec request returns, what a shell line does.

pub(crate) mod arista_eos;
pub(crate) mod aruba_aoscx;
pub(crate) mod cisco_asa;
pub(crate) mod cisco_ios;
pub(crate) mod cisco_nxos;
pub(crate) mod cisco_xe;
pub(crate) mod cisco_xr;
mod enable;
pub(crate) mod fortinet;
pub(crate) mod hp_procurve;
pub(crate) mod huawei_vrp;
pub(crate) mod juniper_junos;
pub(crate) mod linux;
pub(crate) mod mikrotik_routeros;
pub(crate) mod paloalto_panos;
mod state;

pub(crate) use state::ShellState;
pub use state::{MORE, PAGE_LINES};

use crate::device::Device;
use crate::Platform;

/// Output of one exec request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ExecResult {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) status: u32,
    /// `stdout` is the running config (faults that break output act on it).
    pub(crate) config: bool,
}

/// Runs `command` on an exec channel; `None` if the platform refuses exec channels
/// (network OSes that only offer a shell).
pub(crate) fn exec(device: &Device, command: &str) -> Option<ExecResult> {
    match device.spec.platform {
        Platform::Linux => Some(linux::exec(device, command)),
        Platform::MikrotikRouteros => Some(mikrotik_routeros::exec(device, command)),
        Platform::CiscoIos
        | Platform::JuniperJunos
        | Platform::CiscoXe
        | Platform::CiscoXr
        | Platform::CiscoAsa
        | Platform::HuaweiVrp
        | Platform::HpProcurve
        | Platform::Fortinet
        | Platform::PaloaltoPanos
        | Platform::ArubaAoscx
        | Platform::CiscoNxos
        | Platform::AristaEos => None,
    }
}

/// What a shell line produced.
#[derive(Debug, Default)]
pub(crate) struct LineResult {
    /// Text, `\n` line ends (the shell sends `\r\n`).
    pub(crate) output: String,
    /// The output may be paged if the session has paging on.
    pub(crate) pageable: bool,
    /// The output ends with its own prompt (`Password: `): do not print the shell prompt.
    pub(crate) no_prompt: bool,
    /// End the session after the output.
    pub(crate) close: bool,
    /// `output` is the running config (faults that break output act on it).
    pub(crate) config: bool,
}

impl LineResult {
    pub(crate) fn text(output: impl Into<String>) -> Self {
        LineResult {
            output: output.into(),
            ..LineResult::default()
        }
    }

    pub(crate) fn paged(output: impl Into<String>) -> Self {
        LineResult {
            output: output.into(),
            pageable: true,
            ..LineResult::default()
        }
    }

    /// The running config as this session prints it, pageable.
    pub(crate) fn config(device: &Device) -> Self {
        LineResult {
            output: device.session_config(),
            pageable: true,
            config: true,
            ..LineResult::default()
        }
    }

    pub(crate) fn close(output: impl Into<String>) -> Self {
        LineResult {
            output: output.into(),
            close: true,
            ..LineResult::default()
        }
    }
}

/// Text shown when a shell starts, before the first prompt.
pub(crate) fn banner(device: &Device) -> String {
    match device.spec.platform {
        Platform::Linux => format!("Welcome to {} (Debian GNU/Linux 12)\n\n", device.name()),
        Platform::CiscoIos | Platform::CiscoXe => "\n".to_string(),
        Platform::CiscoXr => "\n".to_string(),
        Platform::CiscoAsa => "Type help or '?' for a list of available commands.\n".to_string(),
        Platform::HpProcurve => hp_procurve::banner(),
        Platform::Fortinet => String::new(),
        Platform::PaloaltoPanos => paloalto_panos::BANNER.to_string(),
        Platform::MikrotikRouteros => mikrotik_routeros::BANNER.to_string(),
        Platform::ArubaAoscx => aruba_aoscx::BANNER.to_string(),
        Platform::CiscoNxos => cisco_nxos::BANNER.to_string(),
        Platform::AristaEos => arista_eos::BANNER.to_string(),
        Platform::HuaweiVrp => "\nInfo: The max number of VTY users is 10, and the number\n      of current VTY users on line is 1.\n".to_string(),
        Platform::JuniperJunos => {
            "--- JUNOS 21.4R3-S5 Kernel 64-bit  JNPR-12.1-20230321\n".to_string()
        }
    }
}

/// What a platform shows after the banner and waits on a key for, before the first prompt.
pub(crate) fn press_any_key(platform: Platform) -> Option<&'static str> {
    match platform {
        Platform::HpProcurve => Some(hp_procurve::PRESS_ANY_KEY),
        _ => None,
    }
}

/// The prompt for the session's current state.
pub(crate) fn prompt(device: &Device, state: &ShellState) -> String {
    match device.spec.platform {
        Platform::Linux => linux::prompt(device),
        Platform::CiscoIos | Platform::CiscoXe => cisco_ios::prompt(device, state),
        Platform::JuniperJunos => juniper_junos::prompt(device, state),
        Platform::CiscoXr => cisco_xr::prompt(device, state),
        Platform::CiscoAsa => cisco_asa::prompt(device, state),
        Platform::HuaweiVrp => huawei_vrp::prompt(device, state),
        Platform::HpProcurve => hp_procurve::prompt(device, state),
        Platform::Fortinet => fortinet::prompt(device, state),
        Platform::PaloaltoPanos => paloalto_panos::prompt(device, state),
        Platform::MikrotikRouteros => mikrotik_routeros::prompt(device, state),
        Platform::ArubaAoscx => aruba_aoscx::prompt(device, state),
        Platform::CiscoNxos => cisco_nxos::prompt(device, state),
        Platform::AristaEos => arista_eos::prompt(device, state),
    }
}

/// The pager prompt and what erases it once answered.
pub(crate) fn pager(platform: Platform) -> (&'static str, &'static str) {
    match platform {
        Platform::Linux | Platform::CiscoIos | Platform::CiscoXe | Platform::CiscoXr => {
            (MORE, cisco_ios::MORE_ERASE)
        }
        Platform::JuniperJunos => (juniper_junos::MORE, juniper_junos::MORE_ERASE),
        Platform::CiscoAsa => (cisco_asa::MORE, cisco_asa::MORE_ERASE),
        Platform::HuaweiVrp => (huawei_vrp::MORE, huawei_vrp::MORE_ERASE),
        Platform::HpProcurve => (hp_procurve::MORE, hp_procurve::MORE_ERASE),
        Platform::Fortinet => (fortinet::MORE, fortinet::MORE_ERASE),
        Platform::PaloaltoPanos => (paloalto_panos::MORE, paloalto_panos::MORE_ERASE),
        Platform::MikrotikRouteros => (MORE, cisco_ios::MORE_ERASE),
        Platform::ArubaAoscx => (aruba_aoscx::MORE, aruba_aoscx::MORE_ERASE),
        Platform::CiscoNxos => (cisco_nxos::MORE, cisco_nxos::MORE_ERASE),
        Platform::AristaEos => (MORE, cisco_ios::MORE_ERASE),
    }
}

/// A line typed at the prompt (`secret`: typed at a `Password:` prompt).
pub(crate) fn line(
    device: &Device,
    state: &mut ShellState,
    line: &str,
    secret: bool,
) -> LineResult {
    match device.spec.platform {
        Platform::Linux => linux::line(device, line),
        Platform::CiscoIos | Platform::CiscoXe => cisco_ios::line(device, state, line, secret),
        Platform::JuniperJunos => juniper_junos::line(device, state, line),
        Platform::CiscoXr => cisco_xr::line(device, state, line),
        Platform::CiscoAsa => cisco_asa::line(device, state, line, secret),
        Platform::HuaweiVrp => huawei_vrp::line(device, state, line),
        Platform::HpProcurve => hp_procurve::line(device, state, line, secret),
        Platform::Fortinet => fortinet::line(device, state, line),
        Platform::PaloaltoPanos => paloalto_panos::line(device, state, line),
        Platform::MikrotikRouteros => mikrotik_routeros::line(device, line),
        Platform::ArubaAoscx => aruba_aoscx::line(device, state, line),
        Platform::CiscoNxos => cisco_nxos::line(device, state, line),
        Platform::AristaEos => arista_eos::line(device, state, line, secret),
    }
}

/// A command of a network OS, as keywords; typed words may abbreviate them.
pub(crate) struct Syntax {
    pub(crate) keywords: &'static [&'static str],
    /// Takes one more word, a number (`terminal length 0`).
    pub(crate) number: bool,
}

/// A command of keywords only.
pub(crate) const fn kw(keywords: &'static [&'static str]) -> Syntax {
    Syntax {
        keywords,
        number: false,
    }
}

/// A command of keywords, and a number after them when `number`.
pub(crate) const fn syn(keywords: &'static [&'static str], number: bool) -> Syntax {
    Syntax { keywords, number }
}

/// Parsed line: which entry of `table` matched and its numeric argument, or the byte
/// offset in `line` of the first word no entry accepts.
pub(crate) fn parse(line: &str, table: &[Syntax]) -> Result<(usize, Option<u32>), usize> {
    let words: Vec<(usize, &str)> = words_with_offsets(line);
    let mut furthest = 0;
    for (i, syn) in table.iter().enumerate() {
        let mut ok = 0;
        for ((_, typed), kw) in words.iter().zip(syn.keywords) {
            if accepts(kw, typed) {
                ok += 1;
            } else {
                break;
            }
        }
        if ok == syn.keywords.len() {
            let rest = &words[ok..];
            match (syn.number, rest) {
                (false, []) => return Ok((i, None)),
                (true, [(_, n)]) => {
                    if let Ok(n) = n.parse::<u32>() {
                        return Ok((i, Some(n)));
                    }
                }
                _ => {}
            }
            ok += 1;
        }
        furthest = furthest.max(ok);
    }
    let offset = words
        .get(furthest.min(words.len().saturating_sub(1)))
        .map(|(o, _)| *o)
        .unwrap_or(0);
    Err(offset)
}

/// The typed words begin an entry of `table` but stop short of its last keyword (`show`
/// alone): the device asks for the rest rather than naming a bad word.
pub(crate) fn incomplete(line: &str, table: &[Syntax]) -> bool {
    let words = words_with_offsets(line);
    !words.is_empty()
        && table.iter().any(|syn| {
            words.len() < syn.keywords.len()
                && words
                    .iter()
                    .zip(syn.keywords)
                    .all(|((_, typed), kw)| accepts(kw, typed))
        })
}

/// A typed word abbreviates keyword `kw` (two letters at least, or the whole keyword).
fn accepts(kw: &str, typed: &str) -> bool {
    kw.starts_with(typed) && (typed.len() >= 2 || typed == kw)
}

fn words_with_offsets(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

/// A caret under column `col` (prompt included), as network OSes mark bad input.
pub(crate) fn caret(col: usize) -> String {
    format!("{}^\n", " ".repeat(col))
}
