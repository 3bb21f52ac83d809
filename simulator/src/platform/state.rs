//! What a shell session remembers between lines, and the pager every platform shares.

/// Lines per screen before ` --More-- `.
pub const PAGE_LINES: usize = 24;
/// The pager prompt, as Cisco IOS prints it (Junos: [`crate::JUNOS_MORE`]).
pub const MORE: &str = " --More-- ";

/// Per-session platform state (privilege level, pending password prompt, ...).
#[derive(Debug, Default)]
pub(crate) struct ShellState {
    /// `#` (IOS privileged EXEC) rather than `>`.
    pub(crate) privileged: bool,
    /// `terminal length 0` / `set cli screen-length 0` turns this off.
    pub(crate) paging: bool,
    /// The next line is a secret answer (`Password:`), not echoed, not recorded.
    pub(crate) awaiting_secret: bool,
    /// Failed `enable` password answers in a row.
    pub(crate) secret_failures: u8,
    /// Username the session logged in with (`user@host>` prompts).
    pub(crate) user: String,
    /// The configuration context entered (FortiOS `config system console`: `console`).
    pub(crate) context: Option<&'static str>,
}
