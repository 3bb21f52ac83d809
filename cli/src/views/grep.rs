//! `netraven config grep`: the devices whose latest configuration matched, each matching
//! line under its device with its number.

use super::history::GrepDevice;
use super::{shown, Style};
use comfy_table::Color;
use std::fmt::Write;

/// `device (version N)` then `  LINE: text` per match; a last line counts them.
pub fn render(devices: &[GrepDevice], style: Style) -> String {
    let mut out = String::new();
    let mut lines = 0;
    for d in devices {
        let head = format!("{} (version {})", shown(&d.device), d.version);
        let _ = writeln!(out, "{}", style.paint(&head, Some(Color::Cyan)));
        let width = d.lines.last().map_or(1, |l| l.number.to_string().len());
        for l in &d.lines {
            let _ = writeln!(out, "  {:>width$}: {}", l.number, shown(&l.text));
        }
        lines += d.lines.len();
    }
    let _ = writeln!(
        out,
        "{} device{} match, {} line{}",
        devices.len(),
        if devices.len() == 1 { "" } else { "s" },
        lines,
        if lines == 1 { "" } else { "s" }
    );
    out
}
