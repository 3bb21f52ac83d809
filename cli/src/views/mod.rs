//! What operators read: tables for people (coloured on a terminal) and `--json` for scripts.
//!
//! | module | owns |
//! |---|---|
//! | [`jobs`] | the job queries of `job show`, `job list`, `job results`, `job logs`, and their tables |
//! | [`job_show`] | `netraven job show`'s text: the summary, and devices only when asked, capped |
//! | [`watch`] | `netraven job watch`: live progress, the final table, the exit code |
//! | [`credentials`] | `netraven credential list`: recent and lifetime success rates |
//! | [`devices`] | `netraven device show` |
//! | [`device_credentials`] | `netraven device credentials`: the order a job tries, and why the others are left out |
//! | [`history`] | the SQL of the configuration history, `config grep` and `job outputs` |
//! | [`configs`] | `netraven device configs` and `device config` |
//! | [`diff`] | `netraven device diff` |
//! | [`grep`] | `netraven config grep` |
//! | [`outputs`] | `netraven job outputs` |
//! | [`host_keys`] | `netraven device host-key pin`, `forget`, `list` |
//! | [`prune`] | `netraven prune` |
//! | [`schedules`] | `netraven schedule list` and `schedule show` |
//!
//! Each view fetches into a serialisable struct (its fields are the stable `--json` names)
//! and renders that struct as text separately, so scripts and people see the same data.

pub mod configs;
pub mod credentials;
pub mod device_credentials;
pub mod device_list;
pub mod devices;
pub mod diff;
pub mod grep;
pub mod history;
pub mod host_keys;
pub mod job_show;
pub mod jobs;
pub mod outputs;
pub mod prune;
pub mod rerun;
pub mod schedules;
pub mod watch;

use chrono::{DateTime, Utc};
use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};
use netraven_shared::domain::{JobStatus, Outcome};
use serde::Serialize;
use std::io::IsTerminal;

/// How text output looks: coloured or not, and how wide tables may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    /// The terminal's width, when stdout is a terminal that reports a usable one; tables
    /// then wrap their widest columns to fit.
    pub width: Option<u16>,
}

/// Narrower than this, a reported terminal width is not believed (a pseudo-terminal
/// without a size reports 0); tables are then laid out at their natural width.
const MIN_WIDTH: u16 = 40;

impl Style {
    /// For stdout: colour as `--color` says (by default on a terminal, unless `NO_COLOR`),
    /// and the terminal's width when stdout is one.
    pub fn detect() -> Style {
        let terminal = std::io::stdout().is_terminal();
        Style {
            color: crate::output::color_for(terminal),
            // A table not forced off the terminal reports the terminal's width.
            width: if terminal {
                Table::new().width().filter(|w| *w >= MIN_WIDTH)
            } else {
                None
            },
        }
    }

    /// For progress lines on stderr: colour as `--color` says for stderr; no table width.
    pub fn for_stderr() -> Style {
        Style {
            color: crate::output::stderr_color(),
            width: None,
        }
    }

    /// No colour at all.
    pub fn plain() -> Style {
        Style {
            color: false,
            width: None,
        }
    }

    /// An empty table with a header row, laid out for the terminal when there is one.
    pub fn table<I, T>(&self, header: I) -> Table
    where
        I: IntoIterator<Item = T>,
        T: Into<Cell>,
    {
        let mut table = Table::new();
        table.load_style(presets::UTF8_FULL_CONDENSED.with_rounded_corners());
        table.force_no_tty();
        if self.color {
            table.enforce_styling();
        }
        if let Some(width) = self.width {
            table.set_width(width);
            table.set_content_arrangement(ContentArrangement::Dynamic);
        }
        table.set_header(header);
        table
    }

    /// `text` in `color`, when colouring.
    pub fn paint(&self, text: &str, color: Option<Color>) -> String {
        match (self.color, color.and_then(ansi)) {
            (true, Some(code)) => format!("\x1b[{code}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }

    /// A job status, coloured as operators expect.
    pub fn status(&self, s: JobStatus) -> String {
        self.paint(s.as_str(), status_color(s))
    }

    /// An outcome, coloured as operators expect.
    pub fn outcome(&self, o: Outcome) -> String {
        self.paint(o.as_str(), Some(outcome_color(o)))
    }
}

fn ansi(c: Color) -> Option<&'static str> {
    Some(match c {
        Color::Green => "32",
        Color::Yellow => "33",
        Color::Red => "31",
        Color::Cyan => "36",
        Color::DarkGrey => "90",
        _ => return None,
    })
}

/// Success green; partial failure, no credentials, no devices and cancelled yellow; failures red;
/// open jobs cyan.
pub fn status_color(s: JobStatus) -> Option<Color> {
    Some(match s {
        JobStatus::CompletedSuccess => Color::Green,
        JobStatus::CompletedPartialFailure
        | JobStatus::CompletedNoCredentials
        | JobStatus::CompletedNoDevices
        | JobStatus::Cancelled => Color::Yellow,
        JobStatus::Pending | JobStatus::Running => Color::Cyan,
        JobStatus::CompletedFailure
        | JobStatus::FailedInvalidRequest
        | JobStatus::FailedCredentialResolution
        | JobStatus::FailedDispatcherError
        | JobStatus::FailedUnexpected
        | JobStatus::FailedNotPermitted => Color::Red,
    })
}

/// `SUCCESS` green, `NO_CREDENTIALS` and `CANCELLED` yellow, every failure red.
pub fn outcome_color(o: Outcome) -> Color {
    match o {
        Outcome::Success => Color::Green,
        Outcome::NoCredentials | Outcome::Cancelled => Color::Yellow,
        _ => Color::Red,
    }
}

/// A status cell (colour applies only when the table styles).
pub fn status_cell(s: JobStatus) -> Cell {
    let cell = Cell::new(s.as_str());
    match status_color(s) {
        Some(c) => cell.fg(c),
        None => cell,
    }
}

/// Text from outside the CLI (a device's words, a message, a row someone filled), as one
/// line with every control character escaped: nothing a device sent can move the cursor,
/// retitle the terminal or hide a line (`ESC` shown as `\e`, NUL as `\0`; see
/// [`netraven_shared::text::escape_controls`]). Every view shows such text through this or
/// [`text`]; `--json` carries it as it is, escaped by JSON.
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    netraven_shared::text::one_line(s)
}

/// A table cell of text from outside: [`shown`].
pub fn text(s: &str) -> Cell {
    Cell::new(shown(s))
}

/// An outcome cell.
pub fn outcome_cell(o: Outcome) -> Cell {
    Cell::new(o.as_str()).fg(outcome_color(o))
}

/// A right-aligned number cell.
pub fn number<T: std::fmt::Display>(n: T) -> Cell {
    Cell::new(n).set_alignment(CellAlignment::Right)
}

/// `3 min ago`, or `-` for never.
pub fn ago(at: Option<DateTime<Utc>>) -> String {
    let Some(at) = at else { return "-".into() };
    let secs = (Utc::now() - at).num_seconds();
    match secs {
        i64::MIN..=4 => "just now".into(),
        5..=59 => format!("{secs} s ago"),
        60..=3_599 => format!("{} min ago", secs / 60),
        3_600..=86_399 => format!("{} h ago", secs / 3_600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// `2026-11-22 04:30:51 UTC (3 min ago)`, or `-`.
pub fn when(at: Option<DateTime<Utc>>) -> String {
    match at {
        Some(t) => format!("{} ({})", t.format("%Y-%m-%d %H:%M:%S UTC"), ago(at)),
        None => "-".into(),
    }
}

/// `850 ms`, `12.3 s`, `4 min 05 s`.
pub fn duration_ms(ms: i64) -> String {
    match ms {
        i64::MIN..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// The first 12 hex digits of a hash, or `-`.
pub fn short_hash(h: Option<&str>) -> String {
    h.map(|h| h.chars().take(12).collect())
        .unwrap_or_else(|| "-".into())
}

/// Pretty JSON with a final newline, for `--json`.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_coloured_as_operators_expect() {
        let c = Style {
            color: true,
            width: None,
        };
        assert_eq!(
            c.status(JobStatus::CompletedSuccess),
            "\x1b[32mCOMPLETED_SUCCESS\x1b[0m"
        );
        for yellow in [
            JobStatus::CompletedPartialFailure,
            JobStatus::CompletedNoCredentials,
        ] {
            assert!(c.status(yellow).starts_with("\x1b[33m"), "{yellow}");
        }
        for red in [
            JobStatus::CompletedFailure,
            JobStatus::FailedDispatcherError,
        ] {
            assert!(c.status(red).starts_with("\x1b[31m"), "{red}");
        }
        assert!(c.outcome(Outcome::NoCredentials).starts_with("\x1b[33m"));
        assert!(c.outcome(Outcome::Timeout).starts_with("\x1b[31m"));
        assert_eq!(
            Style::plain().status(JobStatus::CompletedFailure),
            "COMPLETED_FAILURE"
        );
    }

    #[test]
    fn durations_and_ages_read_naturally() {
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_345), "12.3 s");
        assert_eq!(duration_ms(245_000), "4 min 05 s");
        assert_eq!(ago(None), "-");
        assert_eq!(
            ago(Some(Utc::now() - chrono::Duration::minutes(3))),
            "3 min ago"
        );
        assert_eq!(ago(Some(Utc::now() - chrono::Duration::days(2))), "2 d ago");
        assert_eq!(short_hash(Some("0123456789abcdef")), "0123456789ab");
    }

    #[test]
    fn device_text_reaches_tables_escaped_even_in_colour() {
        use netraven_dispatcher::job_rows::DeviceResult;
        let hostile = "\u{1b}]0;owned\u{7}\u{1b}[2J\0\r\u{9b}1m\u{202e}x";
        let row = DeviceResult {
            device_id: 1,
            device_name: format!("r1{hostile}"),
            outcome: Outcome::CommandFailed,
            reason: hostile.to_string(),
            credential: Some(hostile.to_string()),
            attempts: 1,
            duration_ms: 5,
            config_sha256: None,
            config_change: None,
            config_version: None,
            tries: 2,
            try_outcomes: vec!["TIMEOUT".into(), "COMMAND_FAILED".into()],
        };
        for style in [
            Style::plain(),
            Style {
                color: true,
                width: None,
            },
        ] {
            let table = jobs::render_results(std::slice::from_ref(&row), style);
            // Colour codes are ours (`ESC [ digits ; m`); any other ESC would be the device's.
            let ours = |rest: &str| {
                rest.strip_prefix('[')
                    .and_then(|r| r.split_once('m'))
                    .is_some_and(|(p, _)| p.chars().all(|c| c.is_ascii_digit() || c == ';'))
            };
            assert!(
                table
                    .match_indices('\u{1b}')
                    .all(|(i, _)| ours(&table[i + 1..])),
                "{table:?}"
            );
            assert!(
                !table.contains(['\0', '\r', '\u{7}', '\u{9b}', '\u{202e}']),
                "{table:?}"
            );
            assert!(table.contains("\\e]0;owned\\x07\\e[2J\\0\\r"), "{table}");
        }
    }
}
