//! Running configs: deterministic from (seed, device name), sized, with secret-bearing lines.

use std::fmt::Write as _;

use crate::seed::{Rng, ALNUM, CRYPT, HEX};
use crate::Platform;

/// Where a `cisco_ios` configuration starts once its volatile lines are gone.
const IOS_STABLE_HEAD: &str = "\n!\n";

/// The NTP server line; IOS prints `ntp clock-period` just before it.
const NTP_SERVER: &str = "ntp server 10.0.0.1";

/// What changes from one `show running-config` to the next on a device whose
/// configuration did not: the clock, and the drift estimate NTP keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionStamp {
    /// Seconds since the Unix epoch.
    pub(crate) unix_secs: u64,
    /// `ntp clock-period`: differs from one show to the next.
    pub(crate) clock_period: u64,
}

/// `stable` as the device prints it in a session: on `cisco_ios`, the banner, the byte
/// count, the change and save times and `ntp clock-period`; other platforms print none.
pub(crate) fn session_text(stable: &str, platform: Platform, stamp: SessionStamp) -> String {
    let Some(body) = stable
        .strip_prefix(IOS_STABLE_HEAD)
        .filter(|_| platform == Platform::CiscoIos)
    else {
        return stable.to_string();
    };
    let at = ios_time(stamp.unix_secs);
    let mut rest = String::with_capacity(body.len() + 200);
    rest.push_str("!\n");
    let _ = writeln!(rest, "! Last configuration change at {at} by netops");
    let _ = writeln!(rest, "! NVRAM config last updated at {at} by netops");
    let ntp = format!("{NTP_SERVER}\n");
    match body.find(&ntp) {
        Some(i) => {
            rest.push_str(&body[..i]);
            let _ = writeln!(rest, "ntp clock-period {}", stamp.clock_period);
            rest.push_str(&body[i..]);
        }
        None => rest.push_str(body),
    }
    format!(
        "Building configuration...\n\nCurrent configuration : {} bytes\n{rest}",
        rest.len()
    )
}

/// `14:22:05 UTC Tue Mar 5 2024`, as IOS writes a time.
fn ios_time(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:02}:{:02}:{:02} UTC {} {} {day} {year}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
    )
}

/// A generated config and the secret values inside it (for redaction tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedConfig {
    /// The text a backup must store, `\n` line ends: what the device prints, less the
    /// lines it prints anew in every session (on `cisco_ios`: the banner, the byte count,
    /// the change and save times, `ntp clock-period`).
    pub text: String,
    /// Every secret value that appears in `text` (passwords, hashes, communities, keys).
    pub secrets: Vec<String>,
}

/// The config of device `name` on `platform`, about `bytes` long. Same inputs, same bytes.
pub fn generate(seed: u64, name: &str, platform: Platform, bytes: usize) -> GeneratedConfig {
    let mut g = Gen {
        rng: Rng::new(seed, &format!("config/{name}")),
        name,
        out: String::with_capacity(bytes + 512),
        secrets: Vec::new(),
    };
    match platform {
        Platform::Linux => g.linux(bytes),
        Platform::CiscoIos => g.ios(bytes),
        Platform::JuniperJunos => g.junos(bytes),
    }
    GeneratedConfig {
        text: g.out,
        secrets: g.secrets,
    }
}

struct Gen<'a> {
    rng: Rng,
    name: &'a str,
    out: String,
    secrets: Vec<String>,
}

const DESCRIPTIONS: &[&str] = &[
    "uplink-core-1",
    "uplink-core-2",
    "access-floor-3",
    "mgmt-oob",
    "wan-mpls-primary",
    "wan-inet-backup",
    "server-farm-a",
    "voice-vlan-trunk",
    "printer-segment",
    "cctv-cameras",
];

impl Gen<'_> {
    fn secret(&mut self, len: usize, alphabet: &[u8]) -> String {
        let s = self.rng.string(len, alphabet);
        self.secrets.push(s.clone());
        s
    }

    fn md5_crypt(&mut self) -> String {
        let salt = self.rng.string(4, CRYPT);
        let hash = self.rng.string(22, CRYPT);
        let s = format!("$1${salt}${hash}");
        self.secrets.push(s.clone());
        s
    }

    fn sha512_crypt(&mut self) -> String {
        let salt = self.rng.string(8, CRYPT);
        let hash = self.rng.string(86, CRYPT);
        let s = format!("$6${salt}${hash}");
        self.secrets.push(s.clone());
        s
    }

    fn ip(&mut self) -> (u64, u64, u64) {
        (
            self.rng.below(256),
            self.rng.below(256),
            1 + self.rng.below(253),
        )
    }

    fn line(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push('\n');
    }

    /// IOS-style body shared by `linux` (FRR) and `cisco_ios`.
    fn ios_secrets(&mut self) {
        let type7 = self.secret(12, HEX);
        let enable = self.md5_crypt();
        let community = self.secret(10, ALNUM);
        let _ = writeln!(self.out, "username admin privilege 15 password 7 {type7}");
        let _ = writeln!(self.out, "enable secret 5 {enable}");
        self.line("service password-encryption");
        self.line("!");
        let _ = writeln!(self.out, "snmp-server community {community} RO");
        let _ = writeln!(
            self.out,
            "snmp-server location site-{} rack {}",
            self.rng.below(4),
            1 + self.rng.below(40)
        );
        self.line("snmp-server contact noc@example.net");
        self.line("!");
    }

    fn ios_interfaces(&mut self, until: usize, linux: bool) {
        let mut n = 0u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            if linux {
                let _ = writeln!(self.out, "interface eth{n}");
                let _ = writeln!(self.out, " description {desc}");
                let _ = writeln!(self.out, " ip address 10.{b}.{c}.{d}/24");
            } else {
                let _ = writeln!(self.out, "interface GigabitEthernet0/{n}");
                let _ = writeln!(self.out, " description {desc}");
                let _ = writeln!(self.out, " ip address 10.{b}.{c}.{d} 255.255.255.0");
                if n % 3 == 2 {
                    self.line(" shutdown");
                } else {
                    self.line(" no shutdown");
                }
            }
            self.line("!");
            n += 1;
        }
    }

    fn ios_tail(&mut self) {
        let asn = 64512 + self.rng.below(1000);
        let (b, c, d) = self.ip();
        let bgp = self.secret(12, HEX);
        let vty = self.secret(12, HEX);
        let _ = writeln!(self.out, "router bgp {asn}");
        let _ = writeln!(self.out, " neighbor 10.{b}.{c}.{d} remote-as {}", asn + 1);
        let _ = writeln!(self.out, " neighbor 10.{b}.{c}.{d} password 7 {bgp}");
        self.line("!");
        self.line(NTP_SERVER);
        self.line("!");
        self.line("line vty 0 4");
        let _ = writeln!(self.out, " password 7 {vty}");
        self.line(" transport input ssh");
        self.line("!");
        self.line("end");
    }

    const TAIL: usize = 240;

    fn linux(&mut self, bytes: usize) {
        let _ = writeln!(self.out, "! frr running-config of {}", self.name);
        self.line("frr version 8.4.4");
        self.line("frr defaults traditional");
        let _ = writeln!(self.out, "hostname {}", self.name);
        self.line("log syslog informational");
        self.line("!");
        self.ios_secrets();
        self.ios_interfaces(bytes.saturating_sub(Self::TAIL), true);
        self.ios_tail();
    }

    /// The configuration as stored, without the lines IOS prints anew on every
    /// `show running-config` ([`session_text`] adds them): a blank line and `!` where the
    /// banner and byte count were.
    fn ios(&mut self, bytes: usize) {
        self.out.push_str(IOS_STABLE_HEAD);
        self.line("!");
        self.line("version 15.2");
        self.line("service timestamps log datetime msec");
        let _ = writeln!(self.out, "hostname {}", self.name);
        self.line("!");
        self.ios_secrets();
        self.ios_interfaces(bytes.saturating_sub(Self::TAIL + 60), false);
        self.ios_tail();
    }

    fn junos(&mut self, bytes: usize) {
        let root = self.sha512_crypt();
        let admin = self.sha512_crypt();
        let community = self.secret(10, ALNUM);
        let _ = writeln!(self.out, "set version 21.4R3-S5");
        let _ = writeln!(self.out, "set system host-name {}", self.name);
        let _ = writeln!(
            self.out,
            "set system root-authentication encrypted-password \"{root}\""
        );
        self.line("set system login user admin class super-user");
        let _ = writeln!(
            self.out,
            "set system login user admin authentication encrypted-password \"{admin}\""
        );
        self.line("set system services ssh");
        let _ = writeln!(
            self.out,
            "set snmp community {community} authorization read-only"
        );
        let until = bytes.saturating_sub(Self::TAIL);
        let mut n = 0u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "set interfaces ge-0/0/{n} description {desc}");
            let _ = writeln!(
                self.out,
                "set interfaces ge-0/0/{n} unit 0 family inet address 10.{b}.{c}.{d}/24"
            );
            n += 1;
        }
        let asn = 64512 + self.rng.below(1000);
        let (b, c, d) = self.ip();
        let bgp = format!("$9${}", self.rng.string(24, CRYPT));
        self.secrets.push(bgp.clone());
        let _ = writeln!(self.out, "set routing-options autonomous-system {asn}");
        let _ = writeln!(
            self.out,
            "set protocols bgp group ebgp neighbor 10.{b}.{c}.{d} peer-as {}",
            asn + 1
        );
        let _ = writeln!(
            self.out,
            "set protocols bgp group ebgp authentication-key \"{bgp}\""
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ios_prints_its_volatile_lines_around_the_stable_text() {
        let stable = generate(1, "r1", Platform::CiscoIos, 2048).text;
        let stamp = SessionStamp {
            unix_secs: 1_709_648_525,
            clock_period: 17_179_869,
        };
        let sent = session_text(&stable, Platform::CiscoIos, stamp);
        assert!(sent.starts_with("Building configuration...\n\nCurrent configuration : "));
        assert!(sent
            .contains("\n! Last configuration change at 14:22:05 UTC Tue Mar 5 2024 by netops\n"));
        assert!(sent.contains("\nntp clock-period 17179869\nntp server 10.0.0.1\n"));
        let kept: String = sent
            .split_inclusive('\n')
            .filter(|l| {
                !(l.starts_with("Building configuration")
                    || l.starts_with("Current configuration :")
                    || l.starts_with("! Last configuration change")
                    || l.starts_with("! NVRAM config")
                    || l.starts_with("ntp clock-period"))
            })
            .collect();
        assert_eq!(
            kept, stable,
            "the stable text is the sent text less its volatile lines"
        );
        for p in [Platform::Linux, Platform::JuniperJunos] {
            let text = generate(1, "x", p, 2048).text;
            assert_eq!(session_text(&text, p, stamp), text);
        }
        assert_eq!(ios_time(0), "00:00:00 UTC Thu Jan 1 1970");
        assert_eq!(ios_time(951_825_600), "12:00:00 UTC Tue Feb 29 2000");
    }
}
