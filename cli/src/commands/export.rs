//! `netraven export git`: runs the export and says what it committed.

use super::connect::connect;
use crate::args::{ExportCommand, GitExportArgs};
use crate::export::{self, Author, Options, Report};
use crate::views::Style;
use anyhow::Result;
use netraven_shared::config::Settings;
use netraven_shared::text::one_line;

pub async fn run(settings: &Settings, cmd: ExportCommand) -> Result<()> {
    let ExportCommand::Git(args) = cmd;
    git(settings, args).await
}

async fn git(settings: &Settings, args: GitExportArgs) -> Result<()> {
    let author = Author::parse(&args.author)?;
    let client = connect(settings).await?;
    let report = export::export(
        &client,
        Options {
            dir: args.dir,
            layout: args.layout,
            author,
            tags: args.tags,
        },
    )
    .await?;
    args.out.print(&report, render)
}

fn render(r: &Report, _style: Style) -> String {
    let dir = one_line(&r.dir.to_string_lossy()).into_owned();
    if r.jobs.is_empty() {
        return format!("{dir}: nothing new\n");
    }
    let commits = if r.jobs.len() == 1 {
        "commit"
    } else {
        "commits"
    };
    let mut text = format!(
        "{dir}: {} {commits}, {} device files written",
        r.jobs.len(),
        r.files
    );
    if r.moved > 0 {
        text.push_str(&format!(", {} moved", r.moved));
    }
    let head = r.head.as_deref().unwrap_or_default();
    text.push_str(&format!(
        " (layout {}); main is at {head}\n",
        r.layout.as_str()
    ));
    text
}
