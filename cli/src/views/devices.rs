//! `netraven device show`: one device's inventory, last outcome, the credential that worked,
//! its latest configuration and pinned host key, and its recent jobs.

use super::{ago, duration_ms, number, outcome_cell, short_hash, shown, text, when, Style};
use comfy_table::Cell;
use std::fmt::Write;

pub use netraven_reads::devices::*;

pub fn render(d: &DeviceDetail, style: Style) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<14} {v}");
    };
    line("device", shown(&d.name).into_owned());
    line("host", format!("{}:{}", shown(&d.host), d.port));
    line("platform", shown(&d.platform).into_owned());
    line("tags", shown(&d.tags.join(", ")).into_owned());
    if let Some(at) = d.removed_at {
        line(
            "removed",
            format!(
                "{} (from the inventory: no job targets it; its history stays)",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        );
    } else if !d.enabled {
        line("enabled", "no (jobs skip it)".into());
    }
    if d.source != "file" {
        line("source", shown(&d.source).into_owned());
    }
    match &d.last_result {
        Some(r) => {
            line(
                "last outcome",
                format!("{} {}", style.outcome(r.outcome), ago(Some(r.finished_at))),
            );
            if !r.reason.is_empty() {
                line("reason", shown(&r.reason).into_owned());
            }
            line("last job", r.job_id.to_string());
        }
        None => line("last outcome", "- (never in a job)".into()),
    }
    line(
        "credential",
        match &d.affinity {
            Some(a) => format!(
                "{} ({}), worked {}; tried first",
                shown(&a.credential),
                shown(&a.username),
                ago(Some(a.succeeded_at))
            ),
            None => "- (none has worked yet)".into(),
        },
    );
    match &d.config {
        Some(c) => {
            line(
                "config",
                format!("version {} sha256:{}", c.version, c.sha256),
            );
            line(
                "",
                format!(
                    "{} bytes; changed {}; last seen {}; {} version{} stored \
                     (`device configs` lists them)",
                    c.size_bytes,
                    when(Some(c.changed_at)),
                    ago(Some(c.last_seen_at)),
                    c.versions,
                    if c.versions == 1 { "" } else { "s" }
                ),
            );
        }
        None => line("config", "- (no backup yet)".into()),
    }
    line(
        "host key",
        match &d.host_key {
            Some(k) => format!(
                "{} {} (pinned {}, {})",
                shown(k.algorithm.as_deref().unwrap_or("by fingerprint")),
                shown(&k.fingerprint),
                ago(Some(k.first_seen_at)),
                shown(&k.source)
            ),
            None => "- (not pinned yet)".into(),
        },
    );
    if !d.recent.is_empty() {
        let mut table = style.table([
            "FINISHED",
            "JOB",
            "TYPE",
            "OUTCOME",
            "CREDENTIAL",
            "ATTEMPTS",
            "TIME",
            "CONFIG",
        ]);
        for r in &d.recent {
            table.add_row(vec![
                Cell::new(ago(Some(r.finished_at))),
                Cell::new(r.job_id),
                text(r.job_type.as_deref().unwrap_or("-")),
                outcome_cell(r.outcome),
                text(r.credential.as_deref().unwrap_or("-")),
                number(r.attempts),
                number(duration_ms(r.duration_ms)),
                Cell::new(short_hash(r.config_sha256.as_deref())),
            ]);
        }
        let _ = write!(out, "\nrecent jobs\n{table}\n");
    }
    out
}
