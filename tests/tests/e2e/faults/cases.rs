//! The table of faults: each device of the fault fleet and the outcome, reason, time and
//! logins it must end with.

use super::setup::{device, AUTH_MS, DEADLINE_MS, HANDSHAKE_MS, IDLE_MS, MARGIN_MS, SEED};
use netraven_shared::domain::Outcome;
use netraven_simulator::{AuthMethod, Fault, FleetSpec, LoginAttempt, Platform};
use netraven_tests::credential;

/// What the simulator must have seen on a device.
#[derive(Debug, Clone, Copy)]
pub(super) enum Logins {
    /// No authentication request at all (no secret left the worker).
    None,
    /// `netops` logged in with `method`, after no rejected secret.
    AcceptedBy(AuthMethod),
    /// Any number of logins; checked by the case itself.
    Any,
}

pub(super) struct Case {
    pub(super) device: &'static str,
    pub(super) outcome: Outcome,
    /// Every one of these appears in the reason (case-insensitive).
    pub(super) reason: &'static [&'static str],
    /// Worker-measured time on the device stays under this.
    pub(super) max_ms: u64,
    pub(super) logins: Logins,
}

pub(super) fn cases() -> Vec<Case> {
    use Outcome::*;
    let c = |device, outcome, reason, max_ms, logins| Case {
        device,
        outcome,
        reason,
        max_ms,
        logins,
    };
    let handshake = HANDSHAKE_MS + MARGIN_MS;
    let deadline = DEADLINE_MS + MARGIN_MS;
    vec![
        c(
            "healthy-linux",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "healthy-ios",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "healthy-junos",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "port-closed",
            Unreachable,
            &["refused"],
            1_000 + MARGIN_MS,
            Logins::None,
        ),
        c(
            "silent",
            Timeout,
            &["handshake", "within 1500 ms"],
            handshake,
            Logins::None,
        ),
        c(
            "slow-banner-short",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "slow-banner-long",
            Timeout,
            &["handshake", "within 1500 ms"],
            handshake,
            Logins::None,
        ),
        c(
            "slow-auth",
            Timeout,
            &["timed out during auth", "within 1500 ms"],
            HANDSHAKE_MS + AUTH_MS + MARGIN_MS,
            Logins::Any,
        ),
        c(
            "kbd-interactive",
            Success,
            &["configuration stored"],
            deadline,
            Logins::Any,
        ),
        c(
            "max-auth-tries",
            Success,
            &["configuration stored"],
            deadline,
            Logins::Any,
        ),
        c(
            "max-auth-tries-1",
            Success,
            &["configuration stored"],
            deadline,
            Logins::Any,
        ),
        c(
            "hang-linux",
            Timeout,
            &["timed out during command", "no output for 1500 ms"],
            IDLE_MS + 1_000 + MARGIN_MS,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "hang-ios",
            Timeout,
            &[
                "opening the shell",
                "timed out during command",
                "no output for 1500 ms",
            ],
            IDLE_MS + 1_000 + MARGIN_MS,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "drop-linux",
            CommandFailed,
            &[
                "cat /etc/netraven/running-config",
                "disconnected during command",
            ],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "drop-ios",
            CommandFailed,
            &["show running-config", "disconnected during command"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "endless-linux",
            CommandFailed,
            &["exceeded 65536 bytes"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "endless-ios",
            CommandFailed,
            &["exceeded 65536 bytes"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
        c(
            "legacy-default",
            Unreachable,
            &["no common", "algorithm", "legacy"],
            handshake,
            Logins::None,
        ),
        c(
            "legacy-profile",
            Success,
            &["configuration stored"],
            deadline,
            Logins::AcceptedBy(AuthMethod::Password),
        ),
    ]
}

pub(super) fn fault_fleet() -> FleetSpec {
    use Platform::*;
    let f = |name, platform, fault| device(name, platform, fault, "faults");
    let mut devices = vec![
        f("healthy-linux", Linux, None),
        f("healthy-ios", CiscoIos, None),
        f("healthy-junos", JuniperJunos, None),
        f("port-closed", Linux, Some(Fault::PortClosed)),
        f("silent", Linux, Some(Fault::Silent)),
        f(
            "slow-banner-short",
            Linux,
            Some(Fault::SlowBanner { delay_ms: 300 }),
        ),
        f(
            "slow-banner-long",
            Linux,
            Some(Fault::SlowBanner { delay_ms: 4_000 }),
        ),
        f(
            "slow-auth",
            Linux,
            Some(Fault::SlowAuth { delay_ms: 4_000 }),
        ),
        f(
            "kbd-interactive",
            Linux,
            Some(Fault::KeyboardInteractiveOnly),
        ),
        f("hang-linux", Linux, Some(Fault::HangAfterLogin)),
        f("hang-ios", CiscoIos, Some(Fault::HangAfterLogin)),
        f("drop-linux", Linux, Some(Fault::DropMidOutput)),
        f("drop-ios", CiscoIos, Some(Fault::DropMidOutput)),
        f("endless-linux", Linux, Some(Fault::EndlessOutput)),
        f("endless-ios", CiscoIos, Some(Fault::EndlessOutput)),
        f("legacy-default", Linux, Some(Fault::LegacyAlgorithms)),
        f("legacy-profile", Linux, Some(Fault::LegacyAlgorithms)),
    ];
    // MaxAuthTries: three credentials of one username (tried on one connection), the
    // third accepted; the devices hang up after two rejections, or after each one.
    for (name, tries) in [("max-auth-tries", 2), ("max-auth-tries-1", 1)] {
        let mut max = device(
            name,
            Linux,
            Some(Fault::MaxAuthTries { tries }),
            "same-user",
        );
        max.accepts = vec![("netops".into(), "third-secret".into())];
        devices.push(max);
    }
    FleetSpec {
        drift: 0.0,
        seed: SEED,
        credentials: vec![
            credential("tacacs", "netops", "tacacs-secret")
                .tags(&["faults"])
                .into(),
            credential("first", "netops", "first-secret")
                .tags(&["same-user"])
                .into(),
            credential("second", "netops", "second-secret")
                .priority(20)
                .tags(&["same-user"])
                .into(),
            credential("third", "netops", "third-secret")
                .priority(30)
                .tags(&["same-user"])
                .into(),
        ],
        devices,
    }
}

pub(super) fn logins_by(attempts: &[LoginAttempt]) -> Vec<(AuthMethod, bool)> {
    attempts.iter().map(|a| (a.method, a.accepted)).collect()
}
