//! Where output goes: data to stdout through fallible writes, colour only when asked for or
//! on a terminal, and a closed pipe recognised as a quiet end.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

/// `--color`: whether text output (tables, progress, logs) carries ANSI colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always, even into a pipe or a file (an explicit flag wins over `NO_COLOR`).
    Always,
    /// Never.
    Never,
}

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

/// Records the `--color` choice once, at start-up; later calls are ignored.
pub fn set_color(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

/// Whether output to a stream that `is_terminal` (or not) gets colour.
pub fn color_for(is_terminal: bool) -> bool {
    match CHOICE.get().copied().unwrap_or_default() {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && !no_color(),
    }
}

/// Colour on stdout (tables and data).
pub fn stdout_color() -> bool {
    color_for(io::stdout().is_terminal())
}

/// Colour on stderr (progress and logs).
pub fn stderr_color() -> bool {
    color_for(io::stderr().is_terminal())
}

/// Colour in log lines: as on stderr, but never into a regular file (a role's log file),
/// not even with `--color always`, which is meant for pagers like `less -R`.
pub fn log_color() -> bool {
    stderr_color() && !stderr_is_file()
}

/// Whether stderr is redirected to a regular file (Linux: what `/proc/self/fd/2` points to).
fn stderr_is_file() -> bool {
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.is_file())
}

/// `NO_COLOR` set to anything but the empty string (no-color.org).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Writes `text` to stdout and flushes. Unlike `print!`, a closed pipe is an error the
/// caller returns, which main turns into a quiet exit 0 (see [`is_broken_pipe`]).
pub fn data(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// One formatted line to stdout; what [`say!`](crate::say) expands to.
pub fn line(args: fmt::Arguments<'_>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// `println!` that returns the write's error instead of panicking on a closed pipe.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// One line of progress or status to stderr. Best effort: a closed stderr (its reader
/// gone) drops the line rather than panicking as `eprintln!` does, so the command goes on
/// with its work and its data.
pub fn progress(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `eprintln!` that never panics: see [`progress`].
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::progress(format_args!($($arg)*))
    };
}

/// Whether `e` came from writing into a pipe whose reader has gone (`| head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_recognised_through_context() {
        let e = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("cannot print the table");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("no job")));
    }
}
