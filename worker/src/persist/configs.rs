//! Configuration versions: a backup equal to the device's latest version marks that version
//! seen; any other becomes the device's next version, its lines counted against the one
//! before (migration V10).
//!
//! Unchanged is the common case (most nights, most devices): it costs one read of the
//! device's latest version (its hash, not its text) and one update. Only a changed device
//! reads the text of its version before, to count the lines.

use super::connection::execute;
use crate::device_text::DeviceText;
use crate::error::WorkerError;
use crate::report::DeviceReport;
use netraven_shared::messages::{ConfigChange, ConfigVersion, TaskResult};
use similar::{ChangeTag, TextDiff};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// One finished device to store the configuration of.
type Recorded<'a> = (&'a TaskResult, &'a DeviceReport);

/// A device's latest version as stored.
struct Head {
    id: Option<i64>,
    version: i32,
    sha256: String,
    /// The job that stored it, and its line counts: a batch written again after a commit
    /// whose outcome it never learnt finds its own version, and reports it as stored.
    first_job: Option<Uuid>,
    lines: (Option<i32>, Option<i32>),
}

/// A version to insert.
struct NewVersion<'a> {
    device_id: i64,
    version: i32,
    sha256: &'a str,
    content: &'a DeviceText,
    first_job: Uuid,
    last_job: Uuid,
    /// The row of the version before, when it is stored already (its text is read to
    /// count lines), or the text of one inserted by this batch.
    before: Before<'a>,
}

enum Before<'a> {
    First,
    Stored(i64),
    InBatch(&'a DeviceText),
}

/// Stores the configurations of a batch and answers, per job and device, what each did to
/// the device's history. Devices deleted while their task was in flight store nothing
/// (migration V3). The batch's devices with a configuration are locked in id order until
/// the batch commits, so two jobs backing up one device never number the same version
/// twice, and a deletion waits for the commit and then finds the rows.
pub async fn store_configs(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[Recorded<'_>],
) -> Result<HashMap<(Uuid, i64), ConfigVersion>, WorkerError> {
    // Each device's snapshots in batch order (a device is twice in a batch only when two
    // jobs reached it within one group commit).
    let mut by_device: BTreeMap<i64, Vec<(Uuid, &str, &DeviceText)>> = BTreeMap::new();
    for (result, report) in batch {
        if let Some(c) = &report.config {
            by_device.entry(result.device_id).or_default().push((
                result.job_id,
                c.sha256.as_str(),
                &c.content,
            ));
        }
    }
    let mut answers = HashMap::new();
    if by_device.is_empty() {
        return Ok(answers);
    }
    let ids: Vec<i64> = by_device.keys().copied().collect();
    let statement = tx
        .prepare_cached(
            "SELECT d.id, c.id, c.version, c.sha256, c.first_job_id, c.lines_added,
                    c.lines_removed
             FROM devices d
             LEFT JOIN LATERAL (
                 SELECT id, version, sha256, first_job_id, lines_added, lines_removed
                 FROM device_configs
                 WHERE device_id = d.id ORDER BY version DESC LIMIT 1
             ) c ON true
             WHERE d.id = ANY($1)
             ORDER BY d.id
             FOR NO KEY UPDATE OF d",
        )
        .await?;
    let mut heads: HashMap<i64, Option<Head>> = HashMap::new();
    for row in tx.query(&statement, &[&ids]).await? {
        let head = row.get::<_, Option<i32>>(2).map(|version| Head {
            id: row.get(1),
            version,
            sha256: row.get(3),
            first_job: row.get(4),
            lines: (row.get(5), row.get(6)),
        });
        heads.insert(row.get(0), head);
    }

    let mut seen: Vec<(i64, Uuid)> = Vec::new();
    // Versions this job stored in an earlier try of this batch, whose version before is
    // looked up for the report.
    let mut own: Vec<(Uuid, i64, i32)> = Vec::new();
    let mut inserts: Vec<NewVersion<'_>> = Vec::new();
    for (device_id, snapshots) in &by_device {
        // A device deleted meanwhile has no row: nothing is stored for it.
        let Some(head) = heads.remove(device_id) else {
            continue;
        };
        let mut head = head;
        let mut pending: Option<usize> = None;
        for &(job, sha256, content) in snapshots {
            let same = head.as_ref().is_some_and(|h| h.sha256 == sha256);
            let mine = same
                && pending.is_none()
                && head.as_ref().is_some_and(|h| h.first_job == Some(job));
            let (change, version, previous) = match &head {
                Some(h) if mine => {
                    own.push((job, *device_id, h.version));
                    let change = if h.version == 1 {
                        ConfigChange::New
                    } else {
                        ConfigChange::Changed
                    };
                    (change, h.version, None)
                }
                Some(h) if same => (ConfigChange::Unchanged, h.version, None),
                Some(h) => (ConfigChange::Changed, h.version + 1, Some(h.sha256.clone())),
                None => (ConfigChange::New, 1, None),
            };
            if same {
                match pending {
                    Some(i) => inserts[i].last_job = job,
                    None => seen.extend(head.as_ref().and_then(|h| h.id).map(|id| (id, job))),
                }
            } else {
                let before = match (pending, &head) {
                    (Some(i), _) => Before::InBatch(inserts[i].content),
                    (None, Some(Head { id: Some(id), .. })) => Before::Stored(*id),
                    _ => Before::First,
                };
                inserts.push(NewVersion {
                    device_id: *device_id,
                    version,
                    sha256,
                    content,
                    first_job: job,
                    last_job: job,
                    before,
                });
                pending = Some(inserts.len() - 1);
                head = Some(Head {
                    id: None,
                    version,
                    sha256: sha256.to_string(),
                    first_job: Some(job),
                    lines: (None, None),
                });
            }
            let lines = match &head {
                Some(h) if mine => h.lines,
                _ => (None, None),
            };
            let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
            answers.insert(
                (job, *device_id),
                ConfigVersion {
                    change,
                    version: u32::try_from(version).unwrap_or(0),
                    previous_sha256: previous,
                    lines_added: count(lines.0),
                    lines_removed: count(lines.1),
                },
            );
        }
    }
    if !own.is_empty() {
        let devices: Vec<i64> = own.iter().map(|o| o.1).collect();
        let versions: Vec<i32> = own.iter().map(|o| o.2 - 1).collect();
        let statement = tx
            .prepare_cached(
                "SELECT c.device_id, c.sha256 FROM device_configs c
                 JOIN unnest($1::bigint[], $2::int[]) AS t(device_id, version)
                   ON c.device_id = t.device_id AND c.version = t.version",
            )
            .await?;
        for row in tx.query(&statement, &[&devices, &versions]).await? {
            let device: i64 = row.get(0);
            if let Some((job, ..)) = own.iter().find(|o| o.1 == device) {
                if let Some(answer) = answers.get_mut(&(*job, device)) {
                    answer.previous_sha256 = Some(row.get(1));
                }
            }
        }
    }

    if !seen.is_empty() {
        let rows: Vec<i64> = seen.iter().map(|s| s.0).collect();
        let jobs: Vec<Uuid> = seen.iter().map(|s| s.1).collect();
        execute(
            tx,
            "UPDATE device_configs c SET last_seen_at = now(), last_job_id = t.job
             FROM unnest($1::bigint[], $2::uuid[]) AS t(id, job)
             WHERE c.id = t.id",
            &[&rows, &jobs],
        )
        .await?;
    }
    if inserts.is_empty() {
        return Ok(answers);
    }

    // The text of each changed device's version before, to count its lines.
    let stored: Vec<i64> = inserts
        .iter()
        .filter_map(|v| match v.before {
            Before::Stored(id) => Some(id),
            _ => None,
        })
        .collect();
    let mut before_text: HashMap<i64, String> = HashMap::new();
    if !stored.is_empty() {
        let statement = tx
            .prepare_cached("SELECT id, content FROM device_configs WHERE id = ANY($1)")
            .await?;
        for row in tx.query(&statement, &[&stored]).await? {
            before_text.insert(row.get(0), row.get(1));
        }
    }
    let mut counts: Vec<(Option<i32>, Option<i32>)> = Vec::with_capacity(inserts.len());
    for v in &inserts {
        let old = match v.before {
            Before::First => None,
            Before::Stored(id) => before_text.get(&id).map(String::as_str),
            Before::InBatch(text) => Some(text.text()),
        };
        let (added, removed) = match old {
            Some(old) => line_changes(old, v.content.text()),
            None => (0, 0),
        };
        if let Some(answer) = answers.get_mut(&(v.first_job, v.device_id)) {
            answer.lines_added = added;
            answer.lines_removed = removed;
        }
        let as_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        counts.push(match v.before {
            Before::First => (None, None),
            _ => (Some(as_i32(added)), Some(as_i32(removed))),
        });
    }

    let devices: Vec<i64> = inserts.iter().map(|v| v.device_id).collect();
    let versions: Vec<i32> = inserts.iter().map(|v| v.version).collect();
    let hashes: Vec<&str> = inserts.iter().map(|v| v.sha256).collect();
    let contents: Vec<&str> = inserts.iter().map(|v| v.content.text()).collect();
    // The exact bytes, only where the text is not them (a NUL, bytes that are not UTF-8).
    let exact: Vec<Option<&[u8]>> = inserts.iter().map(|v| v.content.exact()).collect();
    let sizes: Vec<i32> = inserts
        .iter()
        .map(|v| i32::try_from(v.content.len()).unwrap_or(i32::MAX))
        .collect();
    let first_jobs: Vec<Uuid> = inserts.iter().map(|v| v.first_job).collect();
    let last_jobs: Vec<Uuid> = inserts.iter().map(|v| v.last_job).collect();
    let added: Vec<Option<i32>> = counts.iter().map(|c| c.0).collect();
    let removed: Vec<Option<i32>> = counts.iter().map(|c| c.1).collect();
    execute(
        tx,
        "INSERT INTO device_configs (device_id, version, sha256, content, content_bytes,
                                     size_bytes, first_job_id, last_job_id, lines_added,
                                     lines_removed)
         SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::bytea[],
                              $6::int[], $7::uuid[], $8::uuid[], $9::int[], $10::int[])",
        &[
            &devices,
            &versions,
            &hashes,
            &contents,
            &exact,
            &sizes,
            &first_jobs,
            &last_jobs,
            &added,
            &removed,
        ],
    )
    .await?;
    Ok(answers)
}

/// Lines added and removed from `old` to `new`, as a unified diff of the two counts them.
pub fn line_changes(old: &str, new: &str) -> (u32, u32) {
    let diff = TextDiff::configure()
        .timeout(std::time::Duration::from_secs(1))
        .diff_lines(old, new);
    let (mut added, mut removed) = (0u32, 0u32);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::line_changes;

    #[test]
    fn lines_are_counted_as_a_unified_diff_counts_them() {
        let old = "hostname r1\ninterface Gi0/1\n description a\n!\nend\n";
        assert_eq!(line_changes(old, old), (0, 0));
        let changed = "hostname r1\ninterface Gi0/1\n description b\n!\nend\n";
        assert_eq!(line_changes(old, changed), (1, 1));
        let added = "hostname r1\ninterface Gi0/1\n description a\n!\nntp server 10.0.0.1\nend\n";
        assert_eq!(line_changes(old, added), (1, 0));
        assert_eq!(line_changes(old, "hostname r1\nend\n"), (0, 3));
    }
}
