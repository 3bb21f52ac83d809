//! Tests of signing and verifying: groups, issuers, key files.

use super::merkle::root_of;
use super::*;
use crate::config::SigningSettings;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

fn keys() -> SigningKeys {
    let text = format!(
        "{}\n{}\n",
        SigningKeys::generate_line(Issuer::Dispatcher).expect("key"),
        SigningKeys::generate_line(Issuer::Worker).expect("key")
    );
    SigningKeys::parse(&text).expect("parses")
}

#[test]
fn a_signed_message_verifies_and_any_change_is_refused() {
    let own = keys();
    let signer = own.signer(Purpose::DeviceTask, "ns").expect("signer");
    let trusted = TrustedKeys::parse(&own.public_lines()).expect("public");
    let verifier = trusted
        .verifier(Purpose::DeviceTask, "ns")
        .expect("verifier");
    let body = br#"{"device":{"host":"10.0.0.1","port":22}}"#;
    let sig = signer.sign(body);
    assert_eq!(verifier.verify(body, Some(&sig), None), Ok(()));

    let altered = br#"{"device":{"host":"10.6.6.6","port":22}}"#;
    assert!(matches!(
        verifier.verify(altered, Some(&sig), None),
        Err(Rejection::BadSignature(_))
    ));
    assert_eq!(verifier.verify(body, None, None), Err(Rejection::Unsigned));
    assert_eq!(
        verifier.verify(body, Some("ed25519 only-two"), None),
        Err(Rejection::Malformed)
    );
    // The same bytes in another namespace, or as results, do not pass.
    let elsewhere = trusted.verifier(Purpose::DeviceTask, "other").expect("v");
    assert!(elsewhere.verify(body, Some(&sig), None).is_err());
    let as_results = trusted.verifier(Purpose::TaskResults, "ns").expect("v");
    assert!(as_results.verify(body, Some(&sig), None).is_err());
}

#[test]
fn every_member_of_a_group_verifies_and_nothing_else_does() {
    let own = keys();
    let signer = own.signer(Purpose::DeviceTask, "ns").expect("signer");
    let trusted = TrustedKeys::parse(&own.public_lines()).expect("public");
    for n in [1, 2, 3, 5, 63, 64] {
        let bodies: Vec<Vec<u8>> = (0..n).map(|i| format!("task {i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        let group = signer.sign_group(&refs);
        // A fresh verifier each time, so that every check does the signature's work.
        for (i, body) in bodies.iter().enumerate() {
            let v = trusted.verifier(Purpose::DeviceTask, "ns").expect("v");
            let proof = Some(group.proofs[i].as_str());
            assert_eq!(
                v.verify(body, Some(&group.signature), proof),
                Ok(()),
                "{n}/{i}"
            );
            // Another member's proof, another body, no proof: refused.
            let other = &group.proofs[(i + 1) % n];
            if n > 1 {
                assert!(v.verify(body, Some(&group.signature), Some(other)).is_err());
                assert!(v.verify(body, Some(&group.signature), None).is_err());
            }
            assert!(v.verify(b"forged", Some(&group.signature), proof).is_err());
        }
    }
    // A remembered root does not make an altered member pass.
    let bodies: Vec<&[u8]> = vec![b"a", b"b", b"c"];
    let group = signer.sign_group(&bodies);
    let v = trusted.verifier(Purpose::DeviceTask, "ns").expect("v");
    assert_eq!(
        v.verify(b"a", Some(&group.signature), Some(&group.proofs[0])),
        Ok(())
    );
    assert!(v
        .verify(b"x", Some(&group.signature), Some(&group.proofs[0]))
        .is_err());
    // Proofs too deep or pointing past their path are malformed.
    let deep = format!("0 {}", B64.encode([0u8; 32 * 7]));
    assert_eq!(root_of([0; 32], Some(&deep)), Err(Rejection::Malformed));
    let past = format!("4 {}", B64.encode([0u8; 64]));
    assert_eq!(root_of([0; 32], Some(&past)), Err(Rejection::Malformed));
}

#[test]
fn a_worker_key_cannot_sign_tasks() {
    let own = keys();
    let trusted = TrustedKeys::parse(&own.public_lines()).expect("public");
    let tasks = trusted
        .verifier(Purpose::DeviceTask, "ns")
        .expect("verifier");
    // A worker signing a task with its own key, relabelled as anything: refused.
    let worker = own
        .signer(Purpose::TaskResults, "ns")
        .expect("worker signer");
    let body = b"{}";
    let forged = worker.sign(body);
    assert!(matches!(
        tasks.verify(body, Some(&forged), None),
        Err(Rejection::UnknownKey(_, Issuer::Dispatcher))
    ));
}

#[test]
fn own_keys_are_trusted_and_nothing_prints_a_seed() {
    let line = SigningKeys::generate_line(Issuer::Dispatcher).expect("key");
    let seed = line.split(' ').nth(2).expect("seed").to_string();
    let settings = SigningSettings {
        key: Some(line.clone().into()),
        ..SigningSettings::default()
    };
    let own = SigningKeys::from_settings(&settings)
        .expect("loads")
        .expect("some");
    assert!(!format!("{own:?}").contains(&seed));
    assert!(!own.public_lines().contains(&seed));
    let trusted = TrustedKeys::from_settings(&settings).expect("trusted");
    assert!(trusted.verifier(Purpose::DeviceTask, "ns").is_ok());
    let err = trusted
        .verifier(Purpose::TaskResults, "ns")
        .expect_err("no worker key");
    assert!(err.to_string().contains("no trusted worker key"), "{err}");
}

#[test]
fn key_files_are_checked_line_by_line() {
    for (text, why) in [
        ("", "holds no key"),
        ("admin k1 AAAA", "issuer"),
        ("worker k1", "expected"),
        ("worker k/1 AAAA", "key id"),
        ("worker k1 not-base64!", "not base64"),
        ("worker k1 c2hvcnQ=", "32 bytes"),
    ] {
        let err = SigningKeys::parse(text).expect_err(text).to_string();
        assert!(err.contains(why), "{text}: {err}");
    }
    let line = SigningKeys::generate_line(Issuer::Worker).expect("key");
    let twice = format!("{line}\n{line}\n");
    assert!(SigningKeys::parse(&twice)
        .expect_err("twice")
        .to_string()
        .contains("twice"));
}
