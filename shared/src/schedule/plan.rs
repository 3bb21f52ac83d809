//! What a dispatcher does with a schedule at a given time: nothing yet, fire its latest
//! due tick, or record that tick missed. Pure: the clock is an argument, so tests can
//! stand anywhere in the calendar (a daylight-saving change, a long downtime).
//!
//! - A tick `t` is due at `t + offset`, the schedule's spread offset: a hash of its name
//!   modulo the spread window (capped at half the time to the next tick), the same on
//!   every dispatcher. Schedules due at the same minute start over the window, each at
//!   the same offset every time.
//! - Of the ticks that came due while nothing ran them, only the latest counts: it fires
//!   when its due time is within the catch-up window, and is recorded missed otherwise.
//!   The older ones are counted (`missed`), never run: a dispatcher back from a night
//!   away runs one backup, not a burst of them.

use super::calendar::Calendar;
use chrono::{DateTime, Duration, Utc};

/// Older ticks counted one by one at most; past this, a downtime's count stops here.
pub const MISSED_COUNT_CAP: u32 = 10_000;

/// What to do with one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Send its job request.
    Fire,
    /// Due longer ago than the catch-up window: record it, run nothing.
    Miss,
}

/// The latest due tick and what to do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub tick: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub take: Take,
    /// Older ticks of the same downtime passed over (up to [`MISSED_COUNT_CAP`]).
    pub missed: u32,
}

/// One look at a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The tick to take now, if any is due.
    pub due: Option<Due>,
    /// The schedule's next tick after this step (`None`: the calendar has no more).
    pub next_tick: Option<DateTime<Utc>>,
}

/// How a schedule's ticks are spread and caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The window schedules due at the same moment are spread over.
    pub spread: Duration,
    /// How late a tick may still fire.
    pub catch_up: Duration,
}

/// The schedule's offset for `tick`, whose next tick is `following`.
pub fn offset(
    name: &str,
    tick: DateTime<Utc>,
    following: Option<DateTime<Utc>>,
    spread: Duration,
) -> Duration {
    let mut window = spread.num_milliseconds();
    if let Some(f) = following {
        window = window.min((f - tick).num_milliseconds() / 2);
    }
    if window <= 0 {
        return Duration::zero();
    }
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Duration::milliseconds((hash % window as u64) as i64)
}

/// When `tick` is due.
pub fn due_at(cal: &Calendar, name: &str, tick: DateTime<Utc>, spread: Duration) -> DateTime<Utc> {
    tick + offset(name, tick, cal.next_after(tick), spread)
}

/// What to do at `now` with the schedule `name` whose next tick is `next_tick`.
pub fn step(
    cal: &Calendar,
    name: &str,
    next_tick: DateTime<Utc>,
    now: DateTime<Utc>,
    timing: Timing,
) -> Step {
    let mut tick = next_tick;
    let mut following = cal.next_after(tick);
    if tick + offset(name, tick, following, timing.spread) > now {
        return Step {
            due: None,
            next_tick: Some(tick),
        };
    }
    let mut missed: u32 = 0;
    // Ticks older than any that could still fire are counted, and past the cap jumped.
    let horizon = now - timing.catch_up - timing.spread;
    while let Some(f) = following.filter(|f| *f < horizon) {
        if missed >= MISSED_COUNT_CAP {
            tick = cal.at_or_before(horizon).filter(|t| *t > tick).unwrap_or(f);
            following = cal.next_after(tick);
            break;
        }
        missed += 1;
        tick = f;
        following = cal.next_after(tick);
    }
    // Then the newer ones, up to the latest due.
    while let Some(f) = following {
        let f_next = cal.next_after(f);
        if f + offset(name, f, f_next, timing.spread) > now {
            break;
        }
        missed = missed.saturating_add(1).min(MISSED_COUNT_CAP);
        tick = f;
        following = f_next;
    }
    let due_at = tick + offset(name, tick, following, timing.spread);
    let take = if now - due_at <= timing.catch_up {
        Take::Fire
    } else {
        Take::Miss
    };
    Step {
        due: Some(Due {
            tick,
            due_at,
            take,
            missed,
        }),
        next_tick: following,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::tests::utc;

    const NO_SPREAD: Timing = Timing {
        spread: Duration::zero(),
        catch_up: Duration::hours(1),
    };

    #[test]
    fn nothing_before_the_tick_and_the_tick_at_it() {
        let c = Calendar::new("0 2 * * *", "UTC").expect("test value");
        let t = utc("2026-12-06T02:00:00Z");
        let s = step(&c, "n", t, utc("2026-12-06T01:59:59Z"), NO_SPREAD);
        assert_eq!(s.due, None);
        assert_eq!(s.next_tick, Some(t));
        let s = step(&c, "n", t, t, NO_SPREAD);
        let due = s.due.expect("test value");
        assert_eq!((due.tick, due.take, due.missed), (t, Take::Fire, 0));
        assert_eq!(s.next_tick, Some(utc("2026-12-07T02:00:00Z")));
    }

    #[test]
    fn a_long_downtime_fires_the_latest_tick_once_and_counts_the_rest() {
        let c = Calendar::new("*/5 * * * * *", "UTC").expect("test value");
        // Down from 00:00:00 to 00:10:02: 121 ticks came due, the latest at 00:10:00.
        let s = step(
            &c,
            "n",
            utc("2026-12-06T00:00:00Z"),
            utc("2026-12-06T00:10:02Z"),
            NO_SPREAD,
        );
        let due = s.due.expect("test value");
        assert_eq!(due.tick, utc("2026-12-06T00:10:00Z"));
        assert_eq!(due.take, Take::Fire);
        assert_eq!(due.missed, 120);
        assert_eq!(s.next_tick, Some(utc("2026-12-06T00:10:05Z")));
    }

    #[test]
    fn a_tick_later_than_the_catch_up_window_is_missed() {
        let c = Calendar::new("0 2 * * *", "UTC").expect("test value");
        let s = step(
            &c,
            "n",
            utc("2026-12-06T02:00:00Z"),
            utc("2026-12-06T03:00:01Z"),
            NO_SPREAD,
        );
        assert_eq!(s.due.expect("test value").take, Take::Miss);
        assert_eq!(s.next_tick, Some(utc("2026-12-07T02:00:00Z")));
    }

    #[test]
    fn a_year_away_is_counted_up_to_the_cap_and_jumped() {
        let c = Calendar::new("* * * * *", "UTC").expect("test value");
        let s = step(
            &c,
            "n",
            utc("2025-12-06T00:00:00Z"),
            utc("2026-12-06T00:00:30Z"),
            NO_SPREAD,
        );
        let due = s.due.expect("test value");
        assert_eq!(due.tick, utc("2026-12-06T00:00:00Z"));
        assert_eq!(due.take, Take::Fire);
        assert_eq!(due.missed, MISSED_COUNT_CAP);
    }

    #[test]
    fn offsets_are_stable_within_the_window_and_spread_names_apart() {
        let c = Calendar::new("0 2 * * *", "UTC").expect("test value");
        let t = utc("2026-12-06T02:00:00Z");
        let spread = Duration::minutes(10);
        let offsets: Vec<Duration> = (0..50)
            .map(|i| offset(&format!("site-{i}"), t, c.next_after(t), spread))
            .collect();
        assert!(offsets
            .iter()
            .all(|o| *o >= Duration::zero() && *o < spread));
        let distinct: std::collections::BTreeSet<i64> =
            offsets.iter().map(|o| o.num_seconds()).collect();
        assert!(
            distinct.len() > 40,
            "50 names, {} distinct offsets",
            distinct.len()
        );
        assert_eq!(offset("site-1", t, c.next_after(t), spread), offsets[1]);
        // A tick every 5 s never waits more than half of it.
        let fast = Calendar::new("*/5 * * * * *", "UTC").expect("test value");
        let o = offset("site-1", t, fast.next_after(t), spread);
        assert!(o < Duration::milliseconds(2500), "{o}");
    }

    #[test]
    fn a_tick_waits_for_its_offset() {
        let c = Calendar::new("0 2 * * *", "UTC").expect("test value");
        let t = utc("2026-12-06T02:00:00Z");
        let timing = Timing {
            spread: Duration::minutes(10),
            catch_up: Duration::hours(1),
        };
        let at = due_at(&c, "core", t, timing.spread);
        assert!(at > t);
        let before = step(&c, "core", t, at - Duration::milliseconds(1), timing);
        assert_eq!(before.due, None);
        let then = step(&c, "core", t, at, timing);
        assert_eq!(then.due.expect("test value").due_at, at);
    }
}
