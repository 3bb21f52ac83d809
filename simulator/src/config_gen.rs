//! Running configs: deterministic from (seed, device name), sized, with secret-bearing lines.

use std::fmt::Write as _;

use crate::seed::{Rng, ALNUM, CRYPT, HEX};
use crate::Platform;

/// Where a `cisco_ios` configuration starts once its volatile lines are gone.
const IOS_STABLE_HEAD: &str = "\n!\n";

/// Where a `cisco_nxos` configuration starts: a blank line and the command, echoed.
const NXOS_STABLE_HEAD: &str = "\n!Command: show running-config\n";

/// The first line of an EOS `show running-config`.
const EOS_COMMAND: &str = "! Command: show running-config";

/// The EOS release the simulated switches run.
const EOS_RELEASE: &str = "4.31.2F";

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

/// `stable` as the device prints it in a session, with the lines it prints anew each
/// time: on `cisco_ios` and `cisco_xe`, the banner, the byte count, the change and save
/// times and `ntp clock-period`; on `cisco_xr`, the timestamp, the banner and the change
/// time; on `cisco_asa`, `: Saved`, `: Written by` and `Cryptochecksum:`; on
/// `huawei_vrp`, the update time; on `cisco_nxos`, `!Running configuration last done at:`
/// and `!Time:`; on `arista_eos`, `! Command:` and the `! device:` line. Other platforms
/// print none.
pub(crate) fn session_text(stable: &str, platform: Platform, stamp: SessionStamp) -> String {
    match platform {
        Platform::CiscoIos | Platform::CiscoXe => ios_session(stable, stamp),
        Platform::CiscoXr => xr_session(stable, stamp),
        Platform::CiscoAsa => asa_session(stable, stamp),
        Platform::HuaweiVrp => vrp_session(stable, stamp),
        Platform::Fortinet => fortinet_session(stable, stamp),
        Platform::CiscoNxos => nxos_session(stable, stamp),
        Platform::AristaEos => format!("{EOS_COMMAND}\n{}\n{stable}", eos_device_line(stable)),
        Platform::Linux
        | Platform::JuniperJunos
        | Platform::HpProcurve
        | Platform::PaloaltoPanos
        | Platform::ArubaAoscx => stable.to_string(),
        Platform::MikrotikRouteros => format!(
            "# {} by RouterOS 7.14.2\n{stable}",
            iso_time(stamp.unix_secs)
        ),
    }
}

fn ios_session(stable: &str, stamp: SessionStamp) -> String {
    let Some(body) = stable.strip_prefix(IOS_STABLE_HEAD) else {
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

/// IOS-XR: `Sat Apr  4 02:42:10.498 UTC` (every command's output starts with one), the
/// banner, then the version line the stable text starts with and the change time.
fn xr_session(stable: &str, stamp: SessionStamp) -> String {
    let (version, body) = stable.split_once('\n').unwrap_or((stable, ""));
    format!(
        "{}\nBuilding configuration...\n{version}\n!! Last configuration change at {} by netops\n{body}",
        xr_stamp(stamp.unix_secs, stamp.clock_period % 1000),
        xr_time(stamp.unix_secs, None),
    )
}

/// ASA: `: Saved` and `: Written by` at the top, `Cryptochecksum:` before `: end`.
fn asa_session(stable: &str, stamp: SessionStamp) -> String {
    let at = ios_time(stamp.unix_secs);
    let sum = crate::seed::Rng::new(stamp.clock_period, stable)
        .string(32, HEX)
        .to_ascii_lowercase();
    let body = stable.strip_suffix(": end\n").unwrap_or(stable);
    format!(": Saved\n: Written by netops at {at}\n{body}Cryptochecksum:{sum}\n: end\n")
}

/// FortiOS: `#config-version=` (the admin who asked) and `#conf_file_ver=` (a counter
/// bumped on every save) before the stable text.
fn fortinet_session(stable: &str, stamp: SessionStamp) -> String {
    format!(
        "#config-version=FGT60F-7.2.8-FW-build1639-240313:opmode=0:vdom=0:user=netops\n\
         #conf_file_ver={}\n{stable}",
        stamp.unix_secs * 10 + stamp.clock_period % 10
    )
}

/// NX-OS: after the blank line and `!Command: show running-config` the stable text starts
/// with, when the configuration last changed and the time of this show.
fn nxos_session(stable: &str, stamp: SessionStamp) -> String {
    let Some(body) = stable.strip_prefix(NXOS_STABLE_HEAD) else {
        return stable.to_string();
    };
    let changed = stamp
        .unix_secs
        .saturating_sub(3_600 + stamp.clock_period % 3_600);
    format!(
        "{NXOS_STABLE_HEAD}!Running configuration last done at: {}\n!Time: {}\n{body}",
        xr_time(changed, None),
        xr_time(stamp.unix_secs, None),
    )
}

/// `! device: HOST (vEOS-lab, EOS-4.31.2F)`: the model and release, after the command.
fn eos_device_line(stable: &str) -> String {
    let host = stable
        .lines()
        .find_map(|l| l.strip_prefix("hostname "))
        .unwrap_or("localhost");
    format!("! device: {host} (vEOS-lab, EOS-{EOS_RELEASE})")
}

/// VRP: the update time after the version line the stable text starts with.
fn vrp_session(stable: &str, stamp: SessionStamp) -> String {
    let (version, body) = stable.split_once('\n').unwrap_or((stable, ""));
    format!(
        "{version}\n!Last configuration was updated at {}+00:00 by netops\n{body}",
        iso_time(stamp.unix_secs)
    )
}

/// Year, month (1-12), day, and weekday (0 = Thursday) of a Unix time.
fn civil(unix_secs: u64) -> (i64, i64, i64, usize) {
    let days = unix_secs / 86_400;
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
    (year, month, day, (days % 7) as usize)
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn clock(unix_secs: u64) -> String {
    let secs = unix_secs % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `Tue Mar  5 14:22:05.123 UTC`: the line IOS-XR prints before each command's output.
pub(crate) fn xr_stamp(unix_secs: u64, millis: u64) -> String {
    format!("{} UTC", xr_time(unix_secs, Some(millis)))
}

/// `Tue Mar  5 14:22:05 2024` (or `14:22:05.123` with milliseconds), as IOS-XR writes it.
fn xr_time(unix_secs: u64, millis: Option<u64>) -> String {
    let (year, month, day, wd) = civil(unix_secs);
    let frac = millis.map(|m| format!(".{m:03}")).unwrap_or_default();
    let tail = if millis.is_some() {
        String::new()
    } else {
        format!(" {year}")
    };
    format!(
        "{} {} {day:>2} {}{frac}{tail}",
        DAYS[wd],
        MONTHS[(month - 1) as usize],
        clock(unix_secs)
    )
}

/// `2024-03-05 14:22:05`, as VRP writes a time.
fn iso_time(unix_secs: u64) -> String {
    let (year, month, day, _) = civil(unix_secs);
    format!("{year}-{month:02}-{day:02} {}", clock(unix_secs))
}

/// `14:22:05 UTC Tue Mar 5 2024`, as IOS writes a time.
fn ios_time(unix_secs: u64) -> String {
    let (year, month, day, wd) = civil(unix_secs);
    format!(
        "{} UTC {} {} {day} {year}",
        clock(unix_secs),
        DAYS[wd],
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
        Platform::CiscoIos => g.ios(bytes, "15.2", "GigabitEthernet0/"),
        Platform::CiscoXe => g.ios(bytes, "17.9", "GigabitEthernet"),
        Platform::JuniperJunos => g.junos(bytes),
        Platform::CiscoXr => g.xr(bytes),
        Platform::CiscoAsa => g.asa(bytes),
        Platform::HuaweiVrp => g.vrp(bytes),
        Platform::HpProcurve => g.procurve(bytes),
        Platform::Fortinet => g.fortinet(bytes),
        Platform::PaloaltoPanos => g.panos(bytes),
        Platform::MikrotikRouteros => g.routeros(bytes),
        Platform::ArubaAoscx => g.aoscx(bytes),
        Platform::CiscoNxos => g.nxos(bytes),
        Platform::AristaEos => g.eos(bytes),
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

    fn ios_interfaces(&mut self, until: usize, linux: bool, port: &str) {
        let mut n = 0u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            if linux {
                let _ = writeln!(self.out, "interface eth{n}");
                let _ = writeln!(self.out, " description {desc}");
                let _ = writeln!(self.out, " ip address 10.{b}.{c}.{d}/24");
            } else {
                let _ = writeln!(self.out, "interface {port}{n}");
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
        self.ios_interfaces(bytes.saturating_sub(Self::TAIL), true, "eth");
        self.ios_tail();
    }

    /// The configuration as stored, without the lines IOS prints anew on every
    /// `show running-config` ([`session_text`] adds them): a blank line and `!` where the
    /// banner and byte count were.
    fn ios(&mut self, bytes: usize, version: &str, port: &str) {
        self.out.push_str(IOS_STABLE_HEAD);
        self.line("!");
        let _ = writeln!(self.out, "version {version}");
        self.line("service timestamps log datetime msec");
        let _ = writeln!(self.out, "hostname {}", self.name);
        self.line("!");
        self.ios_secrets();
        self.ios_interfaces(bytes.saturating_sub(Self::TAIL + 60), false, port);
        self.ios_tail();
    }

    /// IOS-XR: the version banner line, then `hostname`, `username` with `secret`,
    /// `interface GigabitEthernet0/0/0/N` with `ipv4 address`, `router bgp`, `end`.
    fn xr(&mut self, bytes: usize) {
        let secret = self.md5_crypt();
        let community = self.secret(10, ALNUM);
        self.line("!! IOS XR Configuration 7.9.2");
        self.line("!");
        let _ = writeln!(self.out, "hostname {}", self.name);
        self.line("username netops");
        self.line(" group root-lr");
        self.line(" group cisco-support");
        let _ = writeln!(self.out, " secret 5 {secret}");
        self.line("!");
        let _ = writeln!(self.out, "snmp-server community {community} RO");
        self.line("ntp");
        self.line(" server 10.0.0.1");
        self.line("!");
        let until = bytes.saturating_sub(Self::TAIL);
        let mut n = 0u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "interface GigabitEthernet0/0/0/{n}");
            let _ = writeln!(self.out, " description {desc}");
            let _ = writeln!(self.out, " ipv4 address 10.{b}.{c}.{d} 255.255.255.0");
            if n % 3 == 2 {
                self.line(" shutdown");
            }
            self.line("!");
            n += 1;
        }
        let asn = 64512 + self.rng.below(1000);
        let (b, c, d) = self.ip();
        let bgp = self.secret(12, HEX);
        let _ = writeln!(self.out, "router bgp {asn}");
        self.line(" address-family ipv4 unicast");
        self.line(" !");
        let _ = writeln!(self.out, " neighbor 10.{b}.{c}.{d}");
        let _ = writeln!(self.out, "  remote-as {}", asn + 1);
        let _ = writeln!(self.out, "  password encrypted {bgp}");
        self.line(" !");
        self.line("!");
        self.line("ssh server v2");
        self.line("end");
    }

    /// ASA: the `:` header, `ASA Version`, `hostname`, `enable password`, `nameif`
    /// interfaces, `: end` ([`asa_session`] adds `: Saved` and `Cryptochecksum:`).
    fn asa(&mut self, bytes: usize) {
        let enable = self.secret(16, ALNUM);
        let user = self.secret(16, ALNUM);
        let community = self.secret(10, ALNUM);
        let serial = self.rng.string(11, ALNUM);
        self.line(":");
        let _ = writeln!(self.out, ": Serial Number: {serial}");
        self.line(
            ": Hardware:   ASA5516, 8192 MB RAM, CPU Atom C2000 series 2416 MHz, 1 CPU (8 cores)",
        );
        self.line(":");
        self.line("ASA Version 9.16(4)");
        self.line("!");
        let _ = writeln!(self.out, "hostname {}", self.name);
        let _ = writeln!(self.out, "enable password {enable} pbkdf2");
        let _ = writeln!(
            self.out,
            "username netops password {user} pbkdf2 privilege 15"
        );
        self.line("names");
        self.line("!");
        let until = bytes.saturating_sub(Self::TAIL);
        let mut n = 0u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "interface GigabitEthernet1/{n}");
            let _ = writeln!(self.out, " description {desc}");
            let _ = writeln!(self.out, " nameif seg{n}");
            let _ = writeln!(self.out, " security-level {}", 100 - (n % 10) * 10);
            let _ = writeln!(self.out, " ip address 10.{b}.{c}.{d} 255.255.255.0");
            self.line("!");
            n += 1;
        }
        self.line("ftp mode passive");
        self.line("access-list outside_in extended permit icmp any any echo-reply");
        let _ = writeln!(
            self.out,
            "snmp-server host seg0 10.0.0.9 community {community}"
        );
        self.line("ssh 10.0.0.0 255.0.0.0 seg0");
        self.line("ssh timeout 5");
        self.line("ntp server 10.0.0.1");
        self.line(": end");
    }

    /// VRP: `!Software Version`, `#` between sections, `sysname`, `local-user` with an
    /// `irreversible-cipher` password, `interface GigabitEthernet0/0/N`, `return`.
    fn vrp(&mut self, bytes: usize) {
        let cipher = format!("$1c${}$", self.rng.string(40, CRYPT));
        self.secrets.push(cipher.clone());
        let community = format!("%^%#{}%^%#", self.rng.string(32, CRYPT));
        self.secrets.push(community.clone());
        self.line("!Software Version V200R021C10SPC600");
        self.line("#");
        let _ = writeln!(self.out, " sysname {}", self.name);
        self.line("#");
        self.line("aaa");
        let _ = writeln!(
            self.out,
            " local-user netops password irreversible-cipher {cipher}"
        );
        self.line(" local-user netops privilege level 15");
        self.line(" local-user netops service-type ssh");
        self.line("#");
        let _ = writeln!(self.out, "snmp-agent community read cipher {community}");
        self.line("#");
        let until = bytes.saturating_sub(Self::TAIL);
        let mut n = 0u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "interface GigabitEthernet0/0/{n}");
            let _ = writeln!(self.out, " description {desc}");
            let _ = writeln!(self.out, " ip address 10.{b}.{c}.{d} 255.255.255.0");
            self.line("#");
            n += 1;
        }
        let asn = 64512 + self.rng.below(1000);
        let (b, c, d) = self.ip();
        let _ = writeln!(self.out, "bgp {asn}");
        let _ = writeln!(self.out, " peer 10.{b}.{c}.{d} as-number {}", asn + 1);
        self.line("#");
        self.line("ntp-service unicast-server 10.0.0.1");
        self.line("#");
        self.line("stelnet server enable");
        self.line("#");
        self.line("return");
    }

    /// ProCurve: `Running configuration:`, the `;` editor lines, `hostname "HOST"`,
    /// `interface N` with `name "..."` and `exit`, VLANs with addresses, `password manager`.
    fn procurve(&mut self, bytes: usize) {
        let community = self.secret(10, ALNUM);
        let radius = self.secret(16, ALNUM);
        self.line("");
        self.line("Running configuration:");
        self.line("");
        self.line("; J9773A Configuration Editor; Created on release #YA.16.10.0009");
        self.line("; Ver #14:01.44.00.04.19.02.13.98.82.34.61.18.28.f3.84.9c.63.ff.37.27:05");
        let _ = writeln!(self.out, "hostname \"{}\"", self.name);
        self.line("module 1 type j9773a");
        let _ = writeln!(self.out, "snmp-server community \"{community}\" operator");
        let _ = writeln!(self.out, "radius-server host 10.0.0.5 key \"{radius}\"");
        self.line("timesync sntp");
        self.line("sntp unicast");
        self.line("sntp server priority 1 10.0.0.1");
        let until = bytes.saturating_sub(Self::TAIL);
        let mut n = 1u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "interface {n}");
            let _ = writeln!(self.out, "   name \"{desc}\"");
            self.line("   exit");
            let _ = writeln!(self.out, "vlan {}", 100 + n);
            let _ = writeln!(self.out, "   name \"{desc}\"");
            let _ = writeln!(self.out, "   untagged {n}");
            let _ = writeln!(self.out, "   ip address 10.{b}.{c}.{d} 255.255.255.0");
            self.line("   exit");
            n += 1;
        }
        self.line("spanning-tree");
        self.line("no tftp server");
        self.line("password manager");
        self.line("password operator");
    }

    /// FortiOS: `#buildno=`, `config ... end` blocks of `edit "..."` / `set` / `next`,
    /// `set password ENC ...`, ending in a blackhole static route.
    fn fortinet(&mut self, bytes: usize) {
        let admin = format!("SH2{}", self.rng.string(60, ALNUM));
        self.secrets.push(admin.clone());
        let psk = format!("ENC {}", self.rng.string(48, ALNUM));
        self.secrets.push(psk.clone());
        self.line("#buildno=1639");
        self.line("#global_vdom=1");
        self.line("config system global");
        self.line("    set admintimeout 30");
        let _ = writeln!(self.out, "    set hostname \"{}\"", self.name);
        self.line("    set timezone 04");
        self.line("end");
        self.line("config system admin");
        self.line("    edit \"netops\"");
        self.line("        set accprofile \"super_admin\"");
        self.line("        set vdom \"root\"");
        let _ = writeln!(self.out, "        set password ENC {admin}");
        self.line("    next");
        self.line("end");
        self.line("config system interface");
        let until = bytes.saturating_sub(Self::TAIL + 200);
        let mut n = 1u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "    edit \"port{n}\"");
            self.line("        set vdom \"root\"");
            let _ = writeln!(self.out, "        set ip 10.{b}.{c}.{d} 255.255.255.0");
            self.line("        set allowaccess ping https ssh");
            let _ = writeln!(self.out, "        set description \"{desc}\"");
            self.line("    next");
            n += 1;
        }
        self.line("end");
        self.line("config vpn ipsec phase1-interface");
        self.line("    edit \"hq\"");
        self.line("        set interface \"port1\"");
        self.line("        set remote-gw 10.0.0.2");
        let _ = writeln!(self.out, "        set psksecret {psk}");
        self.line("    next");
        self.line("end");
        self.line("config router static");
        self.line("    edit 1");
        self.line("        set gateway 10.0.0.1");
        self.line("        set device \"port1\"");
        self.line("    next");
        self.line("    edit 2");
        self.line("        set blackhole enable");
        self.line("    next");
        self.line("end");
    }

    /// PAN-OS `show config running`: XML, `<config version=...>`, the admin's `<phash>`,
    /// layer-3 Ethernet entries with a `<comment>`, the hostname, a shared address list.
    fn panos(&mut self, bytes: usize) {
        let phash = format!(
            "$5${}${}",
            self.rng.string(8, CRYPT),
            self.rng.string(43, CRYPT)
        );
        self.secrets.push(phash.clone());
        let psk = format!("-AQ=={}", self.rng.string(40, ALNUM));
        self.secrets.push(psk.clone());
        self.line(
            "<config version=\"10.2.0\" urldb=\"paloaltonetworks\" detail-version=\"10.2.4\">",
        );
        self.line("  <mgt-config>");
        self.line("    <users>");
        self.line("      <entry name=\"netops\">");
        let _ = writeln!(self.out, "        <phash>{phash}</phash>");
        self.line("        <permissions><role-based><superuser>yes</superuser></role-based></permissions>");
        self.line("      </entry>");
        self.line("    </users>");
        self.line("  </mgt-config>");
        self.line("  <devices>");
        self.line("    <entry name=\"localhost.localdomain\">");
        self.line("      <deviceconfig>");
        self.line("        <system>");
        let _ = writeln!(self.out, "          <hostname>{}</hostname>", self.name);
        self.line("          <ntp-servers><primary-ntp-server><ntp-server-address>10.0.0.1</ntp-server-address></primary-ntp-server></ntp-servers>");
        self.line("        </system>");
        self.line("      </deviceconfig>");
        self.line("      <network>");
        self.line("        <ike>");
        self.line("          <gateway>");
        self.line("            <entry name=\"hq\">");
        let _ = writeln!(
            self.out,
            "              <authentication><pre-shared-key><key>{psk}</key></pre-shared-key></authentication>"
        );
        self.line("            </entry>");
        self.line("          </gateway>");
        self.line("        </ike>");
        self.line("        <interface>");
        self.line("          <ethernet>");
        let until = bytes.saturating_sub(Self::TAIL + 200);
        let mut n = 1u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "            <entry name=\"ethernet1/{n}\">");
            let _ = writeln!(
                self.out,
                "              <layer3><ip><entry name=\"10.{b}.{c}.{d}/24\"/></ip></layer3>"
            );
            let _ = writeln!(self.out, "              <comment>{desc}</comment>");
            self.line("            </entry>");
            n += 1;
        }
        self.line("          </ethernet>");
        self.line("        </interface>");
        self.line("      </network>");
        self.line("    </entry>");
        self.line("  </devices>");
        self.line("  <shared>");
        self.line("    <address>");
        self.line("      <entry name=\"blackhole\"><ip-netmask>192.0.2.0/24</ip-netmask></entry>");
        self.line("    </address>");
        self.line("  </shared>");
        self.line("</config>");
    }

    /// RouterOS `/export`: the `# software id` header, `/interface ethernet` comments,
    /// `/ip address` entries, the SNMP community, identity, NTP, and last a blackhole
    /// route in `/ip route` (the date line before it is added per session).
    fn routeros(&mut self, bytes: usize) {
        let community = self.secret(10, ALNUM);
        let id = self.rng.string(9, ALNUM);
        let serial = self.rng.string(12, ALNUM);
        let _ = writeln!(self.out, "# software id = {id}");
        self.line("#");
        self.line("# model = RB5009UG+S+");
        let _ = writeln!(self.out, "# serial number = {serial}");
        let until = bytes.saturating_sub(Self::TAIL + 200);
        let mut ports = Vec::new();
        self.line("/interface ethernet");
        let mut n = 1u64;
        while self.out.len() < until / 2 {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let _ = writeln!(
                self.out,
                "set [ find default-name=ether{n} ] comment={desc}"
            );
            ports.push(n);
            n += 1;
        }
        self.line("/ip address");
        let mut i = 0;
        while self.out.len() < until {
            let (b, c, d) = self.ip();
            let port = ports.get(i % ports.len().max(1)).copied().unwrap_or(1);
            let _ = writeln!(
                self.out,
                "add address=10.{b}.{c}.{d}/24 interface=ether{port} network=10.{b}.{c}.0"
            );
            i += 1;
        }
        self.line("/ip service");
        self.line("set telnet disabled=yes");
        self.line("set ftp disabled=yes");
        self.line("/snmp community");
        let _ = writeln!(self.out, "set [ find default=yes ] name={community}");
        self.line("/system identity");
        let _ = writeln!(self.out, "set name={}", self.name);
        self.line("/system ntp client");
        self.line("set enabled=yes");
        self.line("/system ntp client servers");
        self.line("add address=10.0.0.1");
        self.line("/ip route");
        self.line("add blackhole dst-address=192.0.2.0/24");
    }

    /// AOS-CX: `Current configuration:`, `!Version ArubaOS-CX`, `user ... password
    /// ciphertext`, `interface 1/1/N` with a four-space indent, routes, `https-server`.
    fn aoscx(&mut self, bytes: usize) {
        let cipher = format!("AQBapf{}", self.rng.string(60, ALNUM));
        self.secrets.push(cipher.clone());
        let community = self.secret(10, ALNUM);
        self.line("Current configuration:");
        self.line("!");
        self.line("!Version ArubaOS-CX FL.10.10.1040");
        self.line("!export-password: default");
        let _ = writeln!(self.out, "hostname {}", self.name);
        let _ = writeln!(
            self.out,
            "user netops group administrators password ciphertext {cipher}"
        );
        self.line("ntp server 10.0.0.1");
        self.line("ntp enable");
        self.line("!");
        self.line("ssh server vrf mgmt");
        let _ = writeln!(self.out, "snmp-server community {community}");
        self.line("vlan 1");
        let until = bytes.saturating_sub(Self::TAIL);
        let mut n = 1u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "interface 1/1/{n}");
            self.line("    no shutdown");
            let _ = writeln!(self.out, "    description {desc}");
            self.line("    routing");
            let _ = writeln!(self.out, "    ip address 10.{b}.{c}.{d}/24");
            n += 1;
        }
        self.line("ip route 0.0.0.0/0 10.0.0.1");
        self.line("!");
        self.line("https-server vrf mgmt");
    }

    /// NX-OS: a blank line and `!Command: show running-config` ([`nxos_session`] adds the
    /// times after it), `version`, `feature` lines, `username ... password 5 $5$...`,
    /// SNMPv3 users, `interface EthernetN/M` with a two-space indent, `boot nxos`.
    fn nxos(&mut self, bytes: usize) {
        let admin = format!(
            "$5${}${}",
            self.rng.string(8, CRYPT),
            self.rng.string(43, CRYPT)
        );
        self.secrets.push(admin.clone());
        let auth = format!("0x{}", self.rng.string(32, HEX).to_ascii_lowercase());
        self.secrets.push(auth.clone());
        let community = self.secret(10, ALNUM);
        self.out.push_str(NXOS_STABLE_HEAD);
        self.line("");
        self.line("version 9.3(8) Bios:version 05.45");
        let _ = writeln!(self.out, "hostname {}", self.name);
        let _ = writeln!(self.out, "vdc {} id 1", self.name);
        self.line("  limit-resource vlan minimum 16 maximum 4094");
        self.line("  limit-resource vrf minimum 2 maximum 4096");
        self.line("feature bgp");
        self.line("feature interface-vlan");
        self.line("feature lacp");
        self.line("");
        self.line("no password strength-check");
        let _ = writeln!(
            self.out,
            "username netops password 5 {admin}  role network-admin"
        );
        self.line("ip domain-lookup");
        self.line("copp profile strict");
        let _ = writeln!(
            self.out,
            "snmp-server user netops network-admin auth md5 {auth} localizedkey"
        );
        let _ = writeln!(
            self.out,
            "snmp-server community {community} group network-operator"
        );
        self.line("ntp server 10.0.0.1 use-vrf management");
        self.line("");
        self.line("vlan 1");
        self.line("");
        self.line("vrf context management");
        self.line("  ip route 0.0.0.0/0 10.0.0.1");
        self.line("");
        let until = bytes.saturating_sub(Self::TAIL + 80);
        let mut n = 1u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "interface Ethernet1/{n}");
            let _ = writeln!(self.out, "  description {desc}");
            self.line("  no switchport");
            let _ = writeln!(self.out, "  ip address 10.{b}.{c}.{d}/24");
            self.line(if n % 3 == 2 {
                "  shutdown"
            } else {
                "  no shutdown"
            });
            self.line("");
            n += 1;
        }
        let asn = 64512 + self.rng.below(1000);
        let (b, c, d) = self.ip();
        let bgp = self.secret(16, HEX);
        self.line("interface mgmt0");
        self.line("  vrf member management");
        self.line("  ip address 10.0.0.15/24");
        self.line("line console");
        self.line("line vty");
        let _ = writeln!(self.out, "router bgp {asn}");
        let _ = writeln!(self.out, "  neighbor 10.{b}.{c}.{d}");
        let _ = writeln!(self.out, "    remote-as {}", asn + 1);
        let _ = writeln!(self.out, "    password 3 {bgp}");
        self.line("boot nxos bootflash:/nxos.9.3.8.bin");
    }

    /// EOS: `!` and `! boot system` (the session adds `! Command:` and `! device:` above),
    /// `username ... secret sha512`, `interface EthernetN` with a three-space indent,
    /// `router bgp` with `neighbor ... password 7`, `end`.
    fn eos(&mut self, bytes: usize) {
        let user = self.sha512_crypt();
        let enable = self.sha512_crypt();
        let community = self.secret(10, ALNUM);
        self.line("!");
        self.line("! boot system flash:/vEOS-lab.swi");
        self.line("!");
        self.line("no aaa root");
        self.line("!");
        let _ = writeln!(
            self.out,
            "username netops privilege 15 role network-admin secret sha512 {user}"
        );
        self.line("!");
        let _ = writeln!(self.out, "hostname {}", self.name);
        self.line("!");
        let _ = writeln!(self.out, "snmp-server community {community} ro");
        self.line("!");
        self.line("spanning-tree mode mstp");
        self.line("!");
        let _ = writeln!(self.out, "enable password sha512 {enable}");
        self.line("!");
        let until = bytes.saturating_sub(Self::TAIL + 60);
        let mut n = 1u64;
        while self.out.len() < until {
            let desc = *self.rng.pick(DESCRIPTIONS);
            let (b, c, d) = self.ip();
            let _ = writeln!(self.out, "interface Ethernet{n}");
            let _ = writeln!(self.out, "   description {desc}");
            self.line("   no switchport");
            let _ = writeln!(self.out, "   ip address 10.{b}.{c}.{d}/24");
            if n % 3 == 2 {
                self.line("   shutdown");
            }
            self.line("!");
            n += 1;
        }
        let asn = 64512 + self.rng.below(1000);
        let (b, c, d) = self.ip();
        let bgp = self.secret(24, ALNUM);
        self.line("interface Management1");
        self.line("   ip address 10.0.0.15/24");
        self.line("!");
        self.line("ip routing");
        self.line("!");
        self.line("ip route 0.0.0.0/0 10.0.0.1");
        self.line("!");
        self.line("ntp server 10.0.0.1");
        self.line("!");
        let _ = writeln!(self.out, "router bgp {asn}");
        let _ = writeln!(self.out, "   neighbor 10.{b}.{c}.{d} remote-as {}", asn + 1);
        let _ = writeln!(self.out, "   neighbor 10.{b}.{c}.{d} password 7 {bgp}");
        self.line("!");
        self.line("management api http-commands");
        self.line("   no shutdown");
        self.line("!");
        self.line("end");
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
        assert_eq!(xr_time(1_709_648_525, None), "Tue Mar  5 14:22:05 2024");
        assert_eq!(ios_time(951_825_600), "12:00:00 UTC Tue Feb 29 2000");
    }

    #[test]
    fn nxos_and_eos_print_their_header_lines_above_the_stable_text() {
        let stamp = SessionStamp {
            unix_secs: 1_709_648_525,
            clock_period: 17_170_001,
        };
        let stable = generate(1, "n1", Platform::CiscoNxos, 3000).text;
        assert!(stable.starts_with("\n!Command: show running-config\n\nversion 9.3(8)"));
        let sent = session_text(&stable, Platform::CiscoNxos, stamp);
        assert!(
            sent.starts_with(
                "\n!Command: show running-config\n\
                 !Running configuration last done at: Tue Mar  5 12:55:24 2024\n\
                 !Time: Tue Mar  5 14:22:05 2024\n\nversion 9.3(8)"
            ),
            "{sent}"
        );
        let kept: String = sent
            .split_inclusive('\n')
            .filter(|l| !(l.starts_with("!Time: ") || l.starts_with("!Running configuration")))
            .collect();
        assert_eq!(kept, stable);

        let stable = generate(1, "e1", Platform::AristaEos, 3000).text;
        let sent = session_text(&stable, Platform::AristaEos, stamp);
        assert_eq!(
            sent,
            format!(
                "! Command: show running-config\n! device: e1 (vEOS-lab, EOS-4.31.2F)\n{stable}"
            )
        );
        assert!(stable.starts_with("!\n! boot system flash:/vEOS-lab.swi\n!\n"));
        assert!(stable.ends_with("!\nend\n"));
    }
}
