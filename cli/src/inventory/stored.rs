//! The import's checks against what Postgres has: credentials and jump hosts the file
//! names but does not define, and the jump hosts of stored tags its devices carry.

use super::parse::{self, Problem};
use super::Inventory;
use anyhow::Result;
use deadpool_postgres::GenericClient;
use std::collections::BTreeSet;

/// The credentials and jump hosts the file names but does not define, and Postgres does
/// not have either: one problem each, with its place.
pub(super) async fn check_references<C: GenericClient>(
    db: &C,
    references: &[parse::Reference],
) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for (kind, table, section) in [
        ("credential", "credentials", "credentials:"),
        ("jump host", "jump_hosts", "jump_hosts:"),
    ] {
        let wanted: Vec<&str> = references
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.name.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let stored: BTreeSet<String> = db
            .query(
                &format!("SELECT name FROM {table} WHERE name = ANY($1)"),
                &[&wanted],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for r in references.iter().filter(|r| r.kind == kind) {
            if !stored.contains(&r.name) {
                problems.push(Problem {
                    line: r.line,
                    column: r.column,
                    message: format!(
                        "{}: unknown {kind} {:?}: it is neither under `{section}` nor stored",
                        r.owner, r.name
                    ),
                });
            }
        }
    }
    Ok(problems)
}

/// [`parse::tag_conflicts`] with the jump hosts of the stored tags the file's devices
/// carry but the file does not declare.
pub(super) async fn stored_tag_conflicts<C: GenericClient>(
    db: &C,
    inv: &Inventory,
) -> Result<Vec<Problem>> {
    let declared: std::collections::HashSet<String> =
        inv.tags.iter().map(|t| t.name.trim().to_string()).collect();
    let others: Vec<&str> = inv
        .devices
        .iter()
        .filter(|d| d.jump_host.is_none())
        .flat_map(|d| d.tags.iter().map(String::as_str))
        .filter(|t| !declared.contains(*t))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let stored: std::collections::HashMap<String, String> = db
        .query(
            "SELECT t.name, j.name FROM tags t JOIN jump_hosts j ON j.id = t.jump_host_id
             WHERE t.name = ANY($1)",
            &[&others],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let file: std::collections::HashMap<String, String> = inv
        .tags
        .iter()
        .filter_map(|t| Some((t.name.trim().to_string(), t.jump_host.clone()?)))
        .collect();
    // The file's own conflicts were found when it was read; only those that need a
    // stored tag are new here.
    let mut mixed = parse::tag_conflicts(inv, &file, &declared, &stored);
    let alone = parse::tag_conflicts(inv, &file, &declared, &Default::default());
    mixed.retain(|p| !alone.contains(p));
    Ok(mixed)
}
