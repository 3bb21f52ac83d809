//! What a device sent, as it will be stored: text where it is text, and the exact bytes
//! beside a text form where it is not.
//!
//! Postgres `text` refuses a NUL byte and bytes that are not UTF-8, so a configuration
//! holding either cannot be stored as text at all, and one lossy conversion would lose
//! what the device said. A [`DeviceText`] keeps both: `text` is always storable (valid
//! UTF-8, no NUL) and is what search, diff and the views read; `exact` holds the bytes the
//! device sent whenever `text` is not them. docs/data-model.md has the rule.

use crate::redact;

/// A device's output: storable text, and the exact bytes when the text is not them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceText {
    text: String,
    exact: Option<Vec<u8>>,
}

impl DeviceText {
    /// Output as received (an exec channel's stdout). Valid UTF-8 without NUL, nearly
    /// all of it, is taken as it is without a copy; anything else keeps its bytes, and its
    /// text form has U+FFFD where a NUL or an invalid sequence was.
    pub fn from_bytes(bytes: Vec<u8>) -> DeviceText {
        match String::from_utf8(bytes) {
            Ok(text) => DeviceText::from_text(text),
            Err(e) => {
                let bytes = e.into_bytes();
                let text = String::from_utf8_lossy(&bytes).replace('\0', "\u{fffd}");
                DeviceText {
                    text,
                    exact: Some(bytes),
                }
            }
        }
    }

    /// Output that is UTF-8 already (what a shell's terminal shows); kept as bytes only
    /// if it holds a NUL.
    pub fn from_text(text: String) -> DeviceText {
        if text.contains('\0') {
            DeviceText {
                text: text.replace('\0', "\u{fffd}"),
                exact: Some(text.into_bytes()),
            }
        } else {
            DeviceText { text, exact: None }
        }
    }

    /// The storable text form: valid UTF-8 without NUL.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The exact bytes, when the text form is not them.
    pub fn exact(&self) -> Option<&[u8]> {
        self.exact.as_deref()
    }

    /// What the device sent, byte for byte.
    pub fn as_bytes(&self) -> &[u8] {
        self.exact.as_deref().unwrap_or(self.text.as_bytes())
    }

    /// Bytes the device sent.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// With secrets removed ([`redact`]): from the exact bytes when there are some, so
    /// the bytes stored never hold a secret the text form lost.
    pub fn redacted(self) -> DeviceText {
        match self.exact {
            None => DeviceText {
                text: redact::redact(&self.text),
                exact: None,
            },
            Some(bytes) => DeviceText::from_bytes(redact::redact_bytes(&bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_stays_text_without_a_copy_of_bytes() {
        let t = DeviceText::from_bytes(b"hostname r1\n\x1b[31mred\x1b[0m\n".to_vec());
        assert_eq!(t.exact(), None);
        assert_eq!(t.text(), "hostname r1\n\u{1b}[31mred\u{1b}[0m\n");
        assert_eq!(t.as_bytes(), b"hostname r1\n\x1b[31mred\x1b[0m\n");
    }

    #[test]
    fn nul_and_invalid_utf8_keep_their_bytes_and_a_storable_text() {
        for raw in [&b"a\0b\n"[..], b"caf\xe9 \xff\n", b"\0\xc3"] {
            let t = DeviceText::from_bytes(raw.to_vec());
            assert_eq!(t.as_bytes(), raw);
            assert_eq!(t.len(), raw.len());
            assert!(!t.text().contains('\0'));
            assert!(t.text().contains('\u{fffd}'), "{:?}", t.text());
        }
        let t = DeviceText::from_text("x\0y".into());
        assert_eq!((t.text(), t.exact()), ("x\u{fffd}y", Some(&b"x\0y"[..])));
    }

    #[test]
    fn redaction_reaches_the_exact_bytes() {
        let raw = b"enable secret 5 $1$abcd$efgh\n description caf\xe9\n".to_vec();
        let t = DeviceText::from_bytes(raw).redacted();
        let bytes = t.as_bytes();
        assert!(!bytes.windows(4).any(|w| w == b"abcd"), "{bytes:?}");
        assert!(bytes.starts_with(b"enable secret 5 <removed>\n"));
        assert!(bytes.ends_with(b" description caf\xe9\n"), "kept as sent");
        assert!(!t.text().contains("abcd"));
    }
}
