//! Decoding the wire contract: what is accepted and what is refused, and why.

use super::*;

#[test]
fn decodes_a_minimal_request() {
    let r = JobRequest::decode(
        br#"{"version":1,"request_id":"r1","job_type":"config_backup","targets":{"tags":["core"]}}"#,
    );
    let r = r.expect("valid request");
    assert_eq!(r.targets.tags, vec!["core".to_string()]);
    assert!(r.commands.is_empty());
}

#[test]
fn request_id_length_counts_characters_not_bytes() {
    let id = "é".repeat(MAX_REQUEST_ID_LEN);
    let body = format!(r#"{{"version":1,"request_id":"{id}","job_type":"x"}}"#);
    assert!(JobRequest::decode(body.as_bytes()).is_ok());
    let body = format!(r#"{{"version":1,"request_id":"{id}é","job_type":"x"}}"#);
    assert!(JobRequest::decode(body.as_bytes()).is_err());
}

#[test]
fn refuses_malformed_requests_with_a_reason() {
    for (body, needle) in [
        (&b"not json"[..], "not a valid job request"),
        (br#"{"version":1,"request_id":"r","job_type":"x","bogus":1}"#, "unknown field"),
        (br#"{"version":2,"request_id":"r","job_type":"x"}"#, "version 2"),
        (br#"{"version":1,"request_id":"","job_type":"x"}"#, "request_id"),
        (br#"{"version":1,"job_type":"x"}"#, "request_id"),
        (br#"[1,"r1","config_backup"]"#, "must be a JSON object"),
        (br#"{"version":1,"request_id":"r","job_type":"x","targets":[["t"]]}"#, "targets must be"),
        (br#"{"version":1,"request_id":"r","job_type":"x","limits":{"host_key_policy":{"strict":null}}}"#, "must be a string"),
        (br#"{"version":1,"request_id":"r\u0000","job_type":"x"}"#, "NUL"),
        (
            br#"{"version":1,"request_id":"r","job_type":"x","limits":{"host_key_policy":"maybe"}}"#,
            "unknown variant",
        ),
        (br#"{"version":1,"request_id":"r","job_type":"x","priority":"urgent"}"#, "unknown variant"),
        (br#"{"version":1,"request_id":"r","job_type":"x","priority":{"high":null}}"#, "priority must be a string"),
    ] {
        let err = JobRequest::decode(body).expect_err("must be refused");
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
}

/// A decoder quotes an unknown field's name whole: a request or a cancel with one huge
/// name is refused with a reason of about a kilobyte, which a reply, a dead
/// letter's header (one AMQP frame) and a log line can carry.
#[test]
fn a_reason_quoting_a_huge_field_is_clipped() {
    let name = "A".repeat(900_000);
    let request =
        format!(r#"{{"version":1,"request_id":"r","job_type":"config_backup","{name}":0}}"#);
    let err = JobRequest::decode(request.as_bytes()).expect_err("must be refused");
    assert!(
        err.starts_with("not a valid job request: unknown field `AAAA"),
        "{}",
        &err[..80]
    );
    assert!(err.ends_with("bytes cut)"), "{}", &err[err.len() - 40..]);
    assert!(
        err.len() <= crate::text::MAX_REASON_BYTES + 32,
        "{} bytes",
        err.len()
    );
    // A cancel is at most 4 KiB: a 3,000-byte name.
    let cancel = format!(
        r#"{{"version":1,"job_id":"01955f3a-7c41-7d2e-b8a3-4f6e2c9d1b70","{}":0}}"#,
        &name[..3000]
    );
    let err = JobCancel::decode(cancel.as_bytes()).expect_err("must be refused");
    assert!(err.contains("AAAA") && err.ends_with("bytes cut)"), "{err}");
    assert!(
        err.len() <= crate::text::MAX_REASON_BYTES + 32,
        "{} bytes",
        err.len()
    );
}

/// A request whose `targets` member is `targets` (raw JSON).
fn with_targets(targets: &str) -> Vec<u8> {
    format!(r#"{{"version":1,"request_id":"r","job_type":"config_backup","targets":{targets}}}"#)
        .into_bytes()
}

/// A JSON list of `n` copies of `item`.
fn list_of(n: usize, item: &str) -> String {
    format!("[{}]", vec![item; n].join(","))
}

#[test]
fn a_body_over_the_size_limit_is_refused_before_it_is_decoded() {
    // Not even JSON: the size alone refuses it.
    let body = vec![b'x'; MAX_REQUEST_BYTES + 1];
    let err = JobRequest::decode(&body).expect_err("too big");
    assert_eq!(
        err,
        format!(
            "job request of {} bytes is over the limit of {MAX_REQUEST_BYTES} bytes",
            MAX_REQUEST_BYTES + 1
        )
    );
}

#[test]
fn every_list_is_refused_past_its_limit_by_name() {
    for (targets, field, max) in [
        (r#"{"devices":X}"#, "targets.devices", MAX_TARGET_DEVICES),
        (
            r#"{"device_ids":X}"#,
            "targets.device_ids",
            MAX_TARGET_DEVICES,
        ),
        (r#"{"tags":X}"#, "targets.tags", MAX_TARGET_TAGS),
    ] {
        let item = if field == "targets.device_ids" {
            "7"
        } else {
            r#""a""#
        };
        let at_limit = with_targets(&targets.replace('X', &list_of(max, item)));
        let request = JobRequest::decode(&at_limit).expect("at the limit");
        assert_eq!(
            request.targets.devices.len()
                + request.targets.device_ids.len()
                + request.targets.tags.len(),
            max
        );
        let over = with_targets(&targets.replace('X', &list_of(max + 1, item)));
        let err = JobRequest::decode(&over).expect_err("over the limit");
        assert!(
            err.contains(&format!("{field} has more than {max} entries")),
            "{err}"
        );
    }
    let commands = format!(
        r#"{{"version":1,"request_id":"r","job_type":"command","commands":{}}}"#,
        list_of(MAX_COMMANDS + 1, r#""show clock""#)
    );
    let err = JobRequest::decode(commands.as_bytes()).expect_err("too many commands");
    assert!(err.contains("commands has more than 100 entries"), "{err}");
}

#[test]
fn every_string_is_refused_past_its_limit_by_name() {
    let long = "é".repeat(MAX_STRING_CHARS + 1);
    let fits = "é".repeat(MAX_STRING_CHARS);
    for (body, field) in [
        (
            format!(r#"{{"version":1,"request_id":"r","job_type":"{long}"}}"#),
            "job_type",
        ),
        (
            String::from_utf8(with_targets(&format!(r#"{{"tags":["{long}"]}}"#))).expect("UTF-8"),
            "targets.tags",
        ),
        (
            format!(
                r#"{{"version":1,"request_id":"r","job_type":"command","commands":["{long}"]}}"#
            ),
            "commands",
        ),
        (
            format!(r#"{{"version":1,"request_id":"r","job_type":"x","submitted_by":"{long}"}}"#),
            "submitted_by",
        ),
    ] {
        let err = JobRequest::decode(body.as_bytes()).expect_err("too long");
        assert!(
            err.contains(&format!(
                "{field} holds a string over the limit of 1024 characters"
            )),
            "{err}"
        );
        // The same string at the limit is well-formed.
        let body = body.replace(&long, &fits);
        assert!(JobRequest::decode(body.as_bytes()).is_ok(), "{field}");
    }
    let body = br#"{"version":1,"request_id":"r","job_type":"x","submitted_by":null}"#;
    assert_eq!(JobRequest::decode(body).expect("null").submitted_by, None);
}

#[test]
fn decodes_a_cancel_and_refuses_malformed_ones_with_a_reason() {
    let ok = JobCancel::decode(
        br#"{"version":1,"job_id":"0193f0a2-5b7c-7d3e-9a41-2c5e8f1b6d70","reason":"wrong tag"}"#,
    )
    .expect("valid cancel");
    assert_eq!(ok.reason.as_deref(), Some("wrong tag"));
    assert!(
        JobCancel::decode(br#"{"version":1,"job_id":"0193f0a2-5b7c-7d3e-9a41-2c5e8f1b6d70"}"#)
            .expect("no reason")
            .reason
            .is_none()
    );
    let long = "x".repeat(MAX_CANCEL_REASON_CHARS + 1);
    let long = format!(
        r#"{{"version":1,"job_id":"0193f0a2-5b7c-7d3e-9a41-2c5e8f1b6d70","reason":"{long}"}}"#
    );
    for (body, needle) in [
        (&b"not json"[..], "not a valid job cancel"),
        (br#"[1,"0193f0a2-5b7c-7d3e-9a41-2c5e8f1b6d70"]"#, "JSON object"),
        (
            br#"{"version":1,"job_id":"0193f0a2-5b7c-7d3e-9a41-2c5e8f1b6d70","cancelled_by":"root"}"#,
            "unknown field",
        ),
        (br#"{"version":2,"job_id":"0193f0a2-5b7c-7d3e-9a41-2c5e8f1b6d70"}"#, "version 2"),
        (br#"{"version":1,"job_id":"job-7"}"#, "job_id"),
        (br#"{"version":1}"#, "job_id"),
        (
            br#"{"version":1,"job_id":"0193f0a2-5b7c-7d3e-9a41-2c5e8f1b6d70","reason":"a\nb"}"#,
            "control character",
        ),
        (long.as_bytes(), "at most 500 characters"),
    ] {
        let err = JobCancel::decode(body).expect_err("must be refused");
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
    let huge = vec![b' '; MAX_CANCEL_BYTES + 1];
    let err = JobCancel::decode(&huge).expect_err("too big");
    assert!(err.contains("over the limit"), "{err}");
}

#[test]
fn cancel_answers_have_their_wire_names() {
    for a in CancelAnswer::ALL {
        assert_eq!(
            serde_json::to_string(a).expect("encodes"),
            format!("\"{}\"", a.as_str())
        );
    }
}

#[test]
fn priority_is_optional_and_named() {
    use crate::domain::Priority;
    let absent = JobRequest::decode(br#"{"version":1,"request_id":"r","job_type":"x"}"#)
        .expect("no priority");
    assert_eq!(absent.priority, None);
    let high =
        JobRequest::decode(br#"{"version":1,"request_id":"r","job_type":"x","priority":"high"}"#)
            .expect("high");
    assert_eq!(high.priority, Some(Priority::High));
    let null =
        JobRequest::decode(br#"{"version":1,"request_id":"r","job_type":"x","priority":null}"#)
            .expect("null is absent");
    assert_eq!(null.priority, None);
}
