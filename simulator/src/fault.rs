//! Faults a device can play, by name: dead ports, silent or slow servers, odd auth, broken
//! sessions, changed host keys, legacy crypto and hostile output (NUL, bytes that are not
//! UTF-8, terminal escapes).
//!
//! A fault is written `name` or `name:N` (N: the parameter, see each variant), in
//! `snake_case` or `kebab-case`: `port_closed`, `slow-banner:2500`, `max_auth_tries:2`.
//! That string is also its serde form, so scenario files and [`crate::DeviceSpec`] JSON
//! use it as is.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Default delay of [`Fault::SlowBanner`] and [`Fault::SlowAuth`]: slow, but well inside
/// a 10 s handshake or auth timeout.
pub const DEFAULT_DELAY_MS: u64 = 3000;
/// Default [`Fault::MaxAuthTries`] limit.
pub const DEFAULT_MAX_AUTH_TRIES: usize = 2;
/// Default number of connections a [`Fault::Flapping`] device drops.
pub const DEFAULT_FLAPS: u64 = 1;

/// One misbehaviour of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Fault {
    /// Nothing listens on the device's port (a client gets "connection refused"). The
    /// port stays bound (not listening), so it is still reserved and in the inventory.
    PortClosed,
    /// Accepts TCP but never sends its SSH identification: a handshake timeout.
    Silent,
    /// Sends its SSH identification only after `delay_ms` (`slow_banner:MS`).
    SlowBanner { delay_ms: u64 },
    /// Answers every password or keyboard-interactive request after `delay_ms`
    /// (`slow_auth:MS`).
    SlowAuth { delay_ms: u64 },
    /// Offers only `keyboard-interactive` (no `password` method); its one `Password:`
    /// prompt takes the same secrets `password` would.
    KeyboardInteractiveOnly,
    /// Disconnects after `tries` rejected authentication requests on a connection
    /// (OpenSSH's `MaxAuthTries`; every rejected request counts, `none` probes too).
    MaxAuthTries { tries: usize },
    /// Logs in, then never answers: exec and shell requests are acknowledged and nothing
    /// more ever arrives (no prompt, no output, no exit status).
    HangAfterLogin,
    /// Sends the first half of the configuration, then drops the TCP connection (FIN,
    /// no SSH disconnect, no exit status).
    DropMidOutput,
    /// The configuration command never ends: its output repeats until the client closes
    /// the channel or disconnects (flow-controlled: a slow reader is not buffered for).
    EndlessOutput,
    /// Serves a host key other than the seed's: the key a client pinned on an earlier
    /// run no longer matches.
    HostKeyChanged,
    /// Offers only `diffie-hellman-group14-sha1`, `aes128-cbc`/`aes256-cbc` and
    /// `hmac-sha1`: modern clients find no common algorithm.
    LegacyAlgorithms,
    /// Serves an RSA host key and offers only `ssh-rsa` host-key signatures (SHA-1), as
    /// devices from before RFC 8332 do. Not among the faults the scenarios play
    /// ([`Fault::ALL`]); a scenario file names it (`fault: ssh_rsa_sha1_only`). Every such
    /// device serves the same RSA key, a test key shipped with the simulator.
    SshRsaSha1Only,
    /// Its configuration holds a NUL byte (`output_nul`): a line ends in one, as a
    /// banner pasted from a binary file would. Played on the exec channel (`linux`).
    OutputNul,
    /// Its configuration holds bytes that are not UTF-8 (`output_invalid_utf8`): a
    /// Latin-1 description, a lone continuation byte, a truncated sequence.
    OutputInvalidUtf8,
    /// Its configuration holds terminal control sequences (`output_escapes`): a window
    /// title (`ESC ] 0;… BEL`), clear screen (`ESC [ 2 J`), colours, backspaces, a bare
    /// CR and a C1 CSI, as a hostile or careless device might send.
    OutputEscapes,
    /// Drops its first `drops` TCP connections as soon as they are accepted, before
    /// any SSH banner (`flapping:N`), then works: a device whose link flaps, which a
    /// client sees `UNREACHABLE` N times and then reaches. Opt-in ([`Fault::OPT_IN`]).
    /// The ground truth counts the dropped connections too.
    Flapping { drops: u64 },
}

impl Fault {
    /// Faults that exist only when a device names them: no scenario plays them.
    pub const OPT_IN: [Fault; 5] = [
        Fault::SshRsaSha1Only,
        Fault::OutputNul,
        Fault::OutputInvalidUtf8,
        Fault::OutputEscapes,
        Fault::Flapping {
            drops: DEFAULT_FLAPS,
        },
    ];

    /// One of each fault the scenarios play, with default parameters, in a stable order
    /// ([`Fault::OPT_IN`] holds the others).
    pub const ALL: [Fault; 11] = [
        Fault::PortClosed,
        Fault::Silent,
        Fault::SlowBanner {
            delay_ms: DEFAULT_DELAY_MS,
        },
        Fault::SlowAuth {
            delay_ms: DEFAULT_DELAY_MS,
        },
        Fault::KeyboardInteractiveOnly,
        Fault::MaxAuthTries {
            tries: DEFAULT_MAX_AUTH_TRIES,
        },
        Fault::HangAfterLogin,
        Fault::DropMidOutput,
        Fault::EndlessOutput,
        Fault::HostKeyChanged,
        Fault::LegacyAlgorithms,
    ];

    /// The name without parameter: `slow_banner`, `port_closed`, ...
    pub fn name(self) -> &'static str {
        match self {
            Fault::PortClosed => "port_closed",
            Fault::Silent => "silent",
            Fault::SlowBanner { .. } => "slow_banner",
            Fault::SlowAuth { .. } => "slow_auth",
            Fault::KeyboardInteractiveOnly => "keyboard_interactive_only",
            Fault::MaxAuthTries { .. } => "max_auth_tries",
            Fault::HangAfterLogin => "hang_after_login",
            Fault::DropMidOutput => "drop_mid_output",
            Fault::EndlessOutput => "endless_output",
            Fault::HostKeyChanged => "host_key_changed",
            Fault::LegacyAlgorithms => "legacy_algorithms",
            Fault::SshRsaSha1Only => "ssh_rsa_sha1_only",
            Fault::OutputNul => "output_nul",
            Fault::OutputInvalidUtf8 => "output_invalid_utf8",
            Fault::OutputEscapes => "output_escapes",
            Fault::Flapping { .. } => "flapping",
        }
    }

    /// The bytes an output fault adds to the device's configuration, if it is one.
    pub fn output_poison(self) -> Option<&'static [u8]> {
        match self {
            Fault::OutputNul => Some(b"banner motd ^C\0^C\n! \0 a NUL, mid-line\n"),
            Fault::OutputInvalidUtf8 => {
                Some(b" description caf\xe9 \xff\xfe lone \x80 cut \xe2\x82\n")
            }
            Fault::OutputEscapes => Some(
                b"\x1b]0;owned title\x07\x1b[2J\x1b[H\x1b[31m red\x1b[0m back\x08\x08ed\r over\xc2\x9b1m c1\x7f\n",
            ),
            _ => None,
        }
    }

    /// Whether connection number `n` (from 1) of the device is dropped unanswered.
    pub(crate) fn drops_connection(self, n: u64) -> bool {
        matches!(self, Fault::Flapping { drops } if n <= drops)
    }

    /// The delay before the banner, if this fault has one.
    pub(crate) fn banner_delay(self) -> Option<Duration> {
        match self {
            Fault::SlowBanner { delay_ms } => Some(Duration::from_millis(delay_ms)),
            _ => None,
        }
    }

    /// The delay before each authentication answer, if this fault has one.
    pub(crate) fn auth_delay(self) -> Option<Duration> {
        match self {
            Fault::SlowAuth { delay_ms } => Some(Duration::from_millis(delay_ms)),
            _ => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::SlowBanner { delay_ms } | Fault::SlowAuth { delay_ms } => {
                write!(f, "{}:{delay_ms}", self.name())
            }
            Fault::MaxAuthTries { tries } => write!(f, "{}:{tries}", self.name()),
            Fault::Flapping { drops } => write!(f, "{}:{drops}", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

impl FromStr for Fault {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| SimError::UnknownFault(format!("{s:?}: {why}"));
        let normalised = s.trim().replace('-', "_");
        let (name, param) = match normalised.split_once(':') {
            Some((n, p)) => (n, Some(p.trim())),
            None => (normalised.as_str(), None),
        };
        let number = |default: u64| -> Result<u64, SimError> {
            param.map_or(Ok(default), |p| {
                p.parse::<u64>()
                    .map_err(|_| bad("the parameter after ':' must be a whole number"))
            })
        };
        let template = Fault::ALL
            .into_iter()
            .chain(Fault::OPT_IN)
            .find(|f| f.name() == name)
            .ok_or_else(|| bad("no such fault"))?;
        let fault = match template {
            Fault::SlowBanner { delay_ms } => Fault::SlowBanner {
                delay_ms: number(delay_ms)?,
            },
            Fault::SlowAuth { delay_ms } => Fault::SlowAuth {
                delay_ms: number(delay_ms)?,
            },
            Fault::MaxAuthTries { tries } => {
                let n = number(tries as u64)?;
                if n == 0 {
                    return Err(bad("max_auth_tries needs at least 1"));
                }
                Fault::MaxAuthTries {
                    tries: usize::try_from(n).map_err(|_| bad("too large"))?,
                }
            }
            Fault::Flapping { drops } => Fault::Flapping {
                drops: number(drops)?,
            },
            other if param.is_some() => {
                return Err(bad(&format!("{} takes no parameter", other.name())))
            }
            other => other,
        };
        Ok(fault)
    }
}

impl TryFrom<String> for Fault {
    type Error = SimError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Fault> for String {
    fn from(f: Fault) -> String {
        f.to_string()
    }
}

/// Every fault name, for error messages and `--help`.
pub fn names() -> String {
    Fault::ALL
        .into_iter()
        .chain(Fault::OPT_IN)
        .map(Fault::name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parameters_round_trip() {
        for f in Fault::ALL.into_iter().chain(Fault::OPT_IN) {
            assert_eq!(f.to_string().parse::<Fault>().ok(), Some(f), "{f}");
        }
        assert_eq!(
            "slow-banner:250".parse::<Fault>().ok(),
            Some(Fault::SlowBanner { delay_ms: 250 })
        );
        assert_eq!(
            "max_auth_tries".parse::<Fault>().ok(),
            Some(Fault::MaxAuthTries { tries: 2 })
        );
        assert_eq!(
            "flapping:2".parse::<Fault>().ok(),
            Some(Fault::Flapping { drops: 2 })
        );
        assert_eq!(
            "flapping".parse::<Fault>().ok(),
            Some(Fault::Flapping { drops: 1 })
        );
        assert!("silent:3".parse::<Fault>().is_err());
        assert!("max_auth_tries:0".parse::<Fault>().is_err());
        assert!("slow_banner:soon".parse::<Fault>().is_err());
        assert!("on_fire".parse::<Fault>().is_err());
    }

    #[test]
    fn serde_uses_the_string_form() {
        let f = Fault::SlowAuth { delay_ms: 10 };
        assert_eq!(
            serde_json::to_string(&f).ok().as_deref(),
            Some("\"slow_auth:10\"")
        );
        let back: Option<Fault> = serde_json::from_str("\"legacy-algorithms\"").ok();
        assert_eq!(back, Some(Fault::LegacyAlgorithms));
    }
}
