//! `netraven dead list` and `netraven dead replay` in words: the reading and the replay
//! themselves are the `netraven-dead-letters` crate's, shared with the api role.

use crate::views::{text, Style};
use comfy_table::Cell;
pub use netraven_dead_letters::*;

/// `dead list` as a table.
pub fn render_list(listing: &Listing, style: Style) -> String {
    if listing.total == 0 {
        return format!("{} has no such dead letters\n", listing.queue);
    }
    let mut table = style.table(["source", "by", "reason", "age", "replayed", "what"]);
    for d in &listing.dead_letters {
        table.add_row(vec![
            text(d.source.as_deref().unwrap_or("?")),
            text(d.published_by.as_deref().unwrap_or("-")),
            text(&d.reason),
            Cell::new(d.age_secs.map_or("?".into(), age)),
            Cell::new(d.replayed),
            text(&d.summary),
        ]);
    }
    format!(
        "{table}\n{} of {} dead letters in {}\n",
        listing.dead_letters.len(),
        listing.total,
        listing.queue
    )
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}

/// `dead replay` in words.
pub fn render_replayed(r: &Replayed, _style: Style) -> String {
    let mut out = format!(
        "replayed {}, {} not confirmed (kept), {} kept\n",
        r.replayed, r.failed, r.kept
    );
    for (source, n) in &r.by_source {
        out.push_str(&format!("  {n} back to where {source} gets them\n"));
    }
    out
}
