//! Masking: every password and secret hidden before settings or URLs are shown
//! ([`Settings::show`](super::Settings::show) masks its tree here).

/// What a masked secret shows.
pub(super) const MASK: &str = "********";

/// Masks every password in a connection string, in each form our clients accept:
///
/// - a URL's userinfo, `scheme://user:password@host` (`postgres`, `amqp`, `amqps`, …),
///   multi-host (`postgres://u:p@h1,h2/db`), percent-encoded or not. The password is
///   masked up to the first `@` (where tokio-postgres ends it) or the last `@` of the
///   authority (where a URL parser ends it), whichever is later, so that no parser's
///   reading of it is left visible;
/// - parameters naming a password (`password`, `sslpassword`, …, also percent-encoded):
///   URL queries (`?password=…&…`) and libpq `key=value` strings
///   (`host=db password='it\'s secret'`), quoted values whole.
///
/// Everything else stays, so the masked string still says where it connects.
pub fn mask_url(url: &str) -> String {
    mask_params(&mask_userinfo(url))
}

fn mask_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    // This URL ends at the first white space: a second URL after it is masked on its own.
    let url_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let this = &rest[..url_end];
    let authority_end = this.find(['/', '?', '#']).unwrap_or(this.len());
    let end = this.find('@').max(this[..authority_end].rfind('@'));
    let masked = match end.and_then(|end| this[..end].find(':').map(|colon| (colon, end))) {
        Some((colon, end)) => format!("{}:{MASK}{}", &this[..colon], &this[end..]),
        None => this.to_string(),
    };
    format!(
        "{}{masked}{}",
        &url[..scheme_end],
        mask_userinfo(&rest[url_end..])
    )
}

/// A connection parameter whose value is a password.
fn is_password_param(name: &str) -> bool {
    let name = percent_decode_lossy(name).to_ascii_lowercase();
    ["password", "passwd", "pwd", "secret", "token"]
        .iter()
        .any(|w| name.contains(w))
}

fn percent_decode_lossy(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Masks the values of `name=value` parameters that name a password, where a parameter
/// starts the string or follows whitespace, `?`, `&` or `;`.
fn mask_params(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        // libpq starts a parameter after white space or a quoted value's closing quote; a
        // URL query after `?` or `&`.
        let starts =
            i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'?' | b'&' | b';' | b'\'');
        let name_len = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'%' | b'.'))
            .count();
        if !starts || name_len == 0 {
            i += 1;
            continue;
        }
        let name = &s[i..i + name_len];
        let mut j = i + name_len;
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        if j >= b.len() || b[j] != b'=' || !is_password_param(name) {
            i += name_len.max(1);
            continue;
        }
        j += 1;
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        let (start, end) = if b.get(j) == Some(&b'\'') {
            // libpq: a quoted value, `\'` and `\\` escaped; masked up to its closing quote
            // (to the end when it has none).
            let mut k = j + 1;
            while k < b.len() && b[k] != b'\'' {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            (j + 1, k.min(b.len()))
        } else {
            // Unquoted: a URL query's value ends at `&` (not at `#`: tokio-postgres reads
            // on); a key=value string's at white space that no backslash escapes.
            let in_query = i > 0 && matches!(b[i - 1], b'?' | b'&');
            let mut k = j;
            while k < b.len() && !b[k].is_ascii_whitespace() && !(in_query && b[k] == b'&') {
                k += if b[k] == b'\\' && !in_query { 2 } else { 1 };
            }
            (j, k.min(b.len()))
        };
        if end > start {
            out.push_str(&s[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        i = end.max(j).max(i + 1);
    }
    out.push_str(&s[copied..]);
    out
}

/// A setting whose value is secret material whatever it looks like: inline keys,
/// passwords and tokens. Paths to such material end in `_file` and are shown.
fn is_secret_setting(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["key", "password", "passphrase", "secret", "token"].contains(&name.as_str())
        || ["_key", "_password", "_passphrase", "_secret", "_token"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// Masks, in place, every secret in a settings tree: secret settings by name, inline PEM
/// private keys anywhere, and passwords inside every string ([`mask_url`]).
pub(super) fn mask_tree(name: Option<&str>, v: &mut toml::Value) {
    match v {
        toml::Value::String(s) => {
            if (!s.is_empty() && name.is_some_and(is_secret_setting)) || s.contains("PRIVATE KEY") {
                *s = MASK.to_string();
            } else {
                *s = mask_url(s);
            }
        }
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                mask_tree(Some(k), v);
            }
        }
        toml::Value::Array(a) => {
            for v in a.iter_mut() {
                mask_tree(name, v);
            }
        }
        _ => {}
    }
}
