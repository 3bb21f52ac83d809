//! `netraven inventory platforms`: the platform names a device may give — every profile
//! (built-in and `worker.profiles_dir`'s), its aliases, its transport and where it came
//! from — as the import checks them.

use crate::views::{text, Style};
use netraven_worker::platform::{Profiles, Transport};
use serde::Serialize;

/// One profile, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformRow {
    pub name: String,
    pub aliases: Vec<String>,
    /// `exec` or `shell`.
    pub transport: &'static str,
    /// `built-in` or the profile file's path.
    pub origin: String,
}

/// Every profile, by name.
pub fn list(profiles: &Profiles) -> Vec<PlatformRow> {
    profiles
        .all()
        .iter()
        .map(|p| PlatformRow {
            name: p.name.clone(),
            aliases: p
                .aliases
                .iter()
                .filter(|a| **a != p.name)
                .cloned()
                .collect(),
            transport: match p.transport {
                Transport::Exec => "exec",
                Transport::Shell => "shell",
            },
            origin: if p.origin.starts_with("built-in") {
                "built-in".into()
            } else {
                p.origin.clone()
            },
        })
        .collect()
}

pub fn render(rows: &Vec<PlatformRow>, style: Style) -> String {
    let mut table = style.table(["PLATFORM", "ALIASES", "TRANSPORT", "FROM"]);
    for r in rows {
        table.add_row(vec![
            text(&r.name),
            text(&r.aliases.join(", ")),
            text(r.transport),
            text(&r.origin),
        ]);
    }
    format!("{table}\nA device's platform may be a name or an alias; the import stores the name.\n")
}
