//! `netraven config show` (the effective settings) and `config grep` (the devices' latest
//! configurations searched in Postgres).

use super::connect::connect;
use crate::args::{ConfigCommand, GrepArgs};
use crate::{output, views};
use anyhow::Result;
use netraven_shared::config::Settings;

pub async fn run(settings: &Settings, cmd: ConfigCommand) -> Result<()> {
    match cmd {
        ConfigCommand::Show => Ok(output::data(&settings.show()?)?),
        ConfigCommand::Grep(args) => grep(settings, args).await,
    }
}

async fn grep(settings: &Settings, args: GrepArgs) -> Result<()> {
    let client = connect(settings).await?;
    let found = views::history::grep(&client, &args.pattern, &args.tags, args.ignore_case).await?;
    args.out.print(&found, |f, s| views::grep::render(f, s))
}
