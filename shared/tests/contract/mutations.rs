//! Mutated requests: the schema's verdict equals the decoder's, but for the known
//! differences.

use crate::common::{docs, parse, schema, schema_accepts, schema_errors, show};
use netraven_shared::messages::JobRequest;
use serde_json::{json, Value};
use std::fmt::Debug;

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
    ("/priority", Kind::OptPolicy),
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
