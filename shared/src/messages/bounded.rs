//! Decoders that stop at a limit: a list longer than its bound, or a string longer than
//! [`MAX_STRING_CHARS`], fails the decode as soon as it is seen, before the rest is built.
//!
//! The job request's body is bounded too ([`super::MAX_REQUEST_BYTES`]), but a body that
//! fits can still hold hundreds of thousands of tiny entries; these keep what a request
//! may make the dispatcher build to what the documented limits allow.

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Longest accepted string anywhere in a job request (a device or tag name, a command,
/// the job type), in characters as JSON Schema's `maxLength` counts them (at most 4 KiB
/// of UTF-8).
pub const MAX_STRING_CHARS: usize = 1_024;

/// A string of at most [`MAX_STRING_CHARS`], checked before it is copied.
struct Str {
    field: &'static str,
}

impl<'de> Visitor<'de> for Str {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string of at most {MAX_STRING_CHARS} characters")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        // Bytes bound characters from above: most strings are settled without counting.
        if v.len() > MAX_STRING_CHARS && v.chars().count() > MAX_STRING_CHARS {
            return Err(E::custom(format!(
                "{} holds a string over the limit of {MAX_STRING_CHARS} characters",
                self.field
            )));
        }
        Ok(v.to_owned())
    }
}

impl<'de> DeserializeSeed<'de> for Str {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

/// One list entry: a string (bounded by [`Str`]) or a number.
trait Entry: Sized {
    fn next<'de, A: SeqAccess<'de>>(
        seq: &mut A,
        field: &'static str,
    ) -> Result<Option<Self>, A::Error>;
}

impl Entry for String {
    fn next<'de, A: SeqAccess<'de>>(
        seq: &mut A,
        field: &'static str,
    ) -> Result<Option<String>, A::Error> {
        seq.next_element_seed(Str { field })
    }
}

impl Entry for i64 {
    fn next<'de, A: SeqAccess<'de>>(
        seq: &mut A,
        _field: &'static str,
    ) -> Result<Option<i64>, A::Error> {
        seq.next_element()
    }
}

/// A list of at most `max` entries.
struct List<T> {
    field: &'static str,
    max: usize,
    entries: PhantomData<T>,
}

impl<'de, T: Entry> Visitor<'de> for List<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {} entries", self.max)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(entry) = T::next(&mut seq, self.field)? {
            if out.len() == self.max {
                return Err(de::Error::custom(format!(
                    "{} has more than {} entries, the limit",
                    self.field, self.max
                )));
            }
            out.push(entry);
        }
        Ok(out)
    }
}

fn list<'de, D: Deserializer<'de>, T: Entry>(
    d: D,
    field: &'static str,
    max: usize,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_seq(List {
        field,
        max,
        entries: PhantomData,
    })
}

fn string<'de, D: Deserializer<'de>>(d: D, field: &'static str) -> Result<String, D::Error> {
    d.deserialize_str(Str { field })
}

/// Entries a target list may hold: named devices, device ids.
pub const MAX_TARGET_DEVICES: usize = 10_000;
/// Tags a request may target.
pub const MAX_TARGET_TAGS: usize = 1_000;
/// Commands a `command` job may run.
pub const MAX_COMMANDS: usize = 100;

pub(super) fn target_devices<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, "targets.devices", MAX_TARGET_DEVICES)
}

pub(super) fn target_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    list(d, "targets.device_ids", MAX_TARGET_DEVICES)
}

pub(super) fn target_tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, "targets.tags", MAX_TARGET_TAGS)
}

pub(super) fn commands<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, "commands", MAX_COMMANDS)
}

pub(super) fn request_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string(d, "request_id")
}

pub(super) fn job_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string(d, "job_type")
}

pub(super) fn submitted_by<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    /// `null` or a bounded string.
    struct Optional;
    impl<'de> Visitor<'de> for Optional {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "null or a string of at most {MAX_STRING_CHARS} characters"
            )
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
            string(d, "submitted_by").map(Some)
        }
    }
    d.deserialize_option(Optional)
}
