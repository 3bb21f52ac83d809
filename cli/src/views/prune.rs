//! `netraven prune`: what retention removed (or, on a dry run, would remove), per table.

use super::{number, Style};
use comfy_table::Cell;
use netraven_dispatcher::aggregate::retention::Pruned;
use serde::Serialize;

/// `netraven prune --json`.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Finished jobs, logs and login attempts older than this went.
    pub older_than_days: u32,
    /// Each device kept its this many newest configuration versions...
    pub config_versions_kept: u32,
    /// ...and every version seen within this many days.
    pub config_older_than_days: u32,
    pub dry_run: bool,
    /// Rows removed (or that would be) per table.
    pub rows: Pruned,
}

pub fn render(r: &PruneReport, style: Style) -> String {
    let p = &r.rows;
    let mut table = style.table(["TABLE", if r.dry_run { "WOULD PRUNE" } else { "PRUNED" }]);
    for (name, n) in [
        ("jobs", p.jobs),
        ("job_results", p.job_results),
        ("job_logs", p.job_logs),
        ("command_outputs", p.command_outputs),
        ("credential_attempts", p.credential_attempts),
        ("device_configs (old versions)", p.device_configs),
    ] {
        table.add_row(vec![Cell::new(name), number(n)]);
    }
    let verb = if r.dry_run { "would prune" } else { "pruned" };
    format!(
        "{table}\n{verb} {} rows: finished jobs, logs and login attempts older than {} days, \
         and configuration versions past each device's {} newest and older than {} days; \
         open jobs and each device's latest configuration are kept\n",
        p.total(),
        r.older_than_days,
        r.config_versions_kept,
        r.config_older_than_days
    )
}
