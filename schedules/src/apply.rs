//! `netraven schedule apply FILE [--prune] [--dry-run]` and `PUT /api/schedules/{name}`: the database made to hold a
//! file's schedules, in one transaction.
//!
//! The file is checked whole before the transaction starts (`read_file`): one problem and
//! nothing changes. Then every schedule row is locked (a dispatcher taking a tick waits,
//! another `apply` too) and each schedule of the file is compared with its row, column by
//! column: identical ones are not written (their `updated_at` stays), so applying the same
//! file twice changes no row.

use crate::row::{self, Row};
use crate::write::next_tick;
use crate::Invalid;
use anyhow::Result;
use chrono::{DateTime, Utc};
use netraven_shared::schedule::{Calendar, ScheduleFile};
use serde::Serialize;

/// What apply does (or, on a dry run, would do) with one schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    /// The stored columns that change (`paused` among them when the file sets it).
    Updated {
        changed: Vec<&'static str>,
    },
    Unchanged,
    /// Not in the file, with `--prune`.
    Removed,
}

impl Action {
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated { .. } => "updated",
            Action::Unchanged => "unchanged",
            Action::Removed => "removed",
        }
    }
}

/// One schedule's line of the plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Planned {
    pub name: String,
    pub action: Action,
    /// Set when the next tick is computed afresh (created, cron or zone changed, resumed).
    pub next_tick_at: Option<DateTime<Utc>>,
    /// Whether the next tick was computed afresh.
    pub retick: bool,
    #[serde(skip)]
    pub calendar: Option<Calendar>,
}

/// What an apply did (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub dry_run: bool,
    pub schedules: Vec<Planned>,
    /// Stored schedules the file does not name, kept (no `--prune`).
    pub kept: Vec<String>,
}

impl Applied {
    pub fn count(&self, verb: &str) -> usize {
        self.schedules
            .iter()
            .filter(|p| p.action.verb() == verb)
            .count()
    }
}

/// Applies `file` (already checked by `read_file`): creates, updates, and with `prune`
/// removes, in one transaction that a dry run rolls back.
pub async fn apply(
    client: &mut deadpool_postgres::Client,
    file: &ScheduleFile,
    prune: bool,
    dry_run: bool,
) -> Result<Applied> {
    let tx = client.transaction().await?;
    let stored = row::load_all(&tx, true).await?;
    let now = Utc::now();
    let mut schedules = Vec::new();
    for spec in &file.schedules {
        let calendar = spec.check().map_err(Invalid)?;
        let existing = stored.iter().find(|r| r.spec.name == spec.name);
        let planned = match existing {
            None => {
                let next = next_tick(&calendar, now);
                if !dry_run {
                    row::insert(&tx, spec, next).await?;
                }
                Planned {
                    name: spec.name.clone(),
                    action: Action::Created,
                    next_tick_at: next,
                    retick: true,
                    calendar: Some(calendar),
                }
            }
            Some(old) => {
                let mut changed = row::columns_changed(&old.spec, spec);
                let paused = spec.paused.unwrap_or(old.paused);
                if paused != old.paused {
                    changed.push("paused");
                }
                // A new calendar starts from now; so does a resumed schedule (the ticks it
                // missed while paused are not run). Any other change keeps the next tick.
                let retick = changed.iter().any(|c| matches!(*c, "cron" | "time_zone"))
                    || (old.paused && !paused);
                let next = if retick {
                    next_tick(&calendar, now)
                } else {
                    old.next_tick_at
                };
                let action = if changed.is_empty() {
                    Action::Unchanged
                } else {
                    if !dry_run {
                        row::update(&tx, old.id, spec, paused, next).await?;
                    }
                    Action::Updated { changed }
                };
                Planned {
                    name: spec.name.clone(),
                    action,
                    next_tick_at: next,
                    retick,
                    calendar: Some(calendar),
                }
            }
        };
        schedules.push(planned);
    }
    let mut kept = Vec::new();
    let absent = stored
        .iter()
        .filter(|r| !file.schedules.iter().any(|s| s.name == r.spec.name));
    for Row { id, spec, .. } in absent {
        if prune {
            if !dry_run {
                tx.execute("DELETE FROM schedules WHERE id = $1", &[id])
                    .await?;
            }
            schedules.push(Planned {
                name: spec.name.clone(),
                action: Action::Removed,
                next_tick_at: None,
                retick: false,
                calendar: None,
            });
        } else {
            kept.push(spec.name.clone());
        }
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(Applied {
        dry_run,
        schedules,
        kept,
    })
}
