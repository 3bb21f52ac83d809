//! `netraven credential list`: how every credential fared — its success rate over a recent
//! window beside its lifetime rate, counts, last use — with a mark on the ones that just
//! broke.
//!
//! Rates count the devices' verdicts only (`SUCCESS`, and `REJECTED` or `ENABLE_REFUSED`
//! against), as the lifetime counters do: an attempt the device never judged (a timeout, a connection
//! lost mid-login) says nothing about the secret.

use super::{ago, number, shown, text, Style};
use comfy_table::{Cell, Color};

pub use netraven_reads::credentials::*;

/// `24h`, `2d`, `90min`, `45s`: a window as an operator writes it.
pub fn window_label(secs: u64) -> String {
    match secs {
        s if s >= 2 * 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{}min", s / 60),
        s => format!("{s}s"),
    }
}

/// `97.5% of 400`, or `-` without attempts.
pub fn rate_of(rate: Option<f64>, attempts: i64) -> String {
    match rate {
        Some(r) => format!("{:.1}% of {attempts}", r * 100.0),
        None => "-".into(),
    }
}

pub fn render(creds: &[CredentialStats], style: Style) -> String {
    if creds.is_empty() {
        return "no credentials\n".into();
    }
    let window = window_label(creds[0].recent.window_secs);
    let mut table = style.table([
        "CREDENTIAL".to_string(),
        "USERNAME".into(),
        "LOGIN".into(),
        "PRIORITY".into(),
        "TAGS".into(),
        format!("LAST {window}"),
        "LIFETIME".into(),
        "LAST USED".into(),
        "LAST SUCCESS".into(),
        "DEVICES".into(),
    ]);
    for c in creds {
        let mut name = text(&c.name);
        if !c.enabled {
            name = Cell::new(format!("{} (disabled)", shown(&c.name))).fg(Color::DarkGrey);
        }
        let mut recent = number(rate_of(c.recent.success_rate, c.recent.attempts));
        if c.dropped {
            recent = number(format!(
                "▼ {}",
                rate_of(c.recent.success_rate, c.recent.attempts)
            ))
            .fg(Color::Red);
        }
        table.add_row(vec![
            name,
            text(&c.username),
            text(&with_caps(
                &c.login,
                c.max_concurrent_logins,
                c.max_logins_per_second,
            )),
            number(c.priority),
            text(&c.tags.join(", ")),
            recent,
            number(rate_of(c.success_rate, c.attempts)),
            Cell::new(ago(c.last_used_at)),
            Cell::new(ago(c.last_success_at)),
            number(c.affinity_devices),
        ]);
    }
    let mut out = format!(
        "{table}\nLAST {window} and LIFETIME: logins the devices accepted, of those they judged\n\
         DEVICES: devices on which the credential last worked, so it is tried first there\n"
    );
    let dropped: Vec<&str> = creds
        .iter()
        .filter(|c| c.dropped)
        .map(|c| c.name.as_str())
        .collect();
    if !dropped.is_empty() {
        out.push_str(&style.paint(
            &format!(
                "▼ {}: success over the last {window} fell far under its rate before (secret \
                 changed on the devices, or their AAA server failing?): `netraven device \
                 credentials NAME` for one device\n",
                shown(&dropped.join(", "))
            ),
            Some(Color::Red),
        ));
    }
    out
}

/// `login` with the credential's fleet-wide caps, when it has any:
/// `password; fleet: 20 at once, 10/s`.
fn with_caps(login: &str, concurrent: Option<i32>, per_second: Option<i32>) -> String {
    let caps: Vec<String> = [
        concurrent.map(|n| format!("{n} at once")),
        per_second.map(|n| format!("{n}/s")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if caps.is_empty() {
        login.to_string()
    } else {
        format!("{login}; fleet: {}", caps.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_credential_that_just_broke_is_marked_and_one_that_always_failed_is_not() {
        // 400 logins, 390 good before today; 2 of 10 today.
        assert!(dropped(&Recent::new(DAY, 2, 8), 392, 18));
        // Always half: today is no different.
        assert!(!dropped(&Recent::new(DAY, 5, 5), 200, 200));
        // Too few today to say.
        assert!(!dropped(&Recent::new(DAY, 0, 4), 390, 14));
        // New today: nothing before to compare with.
        assert!(!dropped(&Recent::new(DAY, 0, 10), 0, 10));
        // Slightly worse, not broken.
        assert!(!dropped(&Recent::new(DAY, 9, 1), 399, 1));
        // Nothing today.
        assert!(!dropped(&Recent::new(DAY, 0, 0), 10, 0));
    }

    #[test]
    fn a_credential_shows_how_it_logs_in_never_what_with() {
        assert_eq!(login_methods(true, None, false), "password");
        assert_eq!(
            login_methods(false, Some("ssh-ed25519 SHA256:abc"), false),
            "key (ssh-ed25519 SHA256:abc)"
        );
        assert_eq!(
            login_methods(true, Some("ssh-rsa SHA256:abc"), false),
            "key (ssh-rsa SHA256:abc) + password"
        );
        assert_eq!(login_methods(true, None, true), "password + enable secret");
    }

    #[test]
    fn windows_read_as_written() {
        assert_eq!(window_label(86_400), "24h");
        assert_eq!(window_label(2 * 86_400), "2d");
        assert_eq!(window_label(5_400), "90min");
        assert_eq!(window_label(45), "45s");
        assert_eq!(rate_of(Some(0.975), 400), "97.5% of 400");
        assert_eq!(rate_of(None, 0), "-");
    }
}
