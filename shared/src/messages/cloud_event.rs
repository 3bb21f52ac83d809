//! CloudEvents 1.0 attributes of the events on `<ns>.events`, carried in binary content
//! mode: as `cloudEvents:`-prefixed AMQP headers beside the unchanged JSON body.
//!
//! An event's `id` is made from what happened, never drawn at random: the same event
//! published again (a request redelivered and dispatched again, a role restarted) keeps
//! its id, so a consumer deduplicates on it; two different events never share one.

use super::{ConfigChangedEvent, JobEvent};
use chrono::{DateTime, SecondsFormat, Utc};

/// `specversion`: the CloudEvents version these attributes follow.
pub const SPEC_VERSION: &str = "1.0";
/// Prefix of every attribute's AMQP header, as in the CloudEvents AMQP binding.
pub const HEADER_PREFIX: &str = "cloudEvents:";
/// `type` is this prefix and the routing key: `net.netraven.job.completed`.
pub const TYPE_PREFIX: &str = "net.netraven.";
/// `datacontenttype`, carried as the AMQP `content_type` property.
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// The role that publishes an event, named in its `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRole {
    Dispatcher,
    Aggregator,
}

impl EventRole {
    pub fn as_str(self) -> &'static str {
        match self {
            EventRole::Dispatcher => "dispatcher",
            EventRole::Aggregator => "aggregator",
        }
    }
}

/// An event's CloudEvents context attributes (`datacontenttype` aside: it is the
/// message's `content_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent {
    /// Unique per event in the namespace, and kept by a re-published event.
    pub id: String,
    /// `/netraven/<namespace>/<role>`, a URI reference.
    pub source: String,
    /// `net.netraven.` and the routing key.
    pub event_type: String,
    /// When it happened: the body's `at`, to the same digit.
    pub time: DateTime<Utc>,
    /// The job id for job events, the device name for `config.changed`.
    pub subject: String,
}

impl CloudEvent {
    /// The `source` of events published by `role` in `namespace`.
    pub fn source(namespace: &str, role: EventRole) -> String {
        format!("/netraven/{namespace}/{}", role.as_str())
    }

    /// The `type` of events with `routing_key`.
    pub fn type_of(routing_key: &str) -> String {
        format!("{TYPE_PREFIX}{routing_key}")
    }

    /// The routing key this event's `type` maps back to.
    pub fn routing_key(&self) -> Option<&str> {
        self.event_type.strip_prefix(TYPE_PREFIX)
    }

    /// The attributes as AMQP header names and values, `specversion` first.
    pub fn headers(&self) -> [(String, String); 6] {
        let h = |name: &str, value: String| (format!("{HEADER_PREFIX}{name}"), value);
        [
            h("specversion", SPEC_VERSION.to_string()),
            h("id", self.id.clone()),
            h("source", self.source.clone()),
            h("type", self.event_type.clone()),
            h("time", format_time(self.time)),
            h("subject", self.subject.clone()),
        ]
    }

    /// Reads the attributes back from headers (`header` looks one up by its full name).
    /// Refuses a missing attribute, another `specversion`, or a `time` that is not
    /// RFC 3339.
    pub fn from_headers(header: impl Fn(&str) -> Option<String>) -> Result<CloudEvent, String> {
        let get = |name: &str| {
            header(&format!("{HEADER_PREFIX}{name}"))
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("no {HEADER_PREFIX}{name} header"))
        };
        let version = get("specversion")?;
        if version != SPEC_VERSION {
            return Err(format!("specversion {version}, expected {SPEC_VERSION}"));
        }
        let time = get("time")?;
        Ok(CloudEvent {
            id: get("id")?,
            source: get("source")?,
            event_type: get("type")?,
            time: DateTime::parse_from_rfc3339(&time)
                .map_err(|e| format!("time {time:?} is not RFC 3339: {e}"))?
                .with_timezone(&Utc),
            subject: get("subject")?,
        })
    }
}

/// RFC 3339 in UTC, as the bodies write `at`.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl JobEvent {
    /// Its attributes as published by `source`: id `<job id>/<event>`, each state change
    /// of a job happening once.
    pub fn cloud_event(&self, source: String) -> CloudEvent {
        CloudEvent {
            id: format!("{}/{}", self.job_id, self.event),
            source,
            event_type: CloudEvent::type_of(&self.event),
            time: self.at,
            subject: self.job_id.to_string(),
        }
    }
}

impl ConfigChangedEvent {
    /// Its attributes as published by `source`: id
    /// `<job id>/config.changed/<device id>/<config version>`, one per job, device and
    /// version.
    pub fn cloud_event(&self, source: String) -> CloudEvent {
        CloudEvent {
            id: format!(
                "{}/{}/{}/{}",
                self.job_id, self.event, self.device_id, self.config_version
            ),
            source,
            event_type: CloudEvent::type_of(&self.event),
            time: self.at,
            subject: self.device_name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::JobStatus;
    use uuid::Uuid;

    fn job_event(event: &str, job_id: Uuid) -> JobEvent {
        JobEvent {
            version: 1,
            event: event.into(),
            job_id,
            request_id: "r-1".into(),
            status: JobStatus::Pending,
            total_devices: 0,
            completed_devices: 0,
            succeeded_devices: 0,
            error: None,
            at: Utc::now(),
        }
    }

    #[test]
    fn ids_follow_the_event_not_the_publication() {
        let job = Uuid::now_v7();
        let source = || CloudEvent::source("netraven", EventRole::Dispatcher);
        let first = job_event("job.created", job).cloud_event(source());
        let mut again = job_event("job.created", job);
        again.at += chrono::Duration::seconds(30);
        assert_eq!(again.cloud_event(source()).id, first.id);
        assert_ne!(
            job_event("job.running", job).cloud_event(source()).id,
            first.id
        );
        assert_ne!(
            job_event("job.created", Uuid::now_v7())
                .cloud_event(source())
                .id,
            first.id
        );
    }

    #[test]
    fn attributes_survive_the_headers() {
        let event = job_event("job.completed", Uuid::now_v7())
            .cloud_event(CloudEvent::source("t.ns-1", EventRole::Aggregator));
        assert_eq!(event.source, "/netraven/t.ns-1/aggregator");
        assert_eq!(event.event_type, "net.netraven.job.completed");
        assert_eq!(event.routing_key(), Some("job.completed"));
        let headers = event.headers();
        let back = CloudEvent::from_headers(|name| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        });
        assert_eq!(back, Ok(event));
        let refused = CloudEvent::from_headers(|name| {
            (name != "cloudEvents:id").then(|| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            })?
        });
        assert_eq!(refused, Err("no cloudEvents:id header".into()));
    }
}
