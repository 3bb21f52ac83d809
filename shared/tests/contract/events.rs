//! The CloudEvents attributes of events: the header examples in
//! `docs/examples/event-headers/` hold against their schema and are exactly what NetRaven
//! writes for the body example of the same name.

use crate::common::{docs, files, parse, read, schema, schema_errors, serde_decode};
use netraven_shared::messages::{CloudEvent, ConfigChangedEvent, EventRole, JobEvent};
use serde_json::Value;
use std::path::Path;

/// The attributes in a headers example (a JSON object of header names and strings).
pub fn attributes(headers: &Value) -> Result<CloudEvent, String> {
    CloudEvent::from_headers(|name| headers[name].as_str().map(str::to_string))
}

/// What NetRaven writes as the attributes of the event in `body`, sent by the role that
/// `source` names.
fn written(body: &[u8], source: &str) -> CloudEvent {
    let role = if source.ends_with("/aggregator") {
        EventRole::Aggregator
    } else {
        EventRole::Dispatcher
    };
    let namespace = source
        .strip_prefix("/netraven/")
        .and_then(|s| s.rsplit_once('/'))
        .map(|(ns, _)| ns)
        .expect("a source /netraven/<ns>/<role>");
    let source = CloudEvent::source(namespace, role);
    match serde_decode::<JobEvent>(body) {
        Ok(event) => event.cloud_event(source),
        Err(_) => serde_decode::<ConfigChangedEvent>(body)
            .expect("a job event or a configuration change")
            .cloud_event(source),
    }
}

fn check(path: &Path, body_path: &Path) {
    let validator = schema("event-headers");
    let headers = parse(path);
    let bytes = read(path);
    assert!(
        validator.is_valid(&headers),
        "{}: {}",
        path.display(),
        schema_errors(&validator, &bytes)
    );
    let found = attributes(&headers).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let body = read(body_path);
    assert_eq!(
        found,
        written(&body, &found.source),
        "{} is not what NetRaven writes for {}",
        path.display(),
        body_path.display()
    );
    // `time` is the body's `at`, to the character.
    let at = parse(body_path)["at"].clone();
    assert_eq!(headers["cloudEvents:time"], at, "{}", path.display());
}

#[test]
fn every_event_example_has_its_headers_and_they_match_the_body() {
    let examples = docs().join("examples");
    let dir = examples.join("event-headers");
    let mut bodies = 0;
    for body_path in files(&examples) {
        let name = body_path.file_name().expect("name").to_string_lossy();
        if name.starts_with("job-event") || name.starts_with("config-changed") {
            check(&dir.join(&*name), &body_path);
            bodies += 1;
        }
    }
    assert!(bodies >= 5, "only {bodies} event examples");
    assert_eq!(
        files(&dir).len(),
        bodies,
        "headers without a body in {dir:?}"
    );
}

#[test]
fn the_headers_schema_refuses_what_consumers_could_not_take() {
    let validator = schema("event-headers");
    let good = parse(
        &docs()
            .join("examples")
            .join("event-headers")
            .join("job-event-completed.json"),
    );
    assert!(validator.is_valid(&good));
    // The reader checks what a consumer needs to trust (present, `specversion`, `time`);
    // the schema also pins `source` and `type` to what NetRaven writes.
    for (name, bad, reader_refuses) in [
        ("cloudEvents:specversion", Value::from("0.3"), true),
        ("cloudEvents:id", Value::from(""), true),
        (
            "cloudEvents:source",
            Value::from("netraven/aggregator"),
            false,
        ),
        ("cloudEvents:type", Value::from("job.completed"), false),
        ("cloudEvents:time", Value::from("yesterday"), true),
        ("cloudEvents:subject", Value::Null, true),
    ] {
        let mut headers = good.clone();
        headers[name] = bad.clone();
        assert!(!validator.is_valid(&headers), "schema takes {name} = {bad}");
        assert_eq!(
            attributes(&headers).is_err(),
            reader_refuses,
            "{name} = {bad}"
        );
        headers.as_object_mut().expect("object").remove(name);
        assert!(!validator.is_valid(&headers), "schema takes no {name}");
        assert!(attributes(&headers).is_err(), "reader takes no {name}");
    }
}
