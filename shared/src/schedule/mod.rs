//! Schedules: a job request on a calendar. The definition an operator writes (a YAML file
//! or `netraven schedule add`), its checks, when its ticks fall ([`calendar`]) and what a
//! dispatcher does with them ([`plan`]). The dispatchers run schedules (no process of
//! their own); the tables are in `migrations/V11__schedules.sql`.

pub mod calendar;
pub mod plan;

pub use calendar::Calendar;

use crate::domain::JobType;
use crate::messages::{JobRequest, Limits, Targets, VERSION};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// How late a tick may still run when the schedule does not say (`catch_up`).
pub const DEFAULT_CATCH_UP: Duration = Duration::from_secs(3600);

/// Longest schedule name; with the prefix and the tick, a request id stays far under its
/// limit.
pub const MAX_NAME_LEN: usize = 100;

/// What a tick does while the schedule's previous job is still going.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// Record the tick `SKIPPED` and start nothing (a backup still running is not
    /// stacked on).
    #[default]
    Skip,
    /// Start the job anyway.
    Allow,
}

impl Overlap {
    pub const fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Allow => "allow",
        }
    }

    pub fn parse(s: &str) -> Result<Overlap, String> {
        match s {
            "skip" => Ok(Overlap::Skip),
            "allow" => Ok(Overlap::Allow),
            other => Err(format!("overlap {other:?}: expected skip or allow")),
        }
    }
}

/// A schedule as an operator declares it: what a job request holds, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Unique; letters, digits, `.`, `_`, `-`; at most [`MAX_NAME_LEN`] characters.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// 5 fields (minute first), or 6 with seconds first; `@daily` and the like.
    pub cron: String,
    /// An IANA zone; the cron expression is read on its wall clock.
    #[serde(default = "utc_zone")]
    pub time_zone: String,
    pub job_type: JobType,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub targets: Targets,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    #[serde(default, skip_serializing_if = "limits_empty")]
    #[schema(value_type = Object)]
    pub limits: Limits,
    #[serde(default)]
    pub overlap: Overlap,
    /// How late a tick may still run (`30m`, `6h`); default one hour.
    #[serde(
        default,
        with = "humantime_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub catch_up: Option<Duration>,
    /// Absent: `apply` leaves the schedule's paused state as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// A file of schedules, as `netraven schedule apply` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    pub schedules: Vec<ScheduleSpec>,
}

fn utc_zone() -> String {
    "UTC".to_string()
}

fn limits_empty(l: &Limits) -> bool {
    *l == Limits::default()
}

impl ScheduleSpec {
    /// Every check a schedule must pass before it is stored: its name, its calendar, and
    /// the job request each tick sends, decoded as the dispatcher will decode it. Returns
    /// the calendar.
    pub fn check(&self) -> Result<Calendar, String> {
        check_name(&self.name)?;
        let calendar = Calendar::new(&self.cron, &self.time_zone)
            .map_err(|e| format!("schedule {}: {e}", self.name))?;
        let t = &self.targets;
        if t.devices.is_empty() && t.device_ids.is_empty() && t.tags.is_empty() {
            return Err(format!(
                "schedule {}: targets name no device, device id or tag",
                self.name
            ));
        }
        match (self.job_type, self.commands.is_empty()) {
            (JobType::Command, true) => {
                return Err(format!(
                    "schedule {}: a command job needs commands",
                    self.name
                ))
            }
            (JobType::ConfigBackup | JobType::Reachability, false) => {
                return Err(format!(
                    "schedule {}: only a command job takes commands",
                    self.name
                ))
            }
            _ => {}
        }
        let tick = calendar.next_after(Utc::now()).unwrap_or_else(Utc::now);
        let body = serde_json::to_vec(&self.request(tick))
            .map_err(|e| format!("schedule {}: {e}", self.name))?;
        JobRequest::decode(&body).map_err(|e| format!("schedule {}: {e}", self.name))?;
        Ok(calendar)
    }

    /// The catch-up window, the default when unset.
    pub fn catch_up(&self) -> Duration {
        self.catch_up.unwrap_or(DEFAULT_CATCH_UP)
    }

    /// The job request `tick` sends.
    pub fn request(&self, tick: DateTime<Utc>) -> JobRequest {
        JobRequest {
            version: VERSION,
            request_id: request_id(&self.name, tick),
            job_type: self.job_type.as_str().to_string(),
            targets: self.targets.clone(),
            commands: self.commands.clone(),
            limits: self.limits.clone(),
            submitted_by: None,
            priority: None,
        }
    }
}

impl ScheduleFile {
    /// Parses a YAML file of schedules and checks every one; every problem is reported,
    /// each with its schedule's name, and a name given twice is one of them.
    pub fn parse(yaml: &str) -> Result<ScheduleFile, String> {
        let file: ScheduleFile =
            serde_yaml_ng::from_str(yaml).map_err(|e| format!("not a schedules file: {e}"))?;
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for s in &file.schedules {
            if !seen.insert(s.name.as_str()) {
                problems.push(format!("schedule {} is declared twice", s.name));
            }
            if let Err(e) = s.check() {
                problems.push(e);
            }
        }
        if problems.is_empty() {
            Ok(file)
        } else {
            Err(problems.join("\n"))
        }
    }
}

impl ScheduleSpec {
    /// The definition a `schedules` row holds (a query selecting its `name`,
    /// `description`, `cron`, `time_zone`, `job_type`, `targets`, `commands`, `limits`,
    /// `overlap` and `catch_up_ms`), read as stored: `catch_up` is always set, `paused`
    /// never (the row's state is the caller's). Not checked: see [`ScheduleSpec::check`].
    pub fn from_row(row: &tokio_postgres::Row) -> Result<ScheduleSpec, String> {
        let json = |col: &str| row.get::<_, serde_json::Value>(col);
        let unreadable = |what: &str, e: &dyn std::fmt::Display| {
            format!("its stored {what} cannot be read: {e}")
        };
        Ok(ScheduleSpec {
            name: row.get("name"),
            description: row.get("description"),
            cron: row.get("cron"),
            time_zone: row.get("time_zone"),
            job_type: row
                .get::<_, &str>("job_type")
                .parse()
                .map_err(|e: String| unreadable("job type", &e))?,
            targets: serde_json::from_value(json("targets"))
                .map_err(|e| unreadable("targets", &e))?,
            commands: serde_json::from_value(json("commands"))
                .map_err(|e| unreadable("commands", &e))?,
            limits: serde_json::from_value(json("limits")).map_err(|e| unreadable("limits", &e))?,
            overlap: Overlap::parse(row.get("overlap"))?,
            catch_up: Some(Duration::from_millis(
                u64::try_from(row.get::<_, i64>("catch_up_ms")).unwrap_or(0),
            )),
            paused: None,
        })
    }
}

/// The request id of a schedule's tick: the same on every dispatcher, so that the intake
/// makes one job of a tick sent twice.
pub fn request_id(name: &str, tick: DateTime<Utc>) -> String {
    format!(
        "schedule:{name}:{}",
        tick.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// A schedule's name: letters, digits, `.`, `_` and `-`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "schedule name {name:?}: use 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-', \
             starting with a letter or digit"
        ))
    }
}

/// `catch_up: 6h` in YAML and JSON, as humantime writes durations.
mod humantime_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("catch_up {s:?}: {e} (e.g. 30m, 6h)")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A time written in RFC 3339, as the tests write them.
    pub(crate) fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    const FILE: &str = r#"
schedules:
  - name: core-nightly
    description: every core router, nightly
    cron: "0 2 * * *"
    time_zone: Europe/Paris
    job_type: config_backup
    targets: { tags: [core] }
    catch_up: 6h
  - name: edge-uptime
    cron: "*/15 * * * *"
    job_type: command
    targets: { devices: [edge-1] }
    commands: ["show version"]
    overlap: allow
"#;

    #[test]
    fn a_file_reads_with_defaults() {
        let f = ScheduleFile::parse(FILE).expect("test value");
        assert_eq!(f.schedules.len(), 2);
        let core = &f.schedules[0];
        assert_eq!(core.catch_up(), Duration::from_secs(6 * 3600));
        assert_eq!(core.overlap, Overlap::Skip);
        assert_eq!(core.paused, None);
        let edge = &f.schedules[1];
        assert_eq!(edge.time_zone, "UTC");
        assert_eq!(edge.catch_up(), DEFAULT_CATCH_UP);
        assert_eq!(edge.overlap, Overlap::Allow);
    }

    #[test]
    fn every_problem_is_reported_with_its_schedule() {
        let bad = r#"
schedules:
  - { name: a, cron: "0 2 * *", job_type: config_backup, targets: { tags: [x] } }
  - { name: a, cron: "0 2 * * *", time_zone: Mars/Olympus, job_type: config_backup, targets: { tags: [x] } }
  - { name: b, cron: "0 2 * * *", job_type: command, targets: { tags: [x] } }
  - { name: c, cron: "0 2 * * *", job_type: config_backup }
  - { name: "no spaces", cron: "0 2 * * *", job_type: config_backup, targets: { tags: [x] } }
"#;
        let e = ScheduleFile::parse(bad).expect_err("an error");
        for want in [
            "schedule a: cron expression",
            "schedule a is declared twice",
            "unknown time zone \"Mars/Olympus\"",
            "schedule b: a command job needs commands",
            "schedule c: targets name no",
            "schedule name \"no spaces\"",
        ] {
            assert!(e.contains(want), "{want:?} not in:\n{e}");
        }
        let unknown = ScheduleFile::parse("schedules:\n  - { name: a, cron: '* * * * *', job_type: config_backup, targets: { tags: [x] }, every: 5 }\n");
        assert!(unknown
            .expect_err("an error")
            .contains("unknown field `every`"));
    }

    #[test]
    fn a_tick_has_one_request_id() {
        let f = ScheduleFile::parse(FILE).expect("test value");
        let t = utc("2026-12-06T01:00:00Z");
        let r = f.schedules[0].request(t);
        assert_eq!(r.request_id, "schedule:core-nightly:2026-12-06T01:00:00Z");
        assert_eq!(r.job_type, "config_backup");
        assert_eq!(r.targets.tags, ["core"]);
    }
}
