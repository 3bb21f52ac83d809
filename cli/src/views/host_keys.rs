//! `netraven device host-key pin`, `forget` and `list` as people read them (the data comes
//! from [`crate::host_keys`]; `--json` prints it as it is).

use super::{ago, shown, text, Style};
use crate::host_keys::{PinChange, PinRow};
use comfy_table::{Cell, Color};
use std::fmt::Write;

pub fn render_change(c: &PinChange, style: Style) -> String {
    let mut out = String::new();
    let device = shown(&c.device);
    let key = || {
        shown(&format!(
            "{} {}",
            c.algorithm.as_deref().unwrap_or("fingerprint"),
            c.fingerprint.as_deref().unwrap_or("-")
        ))
        .into_owned()
    };
    let _ = match c.action {
        "pinned" => writeln!(out, "{}: pinned {}", device, key()),
        "unchanged" => writeln!(out, "{}: already pinned to {}", device, key()),
        "replaced" => writeln!(
            out,
            "{}: pinned {} {}",
            device,
            key(),
            style.paint(
                &format!(
                    "(replaces {})",
                    c.previous_fingerprint.as_deref().unwrap_or("-")
                ),
                Some(Color::Yellow)
            )
        ),
        "forgotten" => writeln!(
            out,
            "{}: forgot {} (pinned by {}); strict checking now refuses it until pinned again",
            device,
            c.previous_fingerprint.as_deref().unwrap_or("-"),
            shown(c.source.as_deref().unwrap_or("-"))
        ),
        _ => writeln!(out, "{}: no host key was pinned", device),
    };
    for n in &c.notes {
        let _ = writeln!(out, "  {n}");
    }
    out
}

pub fn render_list(rows: &[PinRow], style: Style) -> String {
    if rows.is_empty() {
        return "no devices\n".into();
    }
    let mut table = style.table([
        "DEVICE",
        "ADDRESS",
        "SOURCE",
        "ALGORITHM",
        "FINGERPRINT",
        "PINNED",
        "LAST SEEN",
    ]);
    for r in rows {
        let pinned = r.fingerprint.is_some();
        table.add_row(vec![
            text(&r.device),
            Cell::new(format!("{}:{}", r.host, r.port)),
            if pinned {
                text(r.source.as_deref().unwrap_or("-"))
            } else {
                Cell::new("not pinned").fg(Color::Red)
            },
            text(r.algorithm.as_deref().unwrap_or("-")),
            text(r.fingerprint.as_deref().unwrap_or("-")),
            Cell::new(ago(r.pinned_at)),
            Cell::new(ago(r.last_seen_at)),
        ]);
    }
    format!("{table}\n")
}
