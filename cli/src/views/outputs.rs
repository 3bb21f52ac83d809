//! `netraven job outputs`: what a `command` job's devices answered, per device and command,
//! escaped for people (the exact bytes are in `--json`).

use super::history::CommandOutput;
use super::{shown, Style};
use comfy_table::Color;
use netraven_shared::text::{escape_controls, Lines};
use std::fmt::Write;

/// Per device a heading, then per command `$ command  (exit N)` and its output.
pub fn render(outputs: &[CommandOutput], style: Style) -> String {
    let mut out = String::new();
    let mut device: Option<&str> = None;
    for o in outputs {
        if device != Some(o.device.as_str()) {
            if device.is_some() {
                out.push('\n');
            }
            let head = format!("== {} ==", shown(&o.device));
            let _ = writeln!(out, "{}", style.paint(&head, Some(Color::Cyan)));
            device = Some(&o.device);
        }
        let exit = match o.exit_status {
            Some(0) => String::new(),
            Some(n) => style.paint(&format!("  (exit {n})"), Some(Color::Red)),
            None => "  (no exit status)".into(),
        };
        let _ = writeln!(out, "$ {}{exit}", shown(&o.command));
        // From the exact bytes when there are some, so a NUL reads `\0`.
        let text = match &o.output_base64 {
            Some(b) => String::from_utf8_lossy(b),
            None => o.output.as_str().into(),
        };
        let text = escape_controls(&text, Lines::Keep);
        out.push_str(&text);
        if !text.is_empty() && !text.ends_with('\n') {
            out.push('\n');
        }
    }
    if outputs.is_empty() {
        out.push_str(
            "no command outputs stored (for this job, or this device of it): only `command` \
             jobs store them\n",
        );
    }
    out
}
