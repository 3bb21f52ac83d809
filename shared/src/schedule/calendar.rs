//! When a schedule's ticks fall: a cron expression read in an IANA time zone, every answer
//! in UTC.
//!
//! Parsing and evaluation are croner's (POSIX/Vixie cron, with an optional seconds field
//! first), zones are chrono-tz's (the IANA database, built in). Daylight-saving changes
//! follow croner's rules, pinned by the tests below:
//!
//! - **Spring forward** (a wall-clock hour that does not exist): a fixed-time schedule
//!   whose time falls in the gap runs once, at the first minute after the gap (02:30
//!   Europe/Paris on the last Sunday of March runs at 03:00 CEST); an interval schedule
//!   (`*/15`, `*`) loses the ticks inside the gap.
//! - **Fall back** (a wall-clock hour that happens twice): a fixed-time schedule runs once,
//!   at the first of the two (02:30 CEST, not again at 02:30 CET); an interval schedule
//!   runs in both passes, as real time goes on.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

/// A parsed cron expression and its time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    cron: Cron,
    tz: Tz,
}

impl Calendar {
    /// Parses `cron` (5 fields, or 6 with seconds first; `@daily` and the like) and the
    /// IANA zone `time_zone` (`Europe/Paris`, `UTC`). The error says which is wrong.
    pub fn new(cron: &str, time_zone: &str) -> Result<Calendar, String> {
        let tz: Tz = time_zone.parse().map_err(|_| {
            format!("unknown time zone {time_zone:?}: use an IANA name such as Europe/Paris or UTC")
        })?;
        let parsed = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(cron)
            .map_err(|e| format!("cron expression {cron:?} is not valid: {e}"))?;
        Ok(Calendar { cron: parsed, tz })
    }

    /// The first tick strictly after `t`, or `None` when there is none (an expression
    /// whose dates are all past).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The last tick at or before `t`.
    pub fn at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.tz), true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The time zone, for showing a tick as its wall-clock time.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// A tick as the wall clock of the schedule's zone reads it.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::tests::utc;

    fn ticks(c: &Calendar, from: &str, n: usize) -> Vec<String> {
        let mut t = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = c.next_after(t).expect("a next tick");
            out.push(c.local(t));
        }
        out
    }

    #[test]
    fn nightly_in_paris_is_utc_plus_one_in_winter_and_two_in_summer() {
        let c = Calendar::new("0 2 * * *", "Europe/Paris").expect("test value");
        let winter = c
            .next_after(utc("2026-12-05T12:00:00Z"))
            .expect("test value");
        assert_eq!(winter, utc("2026-12-06T01:00:00Z"));
        let summer = c
            .next_after(utc("2026-07-01T12:00:00Z"))
            .expect("test value");
        assert_eq!(summer, utc("2026-07-02T00:00:00Z"));
    }

    #[test]
    fn spring_forward_runs_a_fixed_time_in_the_gap_once_just_after_it() {
        // 2026-03-29: Paris goes from 02:00 CET straight to 03:00 CEST.
        let c = Calendar::new("30 2 * * *", "Europe/Paris").expect("test value");
        assert_eq!(
            ticks(&c, "2026-03-27T12:00:00Z", 3),
            [
                "2026-03-28 02:30:00 CET",
                "2026-03-29 03:00:00 CEST",
                "2026-03-30 02:30:00 CEST"
            ]
        );
    }

    #[test]
    fn spring_forward_drops_the_interval_ticks_inside_the_gap() {
        let c = Calendar::new("*/30 * * * *", "Europe/Paris").expect("test value");
        assert_eq!(
            ticks(&c, "2026-03-29T00:15:00Z", 3),
            [
                "2026-03-29 01:30:00 CET",
                "2026-03-29 03:00:00 CEST",
                "2026-03-29 03:30:00 CEST"
            ]
        );
    }

    #[test]
    fn fall_back_runs_a_fixed_time_once_at_its_first_pass() {
        // 2026-10-25: Paris goes from 03:00 CEST back to 02:00 CET.
        let c = Calendar::new("30 2 * * *", "Europe/Paris").expect("test value");
        assert_eq!(
            ticks(&c, "2026-10-24T12:00:00Z", 2),
            ["2026-10-25 02:30:00 CEST", "2026-10-26 02:30:00 CET"]
        );
    }

    #[test]
    fn fall_back_runs_an_interval_in_both_passes() {
        let c = Calendar::new("0 * * * *", "Europe/Paris").expect("test value");
        assert_eq!(
            ticks(&c, "2026-10-24T23:30:00Z", 3),
            [
                "2026-10-25 02:00:00 CEST",
                "2026-10-25 02:00:00 CET",
                "2026-10-25 03:00:00 CET"
            ]
        );
    }

    #[test]
    fn seconds_are_an_optional_sixth_field() {
        let c = Calendar::new("*/5 * * * * *", "UTC").expect("test value");
        let t = utc("2026-12-05T01:00:02Z");
        assert_eq!(
            c.next_after(t).expect("test value"),
            t + chrono::Duration::seconds(3)
        );
        assert_eq!(
            c.at_or_before(t).expect("test value"),
            t - chrono::Duration::seconds(2)
        );
    }

    #[test]
    fn bad_input_says_which_part_is_wrong() {
        let e = Calendar::new("0 2 * *", "UTC").expect_err("an error");
        assert!(e.contains("cron expression"), "{e}");
        let e = Calendar::new("0 2 * * *", "Europe/Pariss").expect_err("an error");
        assert!(e.contains("unknown time zone"), "{e}");
    }
}
