//! `netraven export git`: what the repository lacks, committed job by job through
//! fast-import, then checked out.

use super::commit::{self, Author, JOB_TRAILER, LAYOUT_TRAILER, TAGS_TRAILER};
use super::git::{self, History, Repo};
use super::layout::{file_name, Layout};
use super::source;
use anyhow::{bail, Context, Result};
use deadpool_postgres::Client;
use serde::Serialize;
use std::path::PathBuf;
use uuid::Uuid;

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    /// `None`: the repository's own layout, or `flat` for a new one.
    pub layout: Option<Layout>,
    pub author: Author,
    /// Only devices with one of these tags; empty: the repository's own filter.
    pub tags: Vec<String>,
}

/// What an export did (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dir: PathBuf,
    pub layout: Layout,
    /// The tags the repository is limited to (empty: every device).
    pub tags: Vec<String>,
    /// The jobs committed, one commit each, in order.
    pub jobs: Vec<Uuid>,
    /// Device files written, over every commit.
    pub files: u64,
    /// Files moved to a new path (a device's tag or platform changed).
    pub moved: u64,
    /// The tip of `main` afterwards (`None`: the repository is still empty).
    pub head: Option<String>,
}

/// The layout and tag filter a repository was made with, from its newest commit.
fn made_with(history: &History) -> Result<(Option<Layout>, Vec<String>)> {
    let Some(newest) = history
        .trailers
        .iter()
        .find(|t| t.iter().any(|(k, _)| k == JOB_TRAILER))
    else {
        return Ok((None, Vec::new()));
    };
    let value = |key: &str| {
        newest
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let layout = value(LAYOUT_TRAILER).and_then(Layout::parse);
    let tags = match value(TAGS_TRAILER) {
        Some(list) => serde_json::from_str(list)
            .with_context(|| format!("the repository's {TAGS_TRAILER} trailer is not a list"))?,
        None => Vec::new(),
    };
    Ok((layout, tags))
}

/// Exports what the repository in `opts.dir` lacks.
pub async fn export(client: &Client, opts: Options) -> Result<Report> {
    git::check()?;
    let repo = Repo::open_or_init(&opts.dir)?;
    let history = repo.history()?;
    let (made_layout, made_tags) = made_with(&history)?;
    let layout = match (opts.layout, made_layout) {
        (Some(asked), Some(made)) if asked != made => bail!(
            "{} is laid out by {}: export into it with --layout {} (or omit --layout), or \
             into a new directory",
            opts.dir.display(),
            made.as_str(),
            made.as_str()
        ),
        (asked, made) => asked.or(made).unwrap_or(Layout::Flat),
    };
    let mut tags = opts.tags.clone();
    tags.sort();
    tags.dedup();
    let exported_before = made_layout.is_some();
    if history.head.is_some() && !exported_before {
        bail!(
            "{} is a git repository that no export made (no {JOB_TRAILER} trailer): give a \
             new directory, or one an export made",
            opts.dir.display()
        );
    }
    let tags = if tags.is_empty() {
        made_tags
    } else if exported_before && tags != made_tags {
        bail!(
            "{} holds the history of {}: give the same --tag (or none), or export into a new \
             directory",
            opts.dir.display(),
            if made_tags.is_empty() {
                "every device".to_string()
            } else {
                format!("the devices tagged {}", made_tags.join(", "))
            }
        );
    } else {
        tags
    };
    let done: Vec<Uuid> = history
        .trailers
        .iter()
        .flatten()
        .filter(|(k, _)| k == JOB_TRAILER)
        .filter_map(|(_, v)| v.parse().ok())
        .collect();

    let jobs = source::plan(client, &done, &tags).await?;
    let mut report = Report {
        dir: opts.dir.clone(),
        layout,
        tags: tags.clone(),
        jobs: Vec::with_capacity(jobs.len()),
        files: 0,
        moved: 0,
        head: history.head.clone(),
    };
    if jobs.is_empty() {
        return Ok(report);
    }
    // Each file name once, at its path: a device whose path changed is found by its name.
    let mut paths = match history.head {
        Some(_) => repo.files()?,
        None => Default::default(),
    };
    let mut import = repo.fast_import(history.head.as_deref())?;
    for job in &jobs {
        let listed = source::listing(client, job.id, commit::LISTED).await?;
        let message = commit::message(job, &listed, layout, &tags);
        import.commit(opts.author.as_str(), job.finished_at, &message)?;
        let mut after = (0, 0);
        loop {
            let page = source::contents(client, job.id, after).await?;
            let Some(last) = page.last() else { break };
            after = (last.device_id, last.version);
            for file in &page {
                let path = layout.path(&file.name, file.first_tag.as_deref(), &file.platform);
                let at = paths.entry(file_name(&path).to_string()).or_default();
                for old in at.iter().filter(|p| **p != path) {
                    import.delete(old)?;
                    report.moved += 1;
                }
                *at = vec![path];
                import.write(&at[0], &file.bytes)?;
                report.files += 1;
            }
        }
        report.jobs.push(job.id);
    }
    import.finish()?;
    report.head = Some(repo.check_out()?);
    Ok(report)
}
