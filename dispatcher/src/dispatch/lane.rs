//! The task lane of a job: interactive for a small job or one marked `priority: high`
//! (within `dispatcher.max_high_priority_devices`), bulk for the rest.

use netraven_shared::config::DispatcherSettings;
use netraven_shared::domain::{Lane, Priority};

/// The lane a job's tasks go to, and whether a high-priority job was sent to the bulk lane
/// for its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneChoice {
    pub lane: Lane,
    /// Marked `priority: high` but over `dispatcher.max_high_priority_devices`: it runs in
    /// the bulk lane, and its job log says so.
    pub demoted: bool,
}

impl LaneChoice {
    /// The lane of a job of `devices` devices at `priority` (absent is normal).
    ///
    /// A high job over the cap runs in the bulk lane rather than being refused: how many
    /// devices a tag matches is the inventory's, not the submitter's, to say, and it
    /// changes; the work is done either way, only without the head start.
    pub fn of(
        priority: Option<Priority>,
        devices: u64,
        settings: &DispatcherSettings,
    ) -> LaneChoice {
        let interactive = LaneChoice {
            lane: Lane::Interactive,
            demoted: false,
        };
        let bulk = |demoted| LaneChoice {
            lane: Lane::Bulk,
            demoted,
        };
        match priority.unwrap_or(Priority::Normal) {
            Priority::High if devices <= u64::from(settings.max_high_priority_devices) => {
                interactive
            }
            Priority::High => bulk(true),
            Priority::Normal if devices <= u64::from(settings.interactive_max_devices) => {
                interactive
            }
            Priority::Normal => bulk(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(
        interactive_max_devices: u32,
        max_high_priority_devices: u32,
    ) -> DispatcherSettings {
        DispatcherSettings {
            interactive_max_devices,
            max_high_priority_devices,
            ..DispatcherSettings::default()
        }
    }

    #[test]
    fn small_jobs_are_interactive_and_large_ones_bulk() {
        let s = settings(20, 1_000);
        for (priority, devices) in [(None, 1), (None, 20), (Some(Priority::Normal), 10)] {
            let choice = LaneChoice::of(priority, devices, &s);
            assert_eq!(choice.lane, Lane::Interactive, "{priority:?} {devices}");
            assert!(!choice.demoted);
        }
        for (priority, devices) in [(None, 21), (Some(Priority::Normal), 10_000)] {
            let choice = LaneChoice::of(priority, devices, &s);
            assert_eq!(choice.lane, Lane::Bulk, "{priority:?} {devices}");
            assert!(!choice.demoted);
        }
    }

    #[test]
    fn high_jobs_are_interactive_up_to_their_cap_then_demoted() {
        let s = settings(20, 1_000);
        for devices in [1, 21, 1_000] {
            let choice = LaneChoice::of(Some(Priority::High), devices, &s);
            assert_eq!(choice.lane, Lane::Interactive, "{devices}");
            assert!(!choice.demoted);
        }
        let over = LaneChoice::of(Some(Priority::High), 1_001, &s);
        assert_eq!(
            over,
            LaneChoice {
                lane: Lane::Bulk,
                demoted: true
            }
        );
    }

    #[test]
    fn a_size_cap_of_zero_leaves_the_lane_to_high_jobs() {
        let s = settings(0, 5);
        assert_eq!(LaneChoice::of(None, 1, &s).lane, Lane::Bulk);
        assert_eq!(
            LaneChoice::of(Some(Priority::High), 5, &s).lane,
            Lane::Interactive
        );
    }
}
