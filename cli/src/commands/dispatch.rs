//! `run`: loads the configuration, starts logging and hands each command to its module.

use super::{api, config, docs, export, fleet, job, keys, ops, schedule};
use crate::args::{Cli, Command};
use crate::exit::Exit;
use crate::{bench, demo, output};
use anyhow::Result;
use netraven_shared::config::Settings;
use netraven_shared::{shutdown, telemetry};

/// Runs the parsed command line and says how the process should exit.
pub async fn run(cli: Cli) -> Result<Exit> {
    output::set_color(cli.color);
    // Completions and the man page describe the command line: no configuration needed, so
    // they work before one exists (packaging, a fresh shell).
    match cli.command {
        Command::Completions { shell } => return docs::completions(shell).map(|()| Exit::Success),
        Command::Man { out } => return docs::man(out.as_deref()).map(|()| Exit::Success),
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref())?;
    let mut log = settings.log.clone();
    if matches!(
        cli.command,
        Command::Demo(_)
            | Command::Bench(_)
            | Command::BenchFleet(_)
            | Command::Job(_)
            | Command::Schedule(_)
            | Command::Credential(_)
            | Command::Device(_)
            | Command::Export(_)
            | Command::Prune(_)
            | Command::Config(_)
            | Command::Migrate
            | Command::Services(_)
            | Command::Token(_)
    ) {
        // Interactive commands print their own progress; only problems are logged.
        log.level = "warn".into();
    }
    // A role's stderr is often a log file: colour codes only on a terminal (or when asked),
    // and never into a file.
    telemetry::init_logging_with_ansi(&log, output::log_color());
    match cli.command {
        Command::Dispatcher => {
            netraven_dispatcher::run_dispatcher(settings, shutdown::on_signal()).await?
        }
        Command::Aggregator => {
            netraven_dispatcher::run_aggregator(settings, shutdown::on_signal()).await?
        }
        Command::Worker => netraven_worker::run(settings, shutdown::on_signal()).await?,
        Command::Api(args) => api::api(settings, args.command).await?,
        Command::Token(cmd) => api::token(&settings, cmd).await?,
        Command::Migrate => ops::migrate(&settings).await?,
        Command::Config(cmd) => config::run(&settings, cmd).await?,
        Command::Signing(cmd) => keys::signing(&settings, cmd)?,
        Command::Secrets(cmd) => keys::secrets(&settings, cmd).await?,
        Command::Inventory(cmd) => fleet::inventory(&settings, cmd).await?,
        Command::Job(cmd) => return job::run(&settings, cmd).await,
        Command::Schedule(cmd) => schedule::run(&settings, cmd).await?,
        Command::Credential(cmd) => fleet::credential(&settings, cmd).await?,
        Command::Device(cmd) => fleet::device(&settings, cmd).await?,
        Command::Export(cmd) => export::run(&settings, cmd).await?,
        Command::Prune(args) => fleet::prune(&settings, args).await?,
        Command::Sim(args) => ops::sim(args).await?,
        Command::Services(cmd) => ops::services(&settings, cmd)?,
        Command::Demo(args) => demo::run(settings, args).await?,
        Command::Bench(args) => drop(bench::run(settings, args).await?),
        Command::BenchFleet(args) => bench::fleet::serve_child(args).await?,
        Command::Broker(cmd) => ops::broker(&settings, cmd).await?,
        Command::Dead(cmd) => ops::dead(&settings, cmd).await?,
        Command::Completions { .. } | Command::Man { .. } => {}
    }
    Ok(Exit::Success)
}
