//! `netraven export git`: the configuration history into a git repository.

use super::OutputArgs;
use crate::export::Layout;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// Keep a git repository of the configurations: one file per device, one commit per job
    /// that changed something. Run it again to add only what is new. DIR is managed by
    /// netraven: its work tree is reset to the export after each run.
    Git(GitExportArgs),
}

#[derive(Args)]
pub struct GitExportArgs {
    /// The repository: created (on branch main) when absent or empty.
    pub dir: PathBuf,
    /// Where device files go (below). Default: the repository's own; flat for a new one.
    #[arg(long, value_enum)]
    pub layout: Option<Layout>,
    /// The commits' author and committer, "Name <email>".
    #[arg(
        long,
        env = "NETRAVEN_EXPORT_AUTHOR",
        default_value = crate::export::commit::DEFAULT_AUTHOR
    )]
    pub author: String,
    /// Only devices with this tag (repeat for several). A repository keeps the tags it was
    /// made with; default: those.
    #[arg(long = "tag", value_name = "T")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}
