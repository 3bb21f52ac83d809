//! The console's stylesheet and script, compiled into the binary and served as they are:
//! no build step, no bundle.

use axum::http::header;
use axum::response::IntoResponse;

pub const CSS: &str = include_str!("../../static/console.css");
pub const JS: &str = include_str!("../../static/console.js");

const CACHE: &str = "public, max-age=300";

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CSS,
    )
}

pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        JS,
    )
}

#[cfg(test)]
mod tests {
    use super::CSS;
    use std::collections::HashMap;

    /// The colours of one `:root { … }` block of the stylesheet, by custom property.
    fn schemes() -> Vec<HashMap<String, String>> {
        CSS.split(":root")
            .skip(1)
            .map(|block| {
                let body = block
                    .split_once('{')
                    .and_then(|(_, rest)| rest.split_once('}'))
                    .map(|(body, _)| body)
                    .unwrap_or_default();
                body.split(';')
                    .filter_map(|decl| decl.split_once(':'))
                    .filter_map(|(name, value)| {
                        let name = name.trim().strip_prefix("--")?;
                        let value = value.trim();
                        value
                            .starts_with('#')
                            .then(|| (name.to_string(), value.to_string()))
                    })
                    .collect()
            })
            .collect()
    }

    /// WCAG 2 relative luminance of `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c =
                f64::from(u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap_or(0)) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// Every text colour on the background it is drawn on keeps WCAG AA's 4.5:1 for
    /// normal text, in the light scheme and in the dark one.
    #[test]
    fn text_keeps_aa_contrast_in_light_and_dark() {
        let schemes = schemes();
        assert_eq!(schemes.len(), 2, "a light and a dark :root block");
        let pairs = [
            ("fg", "bg"),
            ("muted", "bg"),
            ("link", "bg"),
            ("fg", "panel"),
            // The cancel button: red text on a button's panel.
            ("fail-fg", "panel"),
            ("ok-fg", "ok-bg"),
            ("warn-fg", "warn-bg"),
            ("fail-fg", "fail-bg"),
            ("run-fg", "run-bg"),
            ("idle-fg", "idle-bg"),
            ("add-fg", "add-bg"),
            ("del-fg", "del-bg"),
        ];
        for (scheme, colours) in ["light", "dark"].iter().zip(&schemes) {
            for (fg, bg) in pairs {
                let (Some(f), Some(b)) = (colours.get(fg), colours.get(bg)) else {
                    panic!("{scheme}: --{fg} or --{bg} missing");
                };
                let ratio = contrast(f, b);
                assert!(
                    ratio >= 4.5,
                    "{scheme}: --{fg} {f} on --{bg} {b} is {ratio:.1}:1, under 4.5:1"
                );
            }
        }
    }
}
