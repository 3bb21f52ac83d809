//! `netraven device list`: every device with its tags, its last outcome and its last good
//! backup; filtered by tag, platform, last outcome, or a last good backup older than an
//! age (`--stale`). Devices removed from the inventory are listed only with `--removed`.

use super::{ago, outcome_cell, text, Style};
use comfy_table::Cell;

pub use netraven_reads::device_list::*;

/// One row per device, and a count.
pub fn render(rows: &[DeviceRow], style: Style) -> String {
    if rows.is_empty() {
        return "no devices\n".into();
    }
    let mut table = style.table([
        "DEVICE",
        "PLATFORM",
        "TAGS",
        "LAST OUTCOME",
        "LAST RESULT",
        "LAST GOOD BACKUP",
    ]);
    for r in rows {
        let name = if let Some(at) = r.removed_at {
            Cell::new(format!(
                "{} (removed {})",
                super::shown(&r.name),
                at.format("%Y-%m-%d %H:%M UTC")
            ))
        } else if r.enabled {
            text(&r.name)
        } else {
            Cell::new(format!("{} (disabled)", super::shown(&r.name)))
        };
        table.add_row(vec![
            name,
            text(&r.platform),
            text(&r.tags.join(", ")),
            r.last_outcome.map_or_else(|| Cell::new("-"), outcome_cell),
            Cell::new(ago(r.last_result_at)),
            Cell::new(match r.last_good_backup_at {
                None => "never".to_string(),
                at => ago(at),
            }),
        ]);
    }
    format!("{table}\n{} devices\n", rows.len())
}
