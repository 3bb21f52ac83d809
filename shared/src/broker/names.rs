//! Exchange and queue names under one namespace, and the routing keys between them.

/// Routing key of job requests on `<ns>.jobs`.
pub const SUBMIT_KEY: &str = "submit";
/// Routing key of device tasks on `<ns>.tasks`.
pub const TASK_KEY: &str = "device";
/// Routing key of task results on `<ns>.results`.
pub const RESULT_KEY: &str = "result";

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
    pub fn tasks_queue(&self) -> String {
        self.name("tasks.device")
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
