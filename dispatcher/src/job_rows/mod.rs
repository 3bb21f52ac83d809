//! Job rows in Postgres, which both roles share: the dispatcher creates and starts jobs,
//! the aggregator counts results into them and finishes them, the CLI reads them.

mod counts;
mod log;
mod members;
mod reads;
mod transitions;

pub use counts::JobCounts;
pub use log::{log, Level};
pub use members::{add_members, missing_targets, set_lane};
pub use reads::{get, lane_of, outcome_counts, results, DeviceResult, JobView};
pub use transitions::{
    create, finalize_if_complete, finish, mark_running, record_unresolved, Created,
};
