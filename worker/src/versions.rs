//! Numbering a batch's configurations as versions: which devices saw their latest version
//! again, which store a new one, and what each backup did to its device's history. No I/O:
//! [`crate::persist`] reads the devices' latest versions and writes what this decides.

use crate::device_text::DeviceText;
use netraven_shared::messages::{ConfigChange, ConfigVersion};
use similar::{ChangeTag, TextDiff};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// A device's latest version as stored.
#[derive(Debug, Clone)]
pub struct Head {
    pub id: i64,
    pub version: i32,
    pub sha256: String,
    /// The job that stored it, and its line counts: a batch written again after a commit
    /// whose outcome it never learnt finds its own version, and reports it as stored.
    pub first_job: Option<Uuid>,
    pub lines: (Option<i32>, Option<i32>),
}

/// One backup of a batch: its job, its hash, its text.
pub type Backup<'a> = (Uuid, &'a str, &'a DeviceText);

/// A version to insert.
#[derive(Debug)]
pub struct NewVersion<'a> {
    pub device_id: i64,
    pub version: i32,
    pub sha256: &'a str,
    pub content: &'a DeviceText,
    pub first_job: Uuid,
    pub last_job: Uuid,
    pub before: Before<'a>,
}

/// What a new version is counted against.
#[derive(Debug)]
pub enum Before<'a> {
    /// Nothing: the device's first version.
    First,
    /// A stored version, by row id (its text is read to count lines).
    Stored(i64),
    /// A version this batch inserts too.
    InBatch(&'a DeviceText),
}

/// What to write for a batch.
#[derive(Debug, Default)]
pub struct Plan<'a> {
    /// Stored versions seen again: (row id, job).
    pub seen: Vec<(i64, Uuid)>,
    pub inserts: Vec<NewVersion<'a>>,
    /// Versions a job stored in an earlier try of this batch: (job, device, version);
    /// the hash of the version before each is looked up for its report.
    pub own: Vec<(Uuid, i64, i32)>,
    /// What each backup did, by job and device (line counts filled in once counted).
    pub answers: HashMap<(Uuid, i64), ConfigVersion>,
}

/// Numbers each device's backups, in batch order, after the device's latest version
/// (`heads`: `None` for a device with none yet). A device missing from `heads` was deleted
/// and stores nothing.
pub fn plan<'a>(
    by_device: &BTreeMap<i64, Vec<Backup<'a>>>,
    mut heads: HashMap<i64, Option<Head>>,
) -> Plan<'a> {
    let mut plan = Plan::default();
    for (&device_id, backups) in by_device {
        let Some(stored) = heads.remove(&device_id) else {
            continue;
        };
        // The latest version so far: stored, or inserted by this batch (by index).
        let mut latest: Option<(i32, &str)> =
            stored.as_ref().map(|h| (h.version, h.sha256.as_str()));
        let mut pending: Option<usize> = None;
        for &(job, sha256, content) in backups {
            let same = latest.is_some_and(|(_, s)| s == sha256);
            let mine = stored
                .as_ref()
                .filter(|h| same && pending.is_none() && h.first_job == Some(job));
            let answer = if let Some(h) = mine {
                plan.own.push((job, device_id, h.version));
                let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
                ConfigVersion {
                    change: if h.version == 1 {
                        ConfigChange::New
                    } else {
                        ConfigChange::Changed
                    },
                    version: as_u32(h.version),
                    previous_sha256: None,
                    lines_added: count(h.lines.0),
                    lines_removed: count(h.lines.1),
                }
            } else if same {
                let version = latest.map_or(1, |(v, _)| v);
                match pending {
                    Some(i) => plan.inserts[i].last_job = job,
                    None => plan.seen.extend(stored.as_ref().map(|h| (h.id, job))),
                }
                unchanged(version)
            } else {
                let version = latest.map_or(1, |(v, _)| v + 1);
                let before = match (pending, &stored) {
                    (Some(i), _) => Before::InBatch(plan.inserts[i].content),
                    (None, Some(h)) => Before::Stored(h.id),
                    (None, None) => Before::First,
                };
                let change = match before {
                    Before::First => ConfigChange::New,
                    _ => ConfigChange::Changed,
                };
                let previous = latest.map(|(_, s)| s.to_string());
                plan.inserts.push(NewVersion {
                    device_id,
                    version,
                    sha256,
                    content,
                    first_job: job,
                    last_job: job,
                    before,
                });
                pending = Some(plan.inserts.len() - 1);
                latest = Some((version, sha256));
                ConfigVersion {
                    change,
                    version: as_u32(version),
                    previous_sha256: previous,
                    lines_added: 0,
                    lines_removed: 0,
                }
            };
            plan.answers.insert((job, device_id), answer);
        }
    }
    plan
}

/// The answer for a backup equal to the device's latest version, `version`.
pub fn unchanged(version: i32) -> ConfigVersion {
    ConfigVersion {
        change: ConfigChange::Unchanged,
        version: as_u32(version),
        previous_sha256: None,
        lines_added: 0,
        lines_removed: 0,
    }
}

fn as_u32(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
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
    use super::*;

    fn text(s: &str) -> DeviceText {
        DeviceText::from_text(s.to_string())
    }

    fn head(id: i64, version: i32, sha: &str) -> Option<Head> {
        Some(Head {
            id,
            version,
            sha256: sha.into(),
            first_job: Some(Uuid::nil()),
            lines: (None, None),
        })
    }

    #[test]
    fn a_backup_is_new_unchanged_or_the_next_version_and_a_return_is_a_version_too() {
        let (a, b) = (text("a\n"), text("b\n"));
        let (j1, j2) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let by_device = BTreeMap::from([
            (1, vec![(j1, "A", &a)]),
            (2, vec![(j1, "A", &a)]),
            (3, vec![(j1, "A", &a)]),
            (4, vec![(j1, "A", &a), (j2, "B", &b)]),
            (5, vec![(j1, "A", &a)]),
        ]);
        // 1: no version yet; 2: at A; 3: went A -> B, now A again; 4: at A, two jobs;
        // 5: deleted.
        let heads = HashMap::from([
            (1, None),
            (2, head(20, 1, "A")),
            (3, head(30, 2, "B")),
            (4, head(40, 3, "A")),
        ]);
        let p = plan(&by_device, heads);
        let got = |d: i64, j: Uuid| {
            let v = &p.answers[&(j, d)];
            (v.change, v.version, v.previous_sha256.clone())
        };
        assert_eq!(got(1, j1), (ConfigChange::New, 1, None));
        assert_eq!(got(2, j1), (ConfigChange::Unchanged, 1, None));
        assert_eq!(got(3, j1), (ConfigChange::Changed, 3, Some("B".into())));
        assert_eq!(got(4, j1), (ConfigChange::Unchanged, 3, None));
        assert_eq!(got(4, j2), (ConfigChange::Changed, 4, Some("A".into())));
        assert!(
            !p.answers.contains_key(&(j1, 5)),
            "a deleted device stores nothing"
        );
        assert_eq!(p.seen, vec![(20, j1), (40, j1)]);
        let inserted: Vec<(i64, i32)> =
            p.inserts.iter().map(|v| (v.device_id, v.version)).collect();
        assert_eq!(inserted, vec![(1, 1), (3, 3), (4, 4)]);
        assert!(matches!(p.inserts[1].before, Before::Stored(30)));
        assert!(matches!(p.inserts[2].before, Before::Stored(40)));
    }

    #[test]
    fn two_backups_of_one_device_in_a_batch_number_one_after_the_other() {
        let (a, b) = (text("a\n"), text("b\n"));
        let (j1, j2, j3) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let by_device = BTreeMap::from([(7, vec![(j1, "A", &a), (j2, "B", &b), (j3, "B", &b)])]);
        let p = plan(&by_device, HashMap::from([(7, None)]));
        assert_eq!(p.answers[&(j1, 7)].change, ConfigChange::New);
        assert_eq!(p.answers[&(j2, 7)].version, 2);
        assert_eq!(p.answers[&(j3, 7)].change, ConfigChange::Unchanged);
        assert_eq!(p.inserts.len(), 2);
        assert!(matches!(p.inserts[1].before, Before::InBatch(t) if t.text() == "a\n"));
        assert_eq!(
            p.inserts[1].last_job, j3,
            "the third job saw the second's version"
        );
    }

    #[test]
    fn a_batch_written_again_reports_the_versions_it_stored_before() {
        let a = text("a\n");
        let job = Uuid::from_u128(9);
        let mut stored = head(50, 4, "A");
        if let Some(h) = stored.as_mut() {
            h.first_job = Some(job);
            h.lines = (Some(2), Some(1));
        }
        let p = plan(
            &BTreeMap::from([(5, vec![(job, "A", &a)])]),
            HashMap::from([(5, stored)]),
        );
        let v = &p.answers[&(job, 5)];
        assert_eq!(
            (v.change, v.version, v.lines_added, v.lines_removed),
            (ConfigChange::Changed, 4, 2, 1)
        );
        assert_eq!(p.own, vec![(job, 5, 4)]);
        assert!(p.seen.is_empty() && p.inserts.is_empty());
    }

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
