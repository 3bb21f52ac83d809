//! The built-in profiles' patterns (worker/profiles/*.toml).

use regex::Regex;

pub const IOS_PROMPT: &str = r"(?m)^[\w.\-@()/:]{1,63}[>#]\s*$";
pub const IOS_PRIVILEGED: &str = r"(?m)^[\w.\-@()/:]{1,63}#\s*$";
pub const IOS_PASSWORD: &str = r"(?im)^password:\s*$";
pub const IOS_PAGER: &str = r"\s*--More--\s*";
pub const JUNOS_PROMPT: &str = r"(?m)^[\w.\-]+@[\w.\-]+[>#%]\s*$";
pub const JUNOS_PAGER: &str = r"\s*---\(more[^)]*\)---\s*";
pub const GENERIC_PROMPT: &str = r"(?m)^\S{1,63}[>#$]\s*$";

pub fn re(p: &str) -> Regex {
    Regex::new(p).expect("test pattern compiles")
}
