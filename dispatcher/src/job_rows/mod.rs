//! Job rows in Postgres, which both roles share: the dispatcher creates and starts jobs,
//! the aggregator counts results into them and finishes them, the CLI reads them.

mod cancel;
mod counts;
mod log;
mod members;
mod reads;
mod transitions;
mod tries;

pub use cancel::{
    cancel_requested, cancel_target, record_unsent, request_cancel, CancelTarget, Recorded,
};
pub use counts::JobCounts;
pub use log::{log, Level};
pub use members::{add_members, missing_targets, set_lane};
pub use reads::{
    cancel_of, get, lane_of, outcome_counts, results, results_page, CancelRequest, DeviceResult,
    JobView, ResultsPage,
};
pub use transitions::{
    create, finalize_if_complete, finish, mark_running, record_unresolved, set_retry_limits,
    Created,
};
pub use tries::end_with_last_try;
