//! Keyset pagination: a page is the rows after the last key of the page before, in a fixed
//! order, so a page costs the same however deep it is and rows added meanwhile neither
//! repeat nor vanish. The key travels to the client as an opaque cursor (base64url of its
//! JSON), checked when it comes back.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One page of `T`, and the cursor to the next when there may be one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` fetched with a limit of `limit + 1`: the extra row says there is a next page,
    /// whose cursor is the key of the last row kept.
    pub fn of<K: Serialize>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> K) -> Page<T> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = match rows.last() {
            Some(last) if more => Some(encode(&key(last))),
            _ => None,
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// A key as a cursor.
pub fn encode<K: Serialize>(key: &K) -> String {
    // A key is plain data (strings, numbers, times): it always serialises.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// A cursor back to its key; `None` when it is not one of ours.
pub fn decode<K: DeserializeOwned>(cursor: &str) -> Option<K> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow() {
        let page = Page::of(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        let cursor = page.next_cursor.expect("a next page");
        assert_eq!(decode::<i32>(&cursor), Some(2));
        assert!(Page::of(vec![1, 2], 2, |n| *n).next_cursor.is_none());
        assert_eq!(decode::<i32>("not a cursor!"), None);
    }
}
