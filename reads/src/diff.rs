//! `netraven device diff`: two versions' line diff (the `similar` crate) as hunks for
//! `--json`, and as a unified diff for people: red and green on a terminal, escaped.

use crate::history::{self, Missing, Version, VersionRef, VersionText};
use chrono::{DateTime, Utc};
use serde::Serialize;
use similar::{ChangeTag, TextDiff};
use std::time::Duration;

/// A diff gives up looking for the smallest one past this, and is still correct (as the
/// worker does when it counts lines).
const DIFF_TIMEOUT: Duration = Duration::from_secs(2);

/// Diffs computed at once by [`between`]: as many as the machine has cores. Two versions of
/// a few MiB each may take a diff its whole timeout of CPU; more of them at once would
/// only wait for the cores.
fn diff_turns() -> &'static tokio::sync::Semaphore {
    static TURNS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores)
    })
}

/// `netraven device diff --json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigDiff {
    pub device: String,
    pub from: Side,
    pub to: Side,
    pub lines_added: usize,
    pub lines_removed: usize,
    /// Lines of context around each change.
    pub context: usize,
    /// Empty when the two versions have the same text.
    pub hunks: Vec<Hunk>,
}

/// One of the two versions compared.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Side {
    pub version: i32,
    pub sha256: String,
    pub first_seen_at: DateTime<Utc>,
}

/// A hunk, numbered as a unified diff's `@@ -old_start,old_lines +new_start,new_lines @@`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hunk {
    pub old_start: usize,
    pub old_lines: usize,
    pub new_start: usize,
    pub new_lines: usize,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DiffLine {
    /// `context`, `added` or `removed`.
    pub tag: &'static str,
    /// The line's number (from 1) in the older version; `null` for an added line.
    pub old_number: Option<usize>,
    /// The line's number in the newer version; `null` for a removed line.
    pub new_number: Option<usize>,
    /// Without its line end.
    pub text: String,
}

/// The diff of device `name` from one version to another: `to` the latest unless given,
/// `from` the version before `to` unless given. [`Missing`] when either is not there. The
/// diff itself runs on a blocking thread, as many at once as there are cores.
pub async fn between(
    client: &deadpool_postgres::Client,
    name: &str,
    from: Option<VersionRef>,
    to: Option<VersionRef>,
    context: usize,
) -> anyhow::Result<ConfigDiff> {
    let id = history::device_id(client, name).await?;
    let to = history::version_of(client, id, name, to.unwrap_or(VersionRef::Latest)).await?;
    let from = match from {
        Some(which) => which,
        None => VersionRef::Number(
            history::version_before(client, id, to.meta.version)
                .await?
                .ok_or_else(|| {
                    Missing(format!(
                        "{name:?} has only version {}: nothing to compare it with",
                        to.meta.version
                    ))
                })?,
        ),
    };
    let from = history::version_of(client, id, name, from).await?;
    // Off the async threads, which serve every other request and the health probes
    // (the api's runtime has one per core), and a few at a time.
    let _turn = diff_turns().acquire().await?;
    Ok(tokio::task::spawn_blocking(move || diff(&from, &to, context)).await?)
}

/// The line diff of `from` to `to`.
pub fn diff(from: &VersionText, to: &VersionText, context: usize) -> ConfigDiff {
    let text = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(from.content.as_str(), to.content.as_str());
    let (mut added, mut removed) = (0, 0);
    let mut hunks = Vec::new();
    for group in text.grouped_ops(context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old = first.old_range().start..last.old_range().end;
        let new = first.new_range().start..last.new_range().end;
        let mut lines = Vec::new();
        for op in &group {
            for change in text.iter_changes(op) {
                let tag = match change.tag() {
                    ChangeTag::Equal => "context",
                    ChangeTag::Insert => {
                        added += 1;
                        "added"
                    }
                    ChangeTag::Delete => {
                        removed += 1;
                        "removed"
                    }
                };
                let value = change.value();
                lines.push(DiffLine {
                    tag,
                    old_number: change.old_index().map(|i| i + 1),
                    new_number: change.new_index().map(|i| i + 1),
                    text: value.strip_suffix('\n').unwrap_or(value).to_string(),
                });
            }
        }
        hunks.push(Hunk {
            old_start: start(&old),
            old_lines: old.len(),
            new_start: start(&new),
            new_lines: new.len(),
            lines,
        });
    }
    ConfigDiff {
        device: from.device.clone(),
        from: Side::from(&from.meta),
        to: Side::from(&to.meta),
        lines_added: added,
        lines_removed: removed,
        context,
        hunks,
    }
}

/// A unified diff's start line: from 1, or the line before when the range is empty.
fn start(r: &std::ops::Range<usize>) -> usize {
    if r.is_empty() {
        r.start
    } else {
        r.start + 1
    }
}

impl From<&Version> for Side {
    fn from(v: &Version) -> Side {
        Side {
            version: v.version,
            sha256: v.sha256.clone(),
            first_seen_at: v.first_seen_at,
        }
    }
}
