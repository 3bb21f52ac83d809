//! The schemas agree with the domain types: every enum names exactly the wire values.

use crate::common::{docs, parse, schema_path};
use netraven_shared::domain::{HostKeyPolicy, JobStatus, JobType, Outcome};
use netraven_shared::messages::{
    CancelAnswer, MAX_CANCEL_REASON_CHARS, MAX_REQUEST_ID_LEN, VERSION,
};
use serde::Serialize;
use serde_json::{json, Value};

fn enum_of(schema: &Value, pointer: &str) -> Vec<Value> {
    schema
        .pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no enum at {pointer}"))
        .clone()
}

fn wire<T: Serialize>(all: &[T]) -> Vec<Value> {
    all.iter()
        .map(|v| serde_json::to_value(v).expect("wire name"))
        .collect()
}

#[test]
fn schemas_name_exactly_the_domain_values() {
    let dir = docs().join("schemas");
    let request = parse(&dir.join("job-request.v1.json"));
    let mut policies = wire(HostKeyPolicy::ALL);
    policies.push(Value::Null);
    assert_eq!(
        enum_of(&request, "/$defs/limits/properties/host_key_policy/enum"),
        policies
    );
    assert_eq!(
        request.pointer("/properties/version/const"),
        Some(&json!(VERSION))
    );
    assert_eq!(
        request.pointer("/properties/request_id/maxLength"),
        Some(&json!(MAX_REQUEST_ID_LEN))
    );
    assert_eq!(
        request.pointer("/properties/job_type/examples"),
        Some(&Value::Array(wire(JobType::ALL)))
    );

    let statuses = wire(JobStatus::ALL);
    for file in [
        "job-event.v1.json",
        "job-reply.v1.json",
        "job-cancel-reply.v1.json",
    ] {
        let s = parse(&dir.join(file));
        assert_eq!(enum_of(&s, "/$defs/job_status/enum"), statuses, "{file}");
    }
    let result = parse(&schema_path("task-result"));
    assert_eq!(
        enum_of(&result, "/properties/outcome/enum"),
        wire(Outcome::ALL)
    );
    let answers: Vec<Value> = CancelAnswer::ALL
        .iter()
        .map(|a| serde_json::to_value(a).expect("wire name"))
        .collect();
    assert_eq!(
        enum_of(
            &parse(&dir.join("job-cancel-reply.v1.json")),
            "/properties/answer/enum"
        ),
        answers
    );
    let cancel = parse(&dir.join("job-cancel.v1.json"));
    assert_eq!(
        cancel.pointer("/properties/reason/maxLength"),
        Some(&json!(MAX_CANCEL_REASON_CHARS))
    );
    let task = parse(&dir.join("device-task.v1.json"));
    assert_eq!(
        enum_of(&task, "/properties/job_type/enum"),
        wire(JobType::ALL)
    );
    assert_eq!(
        enum_of(&task, "/properties/host_key_policy/enum"),
        wire(HostKeyPolicy::ALL)
    );
}
