//! The devices pages: the list (filtered by name, tag, platform and last outcome, a page at
//! a time; a GET form, so a filtered list is a link to keep), and one device with its outcome
//! history, the credential that works, its configuration versions and a coloured diff
//! between any two, unified or side by side.

use super::session::Session;
use super::view::{self, Chrome};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use netraven_reads::device_list::{self, Filter};
use netraven_reads::devices::{self, ResultKey};
use netraven_reads::diff::{self, ConfigDiff, DiffLine};
use netraven_reads::history::{self, VersionRef};
use netraven_reads::page::Page;
use netraven_shared::domain::Outcome;
use serde::Deserialize;
use std::sync::Arc;

type Shared = State<Arc<AppState>>;

/// Lines of context around each change.
const CONTEXT: usize = 3;

pub struct DeviceRowView {
    pub name: String,
    pub link: String,
    pub platform: String,
    pub tags: String,
    pub outcome: &'static str,
    pub class: &'static str,
    pub last_result: String,
    pub last_backup: String,
}

#[derive(Template)]
#[template(path = "console/devices.html")]
struct DevicesPage {
    chrome: Chrome,
    devices: Vec<DeviceRowView>,
    filter: ListFilter,
    /// The last outcomes to filter by: value, label, whether it is the one chosen.
    outcomes: Vec<(&'static str, &'static str, bool)>,
    next: Option<String>,
}

/// The list's filters, as the form sends them (every field may be empty: no filter).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListFilter {
    /// Text the names contain, in any case.
    pub name: String,
    pub tag: String,
    /// A platform name, as stored.
    pub platform: String,
    /// A last outcome, or `NONE` for no result yet.
    pub outcome: String,
}

/// `outcome`'s value for devices with no result yet.
const NO_OUTCOME: &str = "NONE";

impl ListFilter {
    fn trimmed(self) -> ListFilter {
        ListFilter {
            name: self.name.trim().to_string(),
            tag: self.tag.trim().to_string(),
            platform: self.platform.trim().to_string(),
            outcome: self.outcome.trim().to_string(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
            && self.tag.is_empty()
            && self.platform.is_empty()
            && self.outcome.is_empty()
    }

    /// The filters as a query string, each followed by `&`, so a page link carries them
    /// (`name=edge-sw&tag=core&`; empty without filters).
    pub fn query(&self) -> String {
        [
            ("name", &self.name),
            ("tag", &self.tag),
            ("platform", &self.platform),
            ("outcome", &self.outcome),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}&", view::url_encode(v)))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    #[serde(flatten)]
    filter: ListFilter,
}

fn one(value: &str) -> Vec<String> {
    Some(value.to_string())
        .filter(|v| !v.is_empty())
        .into_iter()
        .collect()
}

/// The devices by name, filtered, a page at a time; the next page's link keeps the
/// filters.
pub async fn list(session: Session, State(s): Shared, Query(q): Query<ListQuery>) -> view::Answer {
    let after = view::cursor::<String>(q.cursor)?;
    let filter = q.filter.trimmed();
    if !filter.outcome.is_empty() && filter.outcome != NO_OUTCOME {
        filter
            .outcome
            .parse::<Outcome>()
            .map_err(|e| view::bad_request(&e))?;
    }
    let (tags, platforms, outcomes) = (
        one(&filter.tag),
        one(&filter.platform),
        one(&filter.outcome),
    );
    let limit = s.settings.default_page_size as usize;
    let reads = Filter {
        tags: &tags,
        platforms: &platforms,
        outcomes: &outcomes,
        after,
        limit: Some(limit as i64 + 1),
        ..Filter::default()
    };
    let client = s.pool.get().await.map_err(view::internal)?;
    let rows = device_list::search(&client, &reads, Some(&filter.name))
        .await
        .map_err(view::read_failed)?;
    let page = Page::of(rows, limit, |d| d.name.clone());
    let outcomes = Outcome::ALL
        .iter()
        .map(|o| o.as_str())
        .chain([NO_OUTCOME])
        .map(|o| {
            let label = if o == NO_OUTCOME { "none yet" } else { o };
            (o, label, o == filter.outcome)
        })
        .collect();
    Ok(view::page(&DevicesPage {
        chrome: Chrome::new(&session, "devices", "Devices"),
        devices: page
            .items
            .iter()
            .map(|d| DeviceRowView {
                link: view::url_encode(&d.name),
                name: d.name.clone(),
                platform: d.platform.clone(),
                tags: d.tags.join(", "),
                outcome: d.last_outcome.map_or("", |o| o.as_str()),
                class: d.last_outcome.map_or("idle", view::outcome_class),
                last_result: view::time_opt(d.last_result_at),
                last_backup: view::time_opt(d.last_good_backup_at),
            })
            .collect(),
        filter,
        outcomes,
        next: page.next_cursor,
    }))
}

pub struct ResultRow {
    pub job: String,
    pub job_short: String,
    pub job_type: String,
    pub outcome: &'static str,
    pub class: &'static str,
    pub reason: String,
    pub credential: String,
    pub finished: String,
}

pub struct VersionRow {
    pub version: i32,
    pub sha: String,
    pub first_seen: String,
    pub last_seen: String,
    pub size: i32,
    pub change: String,
    pub selected_from: bool,
    pub selected_to: bool,
}

/// One diff line as the page shows it.
pub struct Cell {
    pub class: &'static str,
    pub sign: &'static str,
    pub number: String,
    pub text: String,
}

pub struct UnifiedLine {
    pub class: &'static str,
    pub sign: &'static str,
    pub old: String,
    pub new: String,
    pub text: String,
}

pub struct HunkView {
    pub header: String,
    pub unified: Vec<UnifiedLine>,
    /// Side by side: the older version left, the newer right.
    pub split: Vec<(Cell, Cell)>,
}

pub struct DiffView {
    pub from: i32,
    pub to: i32,
    pub added: usize,
    pub removed: usize,
    pub hunks: Vec<HunkView>,
}

#[derive(Template)]
#[template(path = "console/device.html")]
struct DevicePage {
    chrome: Chrome,
    link: String,
    host: String,
    platform: String,
    tags: String,
    enabled: bool,
    affinity: Option<(String, String, String)>,
    host_key: String,
    results: Vec<ResultRow>,
    /// The cursor to older outcomes, and whether this page is the newest.
    results_next: Option<String>,
    results_paged: bool,
    versions: Vec<VersionRow>,
    diff: Option<DiffView>,
    split: bool,
    diff_error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    from: Option<String>,
    to: Option<String>,
    view: Option<String>,
    /// Where the outcome history resumes (its "older outcomes" link).
    results: Option<String>,
}

fn number(n: Option<usize>) -> String {
    n.map_or_else(String::new, |n| n.to_string())
}

fn cell(line: Option<&DiffLine>) -> Cell {
    match line {
        None => Cell {
            class: "empty",
            sign: "",
            number: String::new(),
            text: String::new(),
        },
        Some(l) => {
            let (class, sign, n) = match l.tag {
                "added" => ("add", "+", l.new_number),
                "removed" => ("del", "-", l.old_number),
                _ => ("ctx", " ", l.old_number),
            };
            Cell {
                class,
                sign,
                number: number(n),
                text: l.text.clone(),
            }
        }
    }
}

/// Side by side rows of a hunk: context on both sides; a run of removed lines beside the
/// added lines that follow it.
fn split_rows(lines: &[DiffLine]) -> Vec<(Cell, Cell)> {
    let mut rows = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].tag == "context" {
            let right = Cell {
                number: number(lines[i].new_number),
                ..cell(Some(&lines[i]))
            };
            rows.push((cell(Some(&lines[i])), right));
            i += 1;
            continue;
        }
        let removed: Vec<&DiffLine> = lines[i..]
            .iter()
            .take_while(|l| l.tag == "removed")
            .collect();
        i += removed.len();
        let added: Vec<&DiffLine> = lines[i..].iter().take_while(|l| l.tag == "added").collect();
        i += added.len();
        for k in 0..removed.len().max(added.len()) {
            rows.push((cell(removed.get(k).copied()), cell(added.get(k).copied())));
        }
    }
    rows
}

fn diff_view(d: &ConfigDiff) -> DiffView {
    DiffView {
        from: d.from.version,
        to: d.to.version,
        added: d.lines_added,
        removed: d.lines_removed,
        hunks: d
            .hunks
            .iter()
            .map(|h| HunkView {
                header: format!(
                    "@@ -{},{} +{},{} @@",
                    h.old_start, h.old_lines, h.new_start, h.new_lines
                ),
                unified: h
                    .lines
                    .iter()
                    .map(|l| {
                        let c = cell(Some(l));
                        UnifiedLine {
                            class: c.class,
                            sign: c.sign,
                            old: number(l.old_number),
                            new: number(l.new_number),
                            text: c.text,
                        }
                    })
                    .collect(),
                split: split_rows(&h.lines),
            })
            .collect(),
    }
}

/// One device, and the diff between two of its versions (by default the latest against
/// the one before it).
pub async fn show(
    session: Session,
    State(s): Shared,
    Path(name): Path<String>,
    Query(q): Query<DeviceQuery>,
) -> view::Answer {
    let parse = |v: Option<String>| -> Result<Option<VersionRef>, Response> {
        v.filter(|v| !v.is_empty())
            .map(|v| VersionRef::parse(&v).map_err(|e| view::bad_request(&e)))
            .transpose()
    };
    let (from, to) = match (parse(q.from), parse(q.to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return Err(r),
    };
    let results_after = view::cursor::<ResultKey>(q.results)?;
    let client = s.pool.get().await.map_err(view::internal)?;
    let device = devices::show(&client, &name)
        .await
        .map_err(view::read_failed)?;
    let limit = s.settings.default_page_size as usize;
    let results = devices::results_page(&client, device.id, results_after, limit)
        .await
        .map_err(view::read_failed)?;
    let versions = history::versions(&client, &name)
        .await
        .map_err(view::read_failed)?
        .versions;
    let (diff, diff_error) = if versions.len() < 2 && from.is_none() {
        (None, None)
    } else {
        match diff::between(&client, &name, from, to, CONTEXT).await {
            Ok(d) => (Some(diff_view(&d)), None),
            Err(e) if e.downcast_ref::<history::Missing>().is_some() => {
                (None, Some(format!("{e}")))
            }
            Err(e) => return Err(view::read_failed(e)),
        }
    };
    let (sel_from, sel_to) = diff.as_ref().map_or((0, 0), |d| (d.from, d.to));
    Ok(view::page(&DevicePage {
        chrome: Chrome::new(&session, "devices", format!("Device {}", device.name)),
        link: view::url_encode(&device.name),
        host: format!("{}:{}", device.host, device.port),
        platform: device.platform.clone(),
        tags: device.tags.join(", "),
        enabled: device.enabled,
        affinity: device.affinity.as_ref().map(|a| {
            (
                a.credential.clone(),
                a.username.clone(),
                view::time(a.succeeded_at),
            )
        }),
        host_key: device
            .host_key
            .as_ref()
            .map_or_else(String::new, |k| k.fingerprint.clone()),
        results_paged: results_after.is_some(),
        results_next: results.next_cursor,
        results: results
            .items
            .iter()
            .map(|r| {
                let job = r.job_id.to_string();
                ResultRow {
                    job_short: view::short_id(&r.job_id),
                    job,
                    job_type: r.job_type.clone().unwrap_or_default(),
                    outcome: r.outcome.as_str(),
                    class: view::outcome_class(r.outcome),
                    reason: r.reason.clone(),
                    credential: r.credential.clone().unwrap_or_default(),
                    finished: view::time(r.finished_at),
                }
            })
            .collect(),
        versions: versions
            .iter()
            .map(|v| VersionRow {
                version: v.version,
                sha: v.sha256.chars().take(12).collect(),
                first_seen: view::time(v.first_seen_at),
                last_seen: view::time(v.last_seen_at),
                size: v.size_bytes,
                change: match (v.lines_added, v.lines_removed) {
                    (Some(a), Some(r)) => format!("+{a} −{r}"),
                    _ => "first".into(),
                },
                selected_from: v.version == sel_from,
                selected_to: v.version == sel_to,
            })
            .collect(),
        diff,
        split: q.view.as_deref() == Some("split"),
        diff_error,
    }))
}
