//! The libpq parameters of a `postgres://` URL that tokio-postgres does not read:
//! `sslmode` (with `verify-ca` and `verify-full`), `sslrootcert`, `sslcert`, `sslkey`.
//! Settings validation and the connection code (`crate::db`) both read them here.

use std::path::PathBuf;
use std::str::FromStr;

/// libpq's `sslmode`, all but `allow` (plain first, TLS only if the server insists),
/// which no deployment should want. Ordered from the weakest to the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Plain text.
    Disable,
    /// TLS when the server offers it, plain otherwise; libpq's default, and ours when the
    /// URL names no mode. Protects only against someone who listens, not one who answers.
    Prefer,
    /// TLS or no connection; the certificate is checked only against `sslrootcert` when
    /// one is given (as libpq does).
    Require,
    /// TLS, and the server's certificate chains to `sslrootcert`.
    VerifyCa,
    /// As `verify-ca`, and the certificate names the host of the URL.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<SslMode, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other:?} is not supported: use disable, prefer, require, \
                     verify-ca or verify-full"
                ))
            }
        })
    }
}

/// The TLS parameters of a Postgres URL, as libpq names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParams {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// The parameters tokio-postgres cannot read, taken out of the URL; the password is
/// kept out of every message.
const TLS_PARAMS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// A parameter's value as libpq reads a URI: percent-decoded (a `+` stays a `+`).
fn percent_decode(s: &str) -> std::result::Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// Splits a `postgres://` URL into the URL tokio-postgres gets (without the TLS
/// parameters) and those parameters. Errors say which parameter is wrong, never the URL
/// (it may hold a password).
pub fn split_tls(url: &str) -> std::result::Result<(String, TlsParams), String> {
    let mut params = TlsParams {
        mode: SslMode::Prefer,
        root_cert: None,
        cert: None,
        key: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), params));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !TLS_PARAMS.contains(&name) {
            kept.push(pair);
            continue;
        }
        let value = percent_decode(value).map_err(|e| format!("{name}: {e}"))?;
        if value.is_empty() {
            return Err(format!("{name} is empty"));
        }
        match name {
            "sslmode" => params.mode = value.parse()?,
            "sslrootcert" => params.root_cert = Some(value.into()),
            "sslcert" => params.cert = Some(value.into()),
            _ => params.key = Some(value.into()),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, params))
}

impl TlsParams {
    /// Checks what can be checked before connecting: every named file exists, the modes
    /// that check a certificate have a CA to check it against, a certificate has its key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull) && self.root_cert.is_none()
        {
            let mode = if self.mode == SslMode::VerifyCa {
                "verify-ca"
            } else {
                "verify-full"
            };
            return Err(format!(
                "sslmode={mode} needs sslrootcert=<CA file> (the system's trust store is \
                 not used)"
            ));
        }
        match (&self.cert, &self.key) {
            (Some(_), None) => return Err("sslcert is set without sslkey".into()),
            (None, Some(_)) => return Err("sslkey is set without sslcert".into()),
            _ => {}
        }
        for (name, path) in [
            ("sslrootcert", &self.root_cert),
            ("sslcert", &self.cert),
            ("sslkey", &self.key),
        ] {
            if let Some(path) = path {
                if !path.is_file() {
                    return Err(format!("{name}: {} does not exist", path.display()));
                }
            }
        }
        if self.mode == SslMode::Disable && (self.root_cert.is_some() || self.cert.is_some()) {
            return Err(
                "sslmode=disable with sslrootcert or sslcert: the files would be ignored".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn libpq_tls_parameters_are_taken_out_of_the_url_and_the_rest_kept() {
        let (url, p) = split_tls(
            "postgres://app:pw@db:5432/netraven?application_name=x&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fnetraven%2Froot.crt&sslcert=/c.pem&sslkey=/k.pem",
        )
        .expect("parses");
        assert_eq!(url, "postgres://app:pw@db:5432/netraven?application_name=x");
        assert_eq!(p.mode, SslMode::VerifyFull);
        assert_eq!(
            p.root_cert.as_deref(),
            Some(Path::new("/etc/netraven/root.crt"))
        );
        assert_eq!(p.cert.as_deref(), Some(Path::new("/c.pem")));
        assert_eq!(p.key.as_deref(), Some(Path::new("/k.pem")));
        let (url, p) = split_tls("postgres://db/netraven").expect("parses");
        assert_eq!(url, "postgres://db/netraven");
        assert_eq!(p.mode, SslMode::Prefer, "libpq's default");
    }

    #[test]
    fn a_plus_stays_a_plus_as_in_libpq() {
        let (_, p) = split_tls("postgres://db/n?sslrootcert=/etc/a+b%20c.crt").expect("parses");
        assert_eq!(p.root_cert.as_deref(), Some(Path::new("/etc/a+b c.crt")));
    }
}
