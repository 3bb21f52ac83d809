//! What an export commit says: its author (`Name <email>`, checked), its message (the job,
//! the devices and their line counts, escaped) and the trailers a later export reads.

use super::layout::Layout;
use super::source::{Listed, PlannedJob};
use anyhow::{bail, Result};
use netraven_shared::text::one_line;
use std::fmt::Write as _;

/// The author (and committer) when neither `--author` nor `NETRAVEN_EXPORT_AUTHOR` is set.
pub const DEFAULT_AUTHOR: &str = "NetRaven <netraven@localhost>";
/// The trailer naming the job a commit exports: how a later export knows it is done.
pub const JOB_TRAILER: &str = "NetRaven-Job";
/// The trailer naming the layout: a repository keeps one.
pub const LAYOUT_TRAILER: &str = "NetRaven-Layout";
/// The trailer naming the tags an export was limited to, a JSON list (absent: every device).
pub const TAGS_TRAILER: &str = "NetRaven-Tags";
/// Devices named in a commit's body at most; the rest are counted.
pub const LISTED: i64 = 1000;

/// A checked `Name <email>`, as git writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author(String);

impl Author {
    pub fn parse(s: &str) -> Result<Author> {
        let s = s.trim();
        let bad = |why: &str| -> Result<Author> {
            bail!(
                "author {:?}: {why}; write it as \"Name <email>\"",
                one_line(s)
            )
        };
        let Some((name, rest)) = s.split_once(" <") else {
            return bad("no \" <email>\"");
        };
        let Some(email) = rest.strip_suffix('>') else {
            return bad("it does not end with '>'");
        };
        let name = name.trim();
        if name.is_empty() {
            return bad("the name is empty");
        }
        if [name, email]
            .iter()
            .any(|p| p.contains(['<', '>']) || p.chars().any(char::is_control))
        {
            return bad("'<', '>' and control characters are not allowed in the name or email");
        }
        Ok(Author(format!("{name} <{email}>")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The message of `job`'s commit: a subject naming the job, a body with the first
/// [`LISTED`] devices (escaped, one per line) and the trailers.
pub fn message(job: &PlannedJob, listed: &[Listed], layout: Layout, tags: &[String]) -> String {
    let n = job.devices;
    let noun = if n == 1 { "device" } else { "devices" };
    let mut m = format!(
        "{} {}: {n} {noun} changed\n\n",
        one_line(&job.job_type),
        job.id
    );
    let width = listed
        .iter()
        .map(|d| one_line(&d.name).chars().count())
        .max()
        .unwrap_or(0);
    for d in listed {
        let name = one_line(&d.name);
        let lines = match (d.lines_added, d.lines_removed) {
            (Some(a), Some(r)) => format!("+{a} -{r}"),
            _ => "new".to_string(),
        };
        let _ = writeln!(m, "  {name:<width$}  v{}  {lines}", d.version);
    }
    let more = n - listed.len() as i64;
    if more > 0 {
        let _ = writeln!(m, "  ... and {more} more");
    }
    let _ = write!(
        m,
        "\n{JOB_TRAILER}: {}\n{LAYOUT_TRAILER}: {}\n",
        job.id,
        layout.as_str()
    );
    if !tags.is_empty() {
        // JSON: a tag may hold a comma or a control character, and this must read back.
        let list = serde_json::to_string(tags).unwrap_or_default();
        let _ = writeln!(m, "{TAGS_TRAILER}: {list}");
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn authors_are_checked() {
        assert_eq!(
            Author::parse(" Net Ops <ops@example.net> ")
                .expect("a good author")
                .as_str(),
            "Net Ops <ops@example.net>"
        );
        for bad in [
            "ops",
            "<ops@x>",
            "a <b",
            "a <b>\n<c>",
            "a\x1b <b>",
            "a <b<c>",
        ] {
            assert!(Author::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_message_names_the_job_its_devices_and_trailers() {
        let job = PlannedJob {
            id: uuid::Uuid::nil(),
            job_type: "config_backup".into(),
            finished_at: Utc::now(),
            devices: 3,
        };
        let listed = vec![
            Listed {
                name: "sw\x1b[2J".into(),
                version: 4,
                lines_added: Some(2),
                lines_removed: Some(1),
            },
            Listed {
                name: "r1".into(),
                version: 1,
                lines_added: None,
                lines_removed: None,
            },
        ];
        let m = message(&job, &listed, Layout::Tag, &["core".into()]);
        assert!(m.starts_with(&format!("config_backup {}: 3 devices changed\n\n", job.id)));
        assert!(m.contains("  sw\\e[2J  v4  +2 -1\n"), "{m}");
        assert!(m.contains("  r1       v1  new\n"), "{m}");
        assert!(m.contains("  ... and 1 more\n"), "{m}");
        assert!(m.ends_with(&format!(
            "\n\nNetRaven-Job: {}\nNetRaven-Layout: tag\nNetRaven-Tags: [\"core\"]\n",
            job.id
        )));
        assert!(!m.contains('\x1b'));
    }
}
