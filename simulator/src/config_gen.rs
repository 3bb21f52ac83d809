//! Running configs: deterministic from (seed, device name), sized, with secret-bearing lines.

use std::fmt::Write as _;

use crate::seed::{Rng, ALNUM, CRYPT, HEX};
use crate::Platform;

/// A generated config and the secret values inside it (for redaction tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedConfig {
    /// The text a backup must return, `\n` line ends.
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

    fn ios(&mut self, bytes: usize) {
        let mut body = Gen {
            rng: Rng::new(0, ""),
            name: self.name,
            out: String::new(),
            secrets: Vec::new(),
        };
        std::mem::swap(&mut body.rng, &mut self.rng);
        body.line("!");
        body.line("version 15.2");
        body.line("service timestamps log datetime msec");
        let _ = writeln!(body.out, "hostname {}", self.name);
        body.line("!");
        body.ios_secrets();
        body.ios_interfaces(bytes.saturating_sub(Self::TAIL + 60), false);
        body.ios_tail();
        self.out.push_str("Building configuration...\n\n");
        let _ = writeln!(self.out, "Current configuration : {} bytes", body.out.len());
        self.out.push_str(&body.out);
        self.secrets = body.secrets;
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
