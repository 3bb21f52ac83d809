//! Fuzzing the decoders of what arrives from the broker: `JobRequest::decode` (anyone may
//! publish a job request), `DeviceTask::decode`, `TaskResult::decode` and `TaskResults::decode` never panic, on
//! arbitrary bytes and on valid messages mutated byte by byte and value by value. A decoder
//! that panicked would crash the role that consumed the message, and the broker would
//! redeliver it to the next one.
//!
//! Failures found are kept as seeds in `shared/proptest-regressions/fuzz.txt` (committed)
//! and replayed first on every run.

use netraven_shared::messages::{DeviceTask, JobRequest, TaskResult, TaskResults};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;

const EXAMPLES: [&str; 9] = [
    include_str!("../../docs/examples/job-request.json"),
    include_str!("../../docs/examples/job-request-minimal.json"),
    include_str!("../../docs/examples/job-request-command.json"),
    include_str!("../../docs/examples/job-request-nulls.json"),
    include_str!("../../docs/examples/device-task.json"),
    include_str!("../../docs/examples/device-task-command.json"),
    include_str!("../../docs/examples/task-result-success.json"),
    include_str!("../../docs/examples/task-result-auth-failed.json"),
    include_str!("../../docs/examples/task-results.json"),
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_000,
        // The regression corpus, committed: seeds of past failures, replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/fuzz.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Every decoder on `body`: errors are fine, panics are not.
fn decode_all(body: &[u8]) {
    let _ = JobRequest::decode(body);
    let _ = DeviceTask::decode(body);
    let _ = TaskResult::decode(body);
    let _ = TaskResults::decode(body);
}

/// A byte-level edit of a message.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Delete(usize),
    Insert(usize, u8),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to JSON more often than chance would pick them.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"{}[]\",:0-9.eE+-\\ntrufalsenul \x00\xff".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Flip(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ]
}

fn apply(body: &mut Vec<u8>, e: &Edit) {
    let len = body.len().max(1);
    match *e {
        Edit::Flip(i, b) => {
            if let Some(x) = body.get_mut(i % len) {
                *x = b;
            }
        }
        Edit::Delete(i) => {
            if i % len < body.len() {
                body.remove(i % len);
            }
        }
        Edit::Insert(i, b) => body.insert(i % (body.len() + 1), b),
        Edit::Truncate(i) => body.truncate(i % len),
        Edit::Duplicate(i, n) => {
            let start = i % len;
            let end = (start + n % 64).min(body.len());
            if start < end {
                let piece = body[start..end].to_vec();
                body.splice(start..start, piece);
            }
        }
    }
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String("x".repeat(100_000))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at the `pick`-th place of `v` (depth first) by `with`.
fn replace_nth(v: &mut Value, pick: &mut usize, with: &Value) -> bool {
    if *pick == 0 {
        *v = with.clone();
        return true;
    }
    *pick -= 1;
    match v {
        Value::Array(items) => items.iter_mut().any(|x| replace_nth(x, pick, with)),
        Value::Object(map) => map.values_mut().any(|x| replace_nth(x, pick, with)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&body);
    }

    #[test]
    fn arbitrary_text_never_panics(body in ".{0,256}") {
        decode_all(body.as_bytes());
    }

    #[test]
    fn valid_messages_mutated_byte_by_byte_never_panic(
        example in 0..EXAMPLES.len(),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        let mut body = EXAMPLES[example].as_bytes().to_vec();
        for e in &edits {
            apply(&mut body, e);
        }
        decode_all(&body);
    }

    #[test]
    fn valid_messages_with_any_value_anywhere_never_panic(
        example in 0..EXAMPLES.len(),
        pick in 0usize..64,
        with in json_value(),
    ) {
        let mut v: Value = serde_json::from_str(EXAMPLES[example]).expect("example is JSON");
        let mut n = pick;
        replace_nth(&mut v, &mut n, &with);
        decode_all(&serde_json::to_vec(&v).expect("encodes"));
    }

    #[test]
    fn deep_nesting_never_panics(depth in 1usize..100_000, open in prop::sample::select(vec![b'[', b'{'])) {
        let mut body = vec![open; depth];
        if open == b'{' {
            body = b"{\"a\":".repeat(depth);
        }
        decode_all(&body);
    }
}

/// The examples themselves still decode: the mutations above start from valid messages.
#[test]
fn the_examples_decode() {
    assert!(JobRequest::decode(EXAMPLES[0].as_bytes()).is_ok());
    assert!(DeviceTask::decode(EXAMPLES[4].as_bytes()).is_ok());
    assert!(TaskResult::decode(EXAMPLES[6].as_bytes()).is_ok());
    assert!(TaskResults::decode(EXAMPLES[8].as_bytes()).is_ok());
}
