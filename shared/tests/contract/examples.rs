//! The examples in `docs/examples/`: accepted or refused by schema and decoder alike, and
//! round-tripping through the types.

use crate::common::{
    docs, files, parse, read, schema, schema_accepts, schema_errors, schema_path, serde_decode,
    show,
};
use jsonschema::Validator;
use netraven_shared::messages::{
    CancelReply, ConfigChangedEvent, DeviceTask, JobCancel, JobEvent, JobReply, JobRequest,
    TaskResult, TaskResults,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Debug;
use std::path::Path;

#[test]
fn request_examples_are_accepted_by_schema_and_decoder() {
    let validator = schema("job-request");
    let mut seen = 0;
    for path in files(&docs().join("examples")) {
        let name = path.file_name().expect("file name").to_string_lossy();
        if !name.starts_with("job-request") {
            continue;
        }
        let body = read(&path);
        let decoded = JobRequest::decode(&body)
            .unwrap_or_else(|e| panic!("{} refused by the decoder: {e}", path.display()));
        assert!(
            schema_accepts(&validator, &body),
            "{} refused by the schema: {}",
            path.display(),
            schema_errors(&validator, &body)
        );
        // What the dispatcher stores with the job (the request re-encoded) is valid too.
        let again = serde_json::to_vec(&decoded).expect("encode");
        assert!(schema_accepts(&validator, &again), "{}", show(&again));
        assert_eq!(JobRequest::decode(&again).as_ref(), Ok(&decoded));
        seen += 1;
    }
    assert!(seen >= 3, "only {seen} request examples");
}

#[test]
fn refused_examples_are_refused_by_schema_and_decoder() {
    let validator = schema("job-request");
    let dir = docs().join("examples").join("invalid");
    let all = files(&dir);
    for rule in [
        "unknown-field.json",
        "wrong-version.json",
        "empty-request-id.json",
        "bad-host-key-policy.json",
        "negative-deadline.json",
        "commands-not-array.json",
        "not-json.txt",
    ] {
        assert!(all.contains(&dir.join(rule)), "missing {rule}");
    }
    for path in all {
        let body = read(&path);
        let reason = JobRequest::decode(&body)
            .expect_err(&format!("{} accepted by the decoder", path.display()));
        assert!(!reason.is_empty());
        assert!(
            !schema_accepts(&validator, &body),
            "{} accepted by the schema (decoder: {reason})",
            path.display()
        );
    }
}

/// Decodes with the Rust type, validates against the schema, and checks that the example is
/// exactly what NetRaven writes (re-encoding gives the same JSON, which is valid too).
fn round_trip<T>(validator: &Validator, path: &Path, decode: fn(&[u8]) -> Result<T, String>)
where
    T: Serialize + Debug,
{
    let body = read(path);
    let decoded =
        decode(&body).unwrap_or_else(|e| panic!("{} refused by the decoder: {e}", path.display()));
    assert!(
        schema_accepts(validator, &body),
        "{} refused by the schema: {}",
        path.display(),
        schema_errors(validator, &body)
    );
    let written = serde_json::to_value(&decoded).expect("encode");
    assert_eq!(
        written,
        parse(path),
        "{} is not what NetRaven writes",
        path.display()
    );
    assert!(validator.is_valid(&written));
}

/// The batch schema embeds the task result's object: the two never drift apart.
#[test]
fn the_results_batch_embeds_the_task_result_schema() {
    let single = parse(&schema_path("task-result"));
    let batch = parse(&schema_path("task-results"));
    let item = &batch["$defs"]["task_result"];
    for key in ["type", "additionalProperties", "required", "properties"] {
        assert_eq!(item[key], single[key], "$defs.task_result.{key}");
    }
    let results = schema("task-results");
    let mut too_many = parse(&docs().join("examples").join("task-results.json"));
    let one = too_many["results"][0].clone();
    too_many["results"] = Value::Array(vec![one; 513]);
    let body = serde_json::to_vec(&too_many).expect("encode");
    assert!(!results.is_valid(&too_many), "513 results pass the schema");
    assert!(
        TaskResults::decode(&body).is_err(),
        "513 results pass the decoder"
    );
}

#[test]
fn other_examples_round_trip_through_types_and_schemas() {
    let event = schema("job-event");
    let reply = schema("job-reply");
    let result = schema("task-result");
    let task = schema("device-task");
    let results = schema("task-results");
    let changed = schema("config-changed");
    let cancel = schema("job-cancel");
    let cancel_reply = schema("job-cancel-reply");
    let mut seen = [0; 8];
    for path in files(&docs().join("examples")) {
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        if name.starts_with("job-request") {
            continue;
        } else if name.starts_with("job-cancel-reply") {
            round_trip(&cancel_reply, &path, serde_decode::<CancelReply>);
            seen[7] += 1;
        } else if name.starts_with("job-cancel") {
            round_trip(&cancel, &path, JobCancel::decode);
            seen[6] += 1;
        } else if name.starts_with("job-event") {
            round_trip(&event, &path, serde_decode::<JobEvent>);
            seen[0] += 1;
        } else if name.starts_with("job-reply") {
            round_trip(&reply, &path, serde_decode::<JobReply>);
            seen[1] += 1;
        } else if name.starts_with("task-results") {
            round_trip(&results, &path, TaskResults::decode);
            seen[4] += 1;
        } else if name.starts_with("task-result") {
            round_trip(&result, &path, TaskResult::decode);
            seen[2] += 1;
        } else if name.starts_with("config-changed") {
            round_trip(&changed, &path, serde_decode::<ConfigChangedEvent>);
            seen[5] += 1;
        } else if name.starts_with("device-task") {
            round_trip(&task, &path, DeviceTask::decode);
            seen[3] += 1;
        } else {
            panic!("{name}: an example must be named after its message");
        }
    }
    assert!(
        seen.iter().all(|n| *n >= 1),
        "examples per message: {seen:?}"
    );
}

#[test]
fn outbound_schemas_hold_what_the_code_guarantees() {
    let event = schema("job-event");
    let reply = schema("job-reply");
    let task = schema("device-task");
    let base = parse(&docs().join("examples/job-event-completed.json"));
    let mut running = base.clone();
    running["status"] = json!("RUNNING");
    assert!(
        !event.is_valid(&running),
        "job.completed must carry a final status"
    );

    let refused = parse(&docs().join("examples/job-reply-refused.json"));
    let mut without_error = refused.clone();
    without_error["error"] = Value::Null;
    assert!(!reply.is_valid(&without_error), "a refusal says why");
    let accepted = parse(&docs().join("examples/job-reply-accepted.json"));
    let mut without_job = accepted.clone();
    without_job["job_id"] = Value::Null;
    assert!(!reply.is_valid(&without_job), "an acceptance names its job");

    let mut plaintext = parse(&docs().join("examples/device-task.json"));
    plaintext["credentials"][0]["sealed_secret"] = json!("hunter2");
    assert!(
        !task.is_valid(&plaintext),
        "a task never carries a plaintext secret"
    );

    // Key credentials: a sealed key and passphrase, never plaintext; a credential holds a
    // password or a key; schema and decoder agree on each.
    let keys = parse(&docs().join("examples/device-task-keys.json"));
    let mut plain_key = keys.clone();
    plain_key["credentials"][0]["sealed_key"] = json!("-----BEGIN OPENSSH PRIVATE KEY-----");
    assert!(!task.is_valid(&plain_key), "a key travels sealed");
    let mut plain_passphrase = keys.clone();
    plain_passphrase["credentials"][0]["sealed_key_passphrase"] = json!("hunter2");
    assert!(
        !task.is_valid(&plain_passphrase),
        "a passphrase travels sealed"
    );
    let mut neither = keys.clone();
    neither["credentials"][0]
        .as_object_mut()
        .expect("credential")
        .retain(|k, _| k == "id" || k == "name" || k == "username");
    assert!(!task.is_valid(&neither), "a password or a key");
    assert!(DeviceTask::decode(neither.to_string().as_bytes()).is_err());
    let mut orphan = keys.clone();
    orphan["credentials"][1]["sealed_key_passphrase"] = json!("nrv1:k2025-01:AAAA");
    orphan["credentials"][1]
        .as_object_mut()
        .expect("credential")
        .remove("sealed_key");
    assert!(!task.is_valid(&orphan), "a passphrase only with a key");
    assert!(DeviceTask::decode(orphan.to_string().as_bytes()).is_err());
}

/// A password-only task is byte for byte what it was before key credentials: the new
/// fields are left out, never `null`.
#[test]
fn a_password_only_task_carries_no_key_fields() {
    let text = std::fs::read_to_string(docs().join("examples/device-task.json")).expect("example");
    let task = DeviceTask::decode(text.as_bytes()).expect("decodes");
    let again = serde_json::to_value(&task).expect("encodes");
    for c in again["credentials"].as_array().expect("credentials") {
        let mut fields: Vec<&str> = c
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(fields, ["id", "name", "sealed_secret", "username"], "{c}");
    }
}

/// The cancel's schema and decoder agree on what they refuse: fields of the body that
/// would name the canceller, non-UUID ids, long or multi-line reasons.
#[test]
fn cancel_schema_and_decoder_refuse_alike() {
    let validator = schema("job-cancel");
    let base = parse(&docs().join("examples/job-cancel.json"));
    let mut cases = Vec::new();
    let mut by = base.clone();
    by["cancelled_by"] = json!("root");
    cases.push(("a canceller in the body", by));
    for id in ["job-7", "0193f0a25b7c7d3e9a412c5e8f1b6d70", ""] {
        let mut bad = base.clone();
        bad["job_id"] = json!(id);
        cases.push(("a job_id that is not a hyphenated UUID", bad));
    }
    let mut long = base.clone();
    long["reason"] = json!("x".repeat(501));
    cases.push(("a reason over 500 characters", long));
    for c in ["a\nb", "tab\there", "nul\u{0}", "del\u{7f}"] {
        let mut bad = base.clone();
        bad["reason"] = json!(c);
        cases.push(("a reason with a control character", bad));
    }
    let mut v2 = base.clone();
    v2["version"] = json!(2);
    cases.push(("version 2", v2));
    let mut no_id = base.clone();
    no_id.as_object_mut().expect("object").remove("job_id");
    cases.push(("no job_id", no_id));
    for (what, body) in cases {
        let bytes = serde_json::to_vec(&body).expect("encode");
        assert!(
            !validator.is_valid(&body),
            "the schema accepts {what}: {body}"
        );
        assert!(
            JobCancel::decode(&bytes).is_err(),
            "the decoder accepts {what}: {body}"
        );
    }
    let mut null_reason = base.clone();
    null_reason["reason"] = Value::Null;
    assert!(validator.is_valid(&null_reason));
    assert!(JobCancel::decode(null_reason.to_string().as_bytes()).is_ok());
}
