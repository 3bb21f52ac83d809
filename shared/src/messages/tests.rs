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
    ] {
        let err = JobRequest::decode(body).expect_err("must be refused");
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
}
