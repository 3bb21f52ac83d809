//! `netraven`: parses the command line and hands it to `netraven_cli::commands`.

use clap::Parser;
use netraven_cli::args::Cli;
use netraven_cli::exit::Exit;
use netraven_cli::{commands, output};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Usage errors exit 2 here, from clap; nothing else uses 2.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            netraven_cli::note!("error: cannot start the async runtime: {e}");
            return Exit::Error.into();
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(exit) => exit.into(),
        // The reader of our stdout has gone (`| head`): it has what it wanted.
        Err(e) if output::is_broken_pipe(&e) => Exit::Success.into(),
        Err(e) => {
            netraven_cli::note!("error: {e:#}");
            Exit::for_error(&e).into()
        }
    }
}
