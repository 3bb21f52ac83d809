//! Job requests as clients send them.

use netraven_shared::messages::{self, JobRequest, Targets};
use uuid::Uuid;

/// A v1 job request with a fresh request id.
pub fn request(job_type: &str, tags: &[&str], devices: &[&str]) -> JobRequest {
    JobRequest {
        version: messages::VERSION,
        request_id: format!("test-{}", Uuid::new_v4()),
        job_type: job_type.to_string(),
        targets: Targets {
            devices: devices.iter().map(|s| s.to_string()).collect(),
            device_ids: Vec::new(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
        },
        commands: Vec::new(),
        limits: Default::default(),
        submitted_by: None,
        priority: None,
    }
}
