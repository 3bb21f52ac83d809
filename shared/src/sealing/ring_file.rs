//! Edits of the key-file text. Each returns the new text, already parsed as a valid ring,
//! and leaves comments and the other key lines untouched.

use super::key_ring::KeyRing;
use crate::{Error, Result};

/// The id on a key line, or `None` for a blank or comment line.
fn line_id(line: &str) -> Option<&str> {
    line.split('#').next()?.split_whitespace().next()
}

fn check(text: String) -> Result<(String, KeyRing)> {
    let ring = KeyRing::parse(&text)?;
    Ok((text, ring))
}

fn with_newline(text: &str) -> String {
    let mut t = text.to_string();
    if !t.is_empty() && !t.ends_with('\n') {
        t.push('\n');
    }
    t
}

/// Appends a new key after every other: it opens, it does not seal yet. Returns the new
/// text and the new key's id.
pub fn add_key(text: &str) -> Result<(String, String)> {
    KeyRing::parse(text)?;
    let line = KeyRing::generate_line()?;
    let id = line_id(&line).unwrap_or_default().to_string();
    let (text, _) = check(format!("{}{line}\n", with_newline(text)))?;
    Ok((text, id))
}

/// Moves key `id` in front of the others, so that it seals.
pub fn promote(text: &str, id: &str) -> Result<String> {
    if !KeyRing::parse(text)?.contains(id) {
        return Err(Error::Key(format!("the key ring holds no key {id:?}")));
    }
    let mut promoted = None;
    let mut rest = Vec::new();
    for line in text.lines() {
        if line_id(line) == Some(id) {
            promoted = Some(line);
        } else {
            rest.push(line);
        }
    }
    let promoted = promoted.unwrap_or_default();
    // The promoted line takes the place of the first key line; comments above stay.
    let first_key = rest.iter().position(|l| line_id(l).is_some());
    let at = first_key.unwrap_or(rest.len());
    rest.insert(at, promoted);
    let (text, ring) = check(with_newline(&rest.join("\n")))?;
    debug_assert_eq!(ring.sealing_key_id(), id);
    Ok(text)
}

/// Removes key `id`. Refuses the sealing key and the last key.
pub fn remove(text: &str, id: &str) -> Result<String> {
    let ring = KeyRing::parse(text)?;
    if !ring.contains(id) {
        return Err(Error::Key(format!("the key ring holds no key {id:?}")));
    }
    if ring.sealing_key_id() == id {
        return Err(Error::Key(format!(
            "{id:?} is the sealing key (the first in the ring); reseal under another key first"
        )));
    }
    let kept: Vec<&str> = text.lines().filter(|l| line_id(l) != Some(id)).collect();
    Ok(check(with_newline(&kept.join("\n")))?.0)
}
