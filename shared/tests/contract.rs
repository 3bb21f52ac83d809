//! The wire contract, checked from the outside: the JSON Schemas in `docs/schemas/`, the
//! examples in `docs/examples/` and the JSON blocks of `docs/messages.md` against the Rust
//! decoders in `netraven_shared::messages`.
//!
//! The job request schema must give the same verdict as `JobRequest::decode` on every body:
//! the examples, the refused examples, and a deterministic set of mutated requests. The few
//! places where they cannot or do not agree are listed in [`Known`] and pinned by
//! `documented_differences`, so a change on either side shows up here.

use jsonschema::Validator;
use netraven_shared::domain::{HostKeyPolicy, JobStatus, JobType, Outcome};
use netraven_shared::messages::{
    DeviceTask, JobEvent, JobReply, JobRequest, TaskResult, TaskResults, MAX_REQUEST_ID_LEN,
    VERSION,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Debug;
use std::path::{Path, PathBuf};

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn parse(path: &Path) -> Value {
    serde_json::from_slice(&read(path))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The schema `docs/schemas/<name>.v1.json`, itself checked against the 2020-12 meta-schema.
/// Formats (`uuid`, `date-time`) are asserted, not just annotations.
fn schema(name: &str) -> Validator {
    let path = docs().join("schemas").join(format!("{name}.v1.json"));
    let value = parse(&path);
    if let Err(e) = jsonschema::draft202012::meta::validate(&value) {
        panic!("{} is not a valid 2020-12 schema: {e}", path.display());
    }
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&value)
        .unwrap_or_else(|e| panic!("{} does not compile: {e}", path.display()))
}

fn schema_accepts(validator: &Validator, body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| validator.is_valid(&v))
}

fn schema_errors(validator: &Validator, body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Err(e) => format!("not JSON: {e}"),
        Ok(v) => validator
            .iter_errors(&v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn show(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.chars().count() > 300 {
        format!(
            "{}… ({} bytes)",
            text.chars().take(300).collect::<String>(),
            body.len()
        )
    } else {
        text.into_owned()
    }
}

// ---------------------------------------------------------------------------------------
// The schemas agree with the domain types.

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
    for file in ["job-event.v1.json", "job-reply.v1.json"] {
        let s = parse(&dir.join(file));
        assert_eq!(enum_of(&s, "/$defs/job_status/enum"), statuses, "{file}");
    }
    let result = parse(&dir.join("task-result.v1.json"));
    assert_eq!(
        enum_of(&result, "/properties/outcome/enum"),
        wire(Outcome::ALL)
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

// ---------------------------------------------------------------------------------------
// Examples.

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

fn serde_decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// The batch schema embeds the task result's object: the two never drift apart.
#[test]
fn the_results_batch_embeds_the_task_result_schema() {
    let single = parse(&docs().join("schemas").join("task-result.v1.json"));
    let batch = parse(&docs().join("schemas").join("task-results.v1.json"));
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
    let mut seen = [0; 5];
    for path in files(&docs().join("examples")) {
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        if name.starts_with("job-request") {
            continue;
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
}

// ---------------------------------------------------------------------------------------
// docs/messages.md

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
    ] {
        assert!(
            blocks.iter().any(|(n, _, _)| n == name),
            "messages.md has no {name} example"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Mutated requests: the schema's verdict equals the decoder's.

/// What a slot of the request holds, as the decoder types it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Version,
    RequestId,
    Str,
    OptStr,
    Struct,
    StrArray,
    I64Array,
    I64,
    OptU64,
    OptU32,
    OptPolicy,
}

impl Kind {
    fn integer(self) -> bool {
        matches!(
            self,
            Kind::Version | Kind::I64 | Kind::OptU64 | Kind::OptU32
        )
    }
}

const SLOTS: &[(&str, Kind)] = &[
    ("/version", Kind::Version),
    ("/request_id", Kind::RequestId),
    ("/job_type", Kind::Str),
    ("/targets", Kind::Struct),
    ("/commands", Kind::StrArray),
    ("/commands/0", Kind::Str),
    ("/limits", Kind::Struct),
    ("/submitted_by", Kind::OptStr),
    ("/targets/devices", Kind::StrArray),
    ("/targets/devices/0", Kind::Str),
    ("/targets/device_ids", Kind::I64Array),
    ("/targets/device_ids/0", Kind::I64),
    ("/targets/tags", Kind::StrArray),
    ("/limits/device_deadline_ms", Kind::OptU64),
    ("/limits/job_deadline_ms", Kind::OptU64),
    ("/limits/max_credentials_per_device", Kind::OptU32),
    ("/limits/host_key_policy", Kind::OptPolicy),
];

/// Values put into every slot, as JSON text (so that numbers past the range of `f64` and
/// integers written as floats reach the decoder exactly as written).
fn palette() -> Vec<String> {
    let mut p: Vec<String> = [
        "null",
        "true",
        "false",
        "0",
        "1",
        "2",
        "-1",
        "999",
        "1000",
        "3600000",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "1.5",
        "-0.5",
        "1.0",
        "1e3",
        "5000.0",
        "-0",
        "\"\"",
        "\"x\"",
        "\"1\"",
        "\"accept-new\"",
        "\"strict\"",
        "\"off\"",
        "\"Strict\"",
        "\"accept_new\"",
        "\"a\\u0000b\"",
        "\"\\u00e9t\\u00e9\"",
        "[]",
        "[1]",
        "[\"a\"]",
        "[null]",
        "[1.5]",
        "[-1]",
        "[\"a\", 1]",
        "[1000, 1000, 1, \"off\"]",
        "{}",
        "{\"x\": 1}",
        "{\"strict\": null}",
        "{\"devices\": [\"a\"]}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Lengths around the request_id limit, in ASCII and in two-byte characters, and huge.
    for (c, n) in [
        ('a', 200),
        ('a', 201),
        ('é', 100),
        ('é', 101),
        ('é', 200),
        ('x', 100_000),
    ] {
        p.push(format!("\"{}\"", c.to_string().repeat(n)));
    }
    p
}

/// Where the schema and the decoder are known to disagree, and which way.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Known {
    /// JSON Schema compares numbers by value: `1.0`, `1e3` and `-0` are integers to it. The
    /// decoder takes integers only written as digits. Inherent to JSON Schema.
    IntegralFloat,
    /// Integers past the range of i64/u64 become `f64` when parsed; the validator then sees
    /// -9223372036854775809 rounded to -2^63, which is in range. A validator with exact
    /// integers (Python's `jsonschema`, for one) refuses it, like the decoder.
    Rounding,
    /// The decoder refuses a member given twice; JSON Schema sees only the parsed object.
    DuplicateMember,
}

impl Known {
    /// Which side accepts when they disagree.
    fn schema_accepts(self) -> bool {
        matches!(
            self,
            Known::IntegralFloat | Known::Rounding | Known::DuplicateMember
        )
    }
}

fn is_integral_float(literal: &str) -> bool {
    literal.contains(['.', 'e', 'E']) || literal == "-0"
}

fn explain(kind: Kind, literal: &str) -> Option<Known> {
    if kind.integer()
        && literal.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
    {
        if is_integral_float(literal) {
            return Some(Known::IntegralFloat);
        }
        if literal == "-9223372036854775809" {
            return Some(Known::Rounding);
        }
    }
    None
}

const SLOT: &str = "@@slot@@";

/// `base` with the value at `pointer` replaced by the JSON text `literal` (a member is added
/// when its object exists; `None` when the parent does not exist).
fn with_literal(base: &Value, pointer: &str, literal: &str) -> Option<Vec<u8>> {
    let mut v = base.clone();
    let (parent, last) = pointer.rsplit_once('/').expect("pointer");
    match v.pointer_mut(parent)? {
        Value::Object(map) => {
            map.insert(last.to_string(), json!(SLOT));
        }
        Value::Array(items) => {
            let i: usize = last.parse().expect("index");
            *items.get_mut(i)? = json!(SLOT);
        }
        _ => return None,
    }
    let text = serde_json::to_string(&v).expect("encode");
    Some(
        text.replacen(&format!("\"{SLOT}\""), literal, 1)
            .into_bytes(),
    )
}

fn without(base: &Value, pointer: &str) -> Option<Vec<u8>> {
    let mut v = base.clone();
    let (parent, last) = pointer.rsplit_once('/').expect("pointer");
    match v.pointer_mut(parent)? {
        Value::Object(map) => {
            map.remove(last)?;
        }
        Value::Array(items) => {
            let i: usize = last.parse().expect("index");
            if i >= items.len() {
                return None;
            }
            items.remove(i);
        }
        _ => return None,
    }
    Some(serde_json::to_vec(&v).expect("encode"))
}

/// The mutated requests, each with what explains a disagreement on it, if anything.
fn mutations() -> Vec<(String, Vec<u8>, Option<Known>)> {
    let examples = docs().join("examples");
    let bases: Vec<Value> = [
        "job-request.json",
        "job-request-command.json",
        "job-request-nulls.json",
    ]
    .iter()
    .map(|f| parse(&examples.join(f)))
    .collect();
    let palette = palette();
    let mut out = Vec::new();
    for (b, base) in bases.iter().enumerate() {
        for (pointer, kind) in SLOTS {
            if let Some(body) = without(base, pointer) {
                out.push((format!("base {b}: drop {pointer}"), body, None));
            }
            for literal in &palette {
                if let Some(body) = with_literal(base, pointer, literal) {
                    let what = format!("base {b}: {pointer} = {}", show(literal.as_bytes()));
                    out.push((what, body, explain(*kind, literal)));
                }
            }
        }
        for object in ["", "/targets", "/limits"] {
            for field in ["extra", "Version", "request_id ", "", "device_id", "tag"] {
                if let Some(body) = with_literal(base, &format!("{object}/{field}"), "1") {
                    let what = format!("base {b}: unknown field {field:?} in {object:?}");
                    out.push((what, body, None));
                }
            }
        }
    }
    out
}

#[test]
fn schema_and_decoder_agree_on_mutated_requests() {
    let validator = schema("job-request");
    let cases = mutations();
    let (mut accepted, mut refused, mut explained) = (0, 0, 0);
    let mut disagreements = Vec::new();
    for (what, body, known) in &cases {
        let by_schema = schema_accepts(&validator, body);
        let by_decoder = JobRequest::decode(body);
        if by_schema == by_decoder.is_ok() {
            if by_schema {
                accepted += 1;
            } else {
                refused += 1;
            }
            continue;
        }
        match known {
            Some(k) if k.schema_accepts() == by_schema => explained += 1,
            _ => disagreements.push(format!(
                "{what}\n  schema: {}\n  decoder: {:?}\n  body: {}",
                if by_schema {
                    "accepts".to_string()
                } else {
                    format!("refuses ({})", schema_errors(&validator, body))
                },
                by_decoder.map(|_| "accepts"),
                show(body)
            )),
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} mutated requests get different verdicts:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
    assert!(cases.len() >= 300, "only {} mutations", cases.len());
    assert!(
        accepted >= 100 && refused >= 100,
        "accepted {accepted}, refused {refused}"
    );
    eprintln!(
        "{} mutated requests: {accepted} accepted and {refused} refused by both, {explained} known differences",
        cases.len()
    );
}

/// The known differences, one body each, pinned: when the decoder or the schema changes,
/// this fails, and `Known`, the schema's `$comment` and docs/messages.md need updating.
#[test]
fn documented_differences() {
    let validator = schema("job-request");
    let request = |rest: &str| {
        format!(r#"{{"version":1,"request_id":"r1","job_type":"config_backup"{rest}}}"#)
    };
    let cases: Vec<(Known, String)> = vec![
        (
            Known::IntegralFloat,
            r#"{"version":1.0,"request_id":"r1","job_type":"x"}"#.into(),
        ),
        (
            Known::IntegralFloat,
            request(r#","limits":{"job_deadline_ms":6e4}"#),
        ),
        (
            Known::IntegralFloat,
            request(r#","targets":{"device_ids":[-0]}"#),
        ),
        (
            Known::Rounding,
            request(r#","targets":{"device_ids":[-9223372036854775809]}"#),
        ),
        (Known::DuplicateMember, request(r#","request_id":"r2""#)),
    ];
    for (known, body) in cases {
        let by_schema = schema_accepts(&validator, body.as_bytes());
        let by_decoder = JobRequest::decode(body.as_bytes()).is_ok();
        assert_eq!(
            (by_schema, by_decoder),
            (known.schema_accepts(), !known.schema_accepts()),
            "{known:?} no longer behaves as documented for {}",
            show(body.as_bytes())
        );
    }
}
