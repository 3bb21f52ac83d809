//! Exchange and queue names under one namespace, and the routing keys between them.

use crate::domain::Lane;

/// Routing key of job requests on `<ns>.jobs`.
pub const SUBMIT_KEY: &str = "submit";
/// Routing key of device tasks on `<ns>.tasks` for the bulk lane (`<ns>.tasks.device`).
pub const TASK_KEY: &str = "device";
/// Routing key of device tasks on `<ns>.tasks` for the interactive lane
/// (`<ns>.tasks.interactive`).
pub const INTERACTIVE_TASK_KEY: &str = "interactive";
/// Routing key of task results on `<ns>.results`.
pub const RESULT_KEY: &str = "result";

/// The routing key of `lane`'s tasks on `<ns>.tasks`.
pub const fn task_key(lane: Lane) -> &'static str {
    match lane {
        Lane::Bulk => TASK_KEY,
        Lane::Interactive => INTERACTIVE_TASK_KEY,
    }
}

/// Exchange and queue names under one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub namespace: String,
}

impl Names {
    pub fn new(namespace: &str) -> Names {
        Names {
            namespace: namespace.to_string(),
        }
    }
    fn name(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.namespace)
    }
    /// Direct exchange clients publish job requests to.
    pub fn jobs_exchange(&self) -> String {
        self.name("jobs")
    }
    pub fn submit_queue(&self) -> String {
        self.name("jobs.submit")
    }
    pub fn tasks_exchange(&self) -> String {
        self.name("tasks")
    }
    /// The bulk lane's task queue.
    pub fn tasks_queue(&self) -> String {
        self.name("tasks.device")
    }
    /// The interactive lane's task queue: small jobs and jobs marked `priority: high`.
    pub fn interactive_tasks_queue(&self) -> String {
        self.name("tasks.interactive")
    }
    /// The task queue of `lane`.
    pub fn lane_queue(&self, lane: Lane) -> String {
        match lane {
            Lane::Bulk => self.tasks_queue(),
            Lane::Interactive => self.interactive_tasks_queue(),
        }
    }
    /// Both task queues, bulk first.
    pub fn task_queues(&self) -> [String; 2] {
        [self.tasks_queue(), self.interactive_tasks_queue()]
    }
    /// The lane whose task queue `queue` is, if it is one.
    pub fn lane_of(&self, queue: &str) -> Option<Lane> {
        Lane::ALL
            .iter()
            .copied()
            .find(|&lane| self.lane_queue(lane) == queue)
    }
    pub fn results_exchange(&self) -> String {
        self.name("results")
    }
    pub fn results_queue(&self) -> String {
        self.name("results")
    }
    /// Topic exchange of job events (`job.created`, `job.running`, `job.completed`).
    pub fn events_exchange(&self) -> String {
        self.name("events")
    }
    /// Fanout exchange every dead letter goes to.
    pub fn dead_exchange(&self) -> String {
        self.name("dead")
    }
    /// Where people look at dead letters (`netraven dead list`).
    pub fn dead_queue(&self) -> String {
        self.name("dead")
    }
    /// A second copy of every dead letter, for the aggregator: a dead-lettered device task
    /// becomes that device's `DEAD_LETTERED` result.
    pub fn dead_tasks_queue(&self) -> String {
        self.name("dead.tasks")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lane_has_its_queue_and_key() {
        let names = Names::new("ns");
        assert_eq!(names.lane_queue(Lane::Bulk), "ns.tasks.device");
        assert_eq!(names.lane_queue(Lane::Interactive), "ns.tasks.interactive");
        assert_eq!(task_key(Lane::Bulk), "device");
        assert_eq!(task_key(Lane::Interactive), "interactive");
        for lane in Lane::ALL {
            assert_eq!(names.lane_of(&names.lane_queue(*lane)), Some(*lane));
        }
        assert_eq!(names.lane_of("ns.results"), None);
    }
}
