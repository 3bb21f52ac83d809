//! Tests of sealing, opening, rotation and the key-file edits.

use super::*;
use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

fn ring(lines: &[String]) -> KeyRing {
    KeyRing::parse(&lines.join("\n")).expect("valid ring")
}

#[test]
fn seals_and_opens_without_leaking_the_plaintext() {
    let line = KeyRing::generate_line().expect("key");
    let material = line.split(' ').nth(1).expect("material").to_string();
    let r = ring(&[line]);
    let sealed = r.seal(&SecretString::from("hunter2")).expect("seal");
    assert!(sealed.starts_with("nrv1:k"));
    assert!(!sealed.contains("hunter2"));
    assert_ne!(
        sealed,
        r.seal(&SecretString::from("hunter2")).expect("seal")
    );
    assert_eq!(r.open(&sealed).expect("open").expose_secret(), "hunter2");
    assert!(!format!("{r:?}").contains(&material));
}

#[test]
fn old_keys_still_open_after_rotation() {
    let old = format!("old {}", B64.encode([1u8; 32]));
    let new = format!("new {}", B64.encode([2u8; 32]));
    let sealed_old = ring(std::slice::from_ref(&old))
        .seal(&SecretString::from("s"))
        .expect("seal");
    let rotated = ring(&[new, old]);
    assert_eq!(
        rotated.open(&sealed_old).expect("open").expose_secret(),
        "s"
    );
    assert!(!rotated.is_current(&sealed_old));
    assert!(rotated.is_current(&rotated.seal(&SecretString::from("s")).expect("seal")));
}

#[test]
fn tampering_and_unknown_keys_are_refused() {
    let r = ring(&[format!("a {}", B64.encode([3u8; 32]))]);
    let sealed = r.seal(&SecretString::from("secret")).expect("seal");
    let mut tampered = sealed.clone();
    tampered.pop();
    tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
    assert!(r.open(&tampered).is_err());
    let other = ring(&[format!("b {}", B64.encode([4u8; 32]))]);
    let err = other.open(&sealed).expect_err("unknown key").to_string();
    assert!(err.contains("\"a\""), "{err}");
    assert!(KeyRing::parse("").is_err());
    assert!(KeyRing::parse("x c2hvcnQ=").is_err());
}

#[test]
fn ring_file_adds_promotes_and_removes_keys_keeping_comments() {
    let old = format!("old {}", B64.encode([1u8; 32]));
    let text = format!("# header\n{old}\n# trailing note\n");
    let (added, new_id) = ring_file::add_key(&text).expect("add");
    let ring = KeyRing::parse(&added).expect("valid");
    assert_eq!(ring.key_ids(), vec!["old", new_id.as_str()]);
    assert_eq!(ring.sealing_key_id(), "old", "a new key does not seal yet");
    assert!(added.starts_with("# header\n"));
    assert!(added.contains("# trailing note\n"));

    let promoted = ring_file::promote(&added, &new_id).expect("promote");
    let ring = KeyRing::parse(&promoted).expect("valid");
    assert_eq!(ring.key_ids(), vec![new_id.as_str(), "old"]);
    assert!(promoted.starts_with("# header\n"));
    assert_eq!(
        ring_file::promote(&promoted, &new_id).expect("again"),
        promoted,
        "promoting the sealing key changes nothing"
    );
    let sealed = KeyRing::parse(&old)
        .expect("ring")
        .seal(&SecretString::from("s"))
        .expect("seal");
    assert_eq!(sealed_key_id(&sealed), Some("old"));
    assert_eq!(
        ring.open(&sealed).expect("old still opens").expose_secret(),
        "s"
    );

    let err = ring_file::remove(&promoted, &new_id).expect_err("sealing key");
    assert!(err.to_string().contains("sealing key"), "{err}");
    let err = ring_file::remove(&promoted, "nope").expect_err("unknown");
    assert!(err.to_string().contains("no key \"nope\""), "{err}");
    let retired = ring_file::remove(&promoted, "old").expect("retire");
    let ring = KeyRing::parse(&retired).expect("valid");
    assert_eq!(ring.key_ids(), vec![new_id.as_str()]);
    assert!(retired.contains("# trailing note\n"));
    assert!(matches!(ring.open(&sealed), Err(Error::UnknownKey(id)) if id == "old"));
    assert!(ring_file::promote(&retired, "old").is_err());
    assert!(ring_file::add_key("not a ring").is_err());
    assert_eq!(sealed_key_id("plain"), None);
}
