//! The JSON blocks of `docs/messages.md` hold against schemas and decoders.

use crate::common::{docs, read, schema, schema_accepts, schema_errors, serde_decode};
use netraven_shared::messages::{
    CancelReply, ConfigChangedEvent, DeviceTask, JobCancel, JobEvent, JobReply, JobRequest,
    TaskResult, TaskResults,
};
use serde_json::Value;

/// Every ```json block of messages.md, with the `<!-- contract: NAME [malformed] -->` marker
/// on the line before it.
fn markdown_blocks() -> Vec<(String, bool, String)> {
    let path = docs().join("messages.md");
    let text = String::from_utf8(read(&path)).expect("UTF-8");
    let mut blocks = Vec::new();
    let mut marker: Option<(String, bool)> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed
            .strip_prefix("<!-- contract:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            let mut words = rest.split_whitespace();
            let name = words.next().expect("marker names a message").to_string();
            marker = Some((name, words.next() == Some("malformed")));
            continue;
        }
        if trimmed == "```json" {
            let (name, malformed) = marker.take().unwrap_or_else(|| {
                panic!("messages.md: a ```json block without a <!-- contract: … --> marker")
            });
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push((name, malformed, body.join("\n")));
        } else if !trimmed.is_empty() {
            marker = None;
        }
    }
    blocks
}

#[test]
fn messages_md_examples_hold() {
    let request = schema("job-request");
    let validators = [
        ("job-event", schema("job-event")),
        ("job-reply", schema("job-reply")),
        ("task-result", schema("task-result")),
        ("task-results", schema("task-results")),
        ("device-task", schema("device-task")),
        ("config-changed", schema("config-changed")),
        ("job-cancel", schema("job-cancel")),
        ("job-cancel-reply", schema("job-cancel-reply")),
        ("event-headers", schema("event-headers")),
    ];
    let blocks = markdown_blocks();
    let mut requests = 0;
    for (name, malformed, body) in &blocks {
        let bytes = body.as_bytes();
        if name == "job-request" {
            let decoded = JobRequest::decode(bytes);
            let by_schema = schema_accepts(&request, bytes);
            if *malformed {
                assert!(
                    decoded.is_err(),
                    "decoder accepts malformed example:\n{body}"
                );
                assert!(!by_schema, "schema accepts malformed example:\n{body}");
            } else {
                decoded.unwrap_or_else(|e| panic!("{e}:\n{body}"));
                assert!(by_schema, "{}:\n{body}", schema_errors(&request, bytes));
                requests += 1;
            }
            continue;
        }
        assert!(!malformed, "only requests have malformed examples");
        let (_, validator) = validators
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("unknown contract marker {name}"));
        assert!(
            validator.is_valid(
                &serde_json::from_str::<Value>(body).unwrap_or_else(|e| panic!("{e}:\n{body}"))
            ),
            "{name}: {}:\n{body}",
            schema_errors(validator, bytes)
        );
        let decoded = match name.as_str() {
            "job-event" => serde_decode::<JobEvent>(bytes).map(|_| ()),
            "job-reply" => serde_decode::<JobReply>(bytes).map(|_| ()),
            "task-result" => TaskResult::decode(bytes).map(|_| ()),
            "task-results" => TaskResults::decode(bytes).map(|_| ()),
            "config-changed" => serde_decode::<ConfigChangedEvent>(bytes).map(|_| ()),
            "job-cancel" => JobCancel::decode(bytes).map(|_| ()),
            "job-cancel-reply" => serde_decode::<CancelReply>(bytes).map(|_| ()),
            "event-headers" => serde_decode::<Value>(bytes)
                .and_then(|headers| crate::events::attributes(&headers))
                .map(|_| ()),
            _ => DeviceTask::decode(bytes).map(|_| ()),
        };
        decoded.unwrap_or_else(|e| panic!("{name}: {e}:\n{body}"));
    }
    assert!(requests >= 2, "messages.md shows {requests} requests");
    for name in [
        "job-event",
        "job-reply",
        "task-result",
        "task-results",
        "device-task",
        "config-changed",
        "job-cancel",
        "job-cancel-reply",
        "event-headers",
    ] {
        assert!(
            blocks.iter().any(|(n, _, _)| n == name),
            "messages.md has no {name} example"
        );
    }
}
