//! Platform profiles: how to talk to a kind of device, as data (built-in TOML files under
//! `worker/profiles/`, plus any `*.toml` in the configured profiles folder), and the
//! platform names they answer to.
//!
//! A profile may list `aliases`: other names for it, chiefly Netmiko's `device_type` names
//! (`cisco_ios_ssh`, `juniper`) and the NAPALM names Nornir inventories use (`ios`,
//! `junos`), so an inventory brought from those tools imports as it is. An alias resolves
//! to its profile wherever a platform is looked up; `netraven inventory import` stores the
//! profile's own name. One name claimed by two profiles is a load error, not a guess.

use crate::error::WorkerError;
use crate::volatile::Volatile;
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

const BUILT_IN: &[(&str, &str)] = &[
    ("linux", include_str!("../profiles/linux.toml")),
    ("cisco_ios", include_str!("../profiles/cisco_ios.toml")),
    ("cisco_xe", include_str!("../profiles/cisco_xe.toml")),
    ("cisco_xr", include_str!("../profiles/cisco_xr.toml")),
    ("cisco_asa", include_str!("../profiles/cisco_asa.toml")),
    ("cisco_nxos", include_str!("../profiles/cisco_nxos.toml")),
    ("huawei_vrp", include_str!("../profiles/huawei_vrp.toml")),
    ("hp_procurve", include_str!("../profiles/hp_procurve.toml")),
    ("fortinet", include_str!("../profiles/fortinet.toml")),
    (
        "mikrotik_routeros",
        include_str!("../profiles/mikrotik_routeros.toml"),
    ),
    (
        "paloalto_panos",
        include_str!("../profiles/paloalto_panos.toml"),
    ),
    ("arista_eos", include_str!("../profiles/arista_eos.toml")),
    ("aruba_aoscx", include_str!("../profiles/aruba_aoscx.toml")),
    (
        "juniper_junos",
        include_str!("../profiles/juniper_junos.toml"),
    ),
    ("generic", include_str!("../profiles/generic.toml")),
];

/// How commands reach the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One exec channel per command.
    Exec,
    /// An interactive shell on a PTY, read until the prompt.
    Shell,
}

/// A profile as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    transport: Transport,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    privileged_prompt: Option<String>,
    #[serde(default)]
    enable_command: Option<String>,
    #[serde(default)]
    password_prompt: Option<String>,
    #[serde(default)]
    paging_off: Vec<String>,
    #[serde(default)]
    pager: Option<String>,
    #[serde(default)]
    error_patterns: Vec<String>,
    #[serde(default)]
    legacy_algorithms: bool,
    #[serde(default)]
    allow_ssh_rsa_sha1: bool,
    /// Lines that change by themselves, removed before a configuration is hashed.
    #[serde(default)]
    volatile: Vec<String>,
    /// Other names for this platform (Netmiko `device_type`s, NAPALM driver names).
    #[serde(default)]
    aliases: Vec<String>,
    commands: BTreeMap<String, String>,
}

/// A loaded profile, its patterns compiled.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub transport: Transport,
    pub prompt: Option<Regex>,
    pub privileged_prompt: Option<Regex>,
    pub enable_command: Option<String>,
    pub password_prompt: Option<Regex>,
    pub paging_off: Vec<String>,
    pub pager: Option<Regex>,
    pub error_patterns: Vec<Regex>,
    /// Every error pattern in one alternation: one search per output line, not one per
    /// line and pattern (a 20 KB configuration has some 500 lines).
    any_error: Option<Regex>,
    /// The whole-text search finds every line match unless a pattern anchors on the
    /// start or end of the text itself (`\A`, `\z`).
    whole_text_prefilter: bool,
    /// Offer diffie-hellman-group14-sha1, aes-cbc and hmac-sha1 for old devices.
    pub legacy_algorithms: bool,
    /// Accept `ssh-rsa` host-key signatures (SHA-1) from devices that offer nothing newer.
    pub allow_ssh_rsa_sha1: bool,
    /// The command of each job type (`config_backup`).
    pub commands: BTreeMap<String, String>,
    /// The lines of a configuration that change by themselves ([`Volatile`]).
    pub volatile: Option<Volatile>,
    /// Other names this profile answers to.
    pub aliases: Vec<String>,
    /// Where it was loaded from: `built-in` or the file's path.
    pub origin: String,
}

impl Profile {
    fn parse(text: &str, origin: &str) -> Result<Profile, WorkerError> {
        let f: ProfileFile = toml::from_str(text).map_err(|source| WorkerError::ProfileToml {
            origin: origin.to_string(),
            source,
        })?;
        let re = |p: &str| {
            Regex::new(&format!("(?m){p}")).map_err(|source| WorkerError::ProfilePattern {
                origin: origin.to_string(),
                pattern: p.to_string(),
                source,
            })
        };
        let opt = |p: &Option<String>| p.as_deref().map(re).transpose();
        if f.transport == Transport::Shell && f.prompt.is_none() {
            return Err(WorkerError::ProfileWithoutPrompt {
                origin: origin.to_string(),
            });
        }
        let any_error = match f.error_patterns.as_slice() {
            [] => None,
            patterns => Some(re(&patterns
                .iter()
                .map(|p| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|"))?),
        };
        let whole_text_prefilter = !f
            .error_patterns
            .iter()
            .any(|p| p.contains("\\A") || p.contains("\\z"));
        let volatile =
            Volatile::new(&f.volatile).map_err(|source| WorkerError::ProfileVolatile {
                origin: origin.to_string(),
                source,
            })?;
        Ok(Profile {
            volatile,
            any_error,
            whole_text_prefilter,
            prompt: opt(&f.prompt)?,
            privileged_prompt: opt(&f.privileged_prompt)?,
            password_prompt: opt(&f.password_prompt)?,
            pager: opt(&f.pager)?,
            error_patterns: f
                .error_patterns
                .iter()
                .map(|p| re(p))
                .collect::<Result<_, _>>()?,
            name: f.name,
            transport: f.transport,
            enable_command: f.enable_command,
            paging_off: f.paging_off,
            legacy_algorithms: f.legacy_algorithms,
            allow_ssh_rsa_sha1: f.allow_ssh_rsa_sha1,
            commands: f.commands,
            aliases: f.aliases,
            origin: origin.to_string(),
        })
    }

    /// The line of `output` that matches an error pattern, if any.
    pub fn error_in<'a>(&self, output: &'a str) -> Option<&'a str> {
        let any = self.any_error.as_ref()?;
        if self.whole_text_prefilter {
            // One search over the whole output, its lines' trailing blanks removed as the
            // line check removes them: whatever matches a line matches here too, so no
            // match here means no error, and only a match costs the line-by-line check.
            let blank_ends = output.contains(" \n")
                || output.contains("\t\n")
                || output.contains('\r')
                || output.trim_end_matches('\n').ends_with(char::is_whitespace);
            let found = if blank_ends {
                let mut trimmed = String::with_capacity(output.len());
                for line in output.lines() {
                    trimmed.push_str(line.trim_end());
                    trimmed.push('\n');
                }
                any.is_match(&trimmed)
            } else {
                any.is_match(output)
            };
            if !found {
                return None;
            }
        }
        output.lines().find(|line| any.is_match(line.trim_end()))
    }
}

/// Every profile by platform name, and the aliases that lead to them.
#[derive(Debug, Clone)]
pub struct Profiles {
    by_name: HashMap<String, Arc<Profile>>,
    /// Alias → the profile's own name.
    aliases: HashMap<String, String>,
}

/// How a platform name was found: a profile's own name, or an alias of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved<'a> {
    Name(&'a str),
    Alias(&'a str),
}

impl<'a> Resolved<'a> {
    /// The profile's own name, the one to store.
    pub fn canonical(self) -> &'a str {
        match self {
            Resolved::Name(n) | Resolved::Alias(n) => n,
        }
    }
}

impl Profiles {
    /// The built-in profiles, then every `*.toml` in `dir` (a user profile with a built-in
    /// name replaces it, aliases and all). Two files in `dir` with one name, or a name
    /// claimed by two profiles (as a name or an alias), is an error.
    pub fn load(dir: Option<&Path>) -> Result<Profiles, WorkerError> {
        let mut by_name = HashMap::new();
        for (name, text) in BUILT_IN {
            by_name.insert(
                name.to_string(),
                Arc::new(Profile::parse(text, &format!("built-in profile {name}"))?),
            );
        }
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir).map_err(|source| WorkerError::ProfilesRead {
                path: dir.to_path_buf(),
                source,
            })?;
            let mut paths: Vec<_> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
                .collect();
            paths.sort();
            let mut from_dir: HashMap<String, String> = HashMap::new();
            for path in paths {
                let text =
                    std::fs::read_to_string(&path).map_err(|source| WorkerError::ProfilesRead {
                        path: path.clone(),
                        source,
                    })?;
                let profile = Profile::parse(&text, &path.display().to_string())?;
                if let Some(first) = from_dir.insert(profile.name.clone(), profile.origin.clone()) {
                    return Err(WorkerError::ProfileNameTwice {
                        name: profile.name.clone(),
                        first,
                        second: profile.origin.clone(),
                    });
                }
                by_name.insert(profile.name.clone(), Arc::new(profile));
            }
        }
        let mut aliases: HashMap<String, String> = HashMap::new();
        let mut names: Vec<&String> = by_name.keys().collect();
        names.sort();
        for name in names {
            let profile = &by_name[name];
            for alias in &profile.aliases {
                if alias == name {
                    continue;
                }
                let other = by_name.get(alias).map(|p| p.origin.clone()).or_else(|| {
                    aliases
                        .get(alias)
                        .and_then(|n| by_name.get(n))
                        .map(|p| p.origin.clone())
                });
                if let Some(first) = other {
                    return Err(WorkerError::ProfileNameTwice {
                        name: alias.clone(),
                        first,
                        second: profile.origin.clone(),
                    });
                }
                aliases.insert(alias.clone(), name.clone());
            }
        }
        Ok(Profiles { by_name, aliases })
    }

    /// The profile for `platform`, by its name or an alias.
    pub fn get(&self, platform: &str) -> Option<Arc<Profile>> {
        let name = self.resolve(platform)?.canonical();
        self.by_name.get(name).cloned()
    }

    /// Whether `platform` is a profile's name or an alias, and the profile's name.
    pub fn resolve(&self, platform: &str) -> Option<Resolved<'_>> {
        if let Some((name, _)) = self.by_name.get_key_value(platform) {
            return Some(Resolved::Name(name));
        }
        self.aliases
            .get(platform)
            .map(|name| Resolved::Alias(name.as_str()))
    }

    /// Every profile, by name.
    pub fn all(&self) -> Vec<Arc<Profile>> {
        let mut all: Vec<_> = self.by_name.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The profiles' own names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_found_wherever_they_are_and_only_on_their_own_line() {
        let profiles = Profiles::load(None).expect("built-ins parse");
        let ios = profiles.get("cisco_ios").expect("ios");
        let config = "hostname r1\ninterface Gi0/1\n description % Invalid input detected\n";
        assert_eq!(ios.error_in(config), None, "only at the start of a line");
        let failed = "show run\n% Invalid input detected at '^' marker.   \nr1#";
        assert_eq!(
            ios.error_in(failed),
            Some("% Invalid input detected at '^' marker.   ")
        );
        let linux = profiles.get("linux").expect("linux");
        // `$` after trailing blanks: the line is checked trimmed, as before.
        assert_eq!(
            linux.error_in("ok\nbash: foo: command not found  \n"),
            Some("bash: foo: command not found  ")
        );
        assert_eq!(
            linux.error_in("bash: foo: command not found, or was it"),
            None
        );
        assert_eq!(
            profiles
                .get("generic")
                .expect("generic")
                .error_in("% Invalid input"),
            None
        );
    }

    /// The refusals the devices print, as recorded (each profile cites its source), are
    /// errors; their prompts' and pagers' answers are not.
    #[test]
    fn recorded_refusals_are_errors_for_nxos_eos_and_aoscx() {
        let profiles = Profiles::load(None).expect("built-ins parse");
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "cisco_nxos",
                "disable\n          ^\n% Invalid command at '^' marker.\nswitch# ",
                Some("% Invalid command at '^' marker."),
            ),
            ("cisco_nxos", "terminal length 0\nswitch# ", None),
            (
                "arista_eos",
                "show bogus\n% Invalid input (at token 1: 'bogus')\nlocalhost#",
                Some("% Invalid input (at token 1: 'bogus')"),
            ),
            (
                "arista_eos",
                "show run\n% Invalid input (privileged mode required)\nlocalhost>",
                Some("% Invalid input (privileged mode required)"),
            ),
            (
                "arista_eos",
                "terminal length 0\nPagination disabled.\nlocalhost#",
                None,
            ),
            (
                "aruba_aoscx",
                "port-access event-log\n% Command incomplete.\nsw(config)# ",
                Some("% Command incomplete."),
            ),
            (
                "aruba_aoscx",
                "ex\n% Ambiguous command.\nsw(config)# ",
                Some("% Ambiguous command."),
            ),
            (
                "aruba_aoscx",
                "show frobnication\nInvalid input: frobnication\nsw# ",
                Some("Invalid input: frobnication"),
            ),
        ];
        for (platform, output, error) in cases {
            let profile = profiles.get(platform).expect("built in");
            assert_eq!(profile.error_in(output), *error, "{platform}: {output:?}");
        }
    }

    #[test]
    fn every_built_in_profile_loads_and_names_a_backup_command() {
        let profiles = Profiles::load(None).expect("built-ins parse");
        for (name, _) in BUILT_IN {
            let p = profiles.get(name).expect("present");
            assert_eq!(&p.name, name);
            assert!(p.commands.contains_key("config_backup"), "{name}");
        }
        let ios = profiles.get("cisco_ios").expect("ios");
        assert_eq!(ios.transport, Transport::Shell);
        assert!(ios
            .prompt
            .as_ref()
            .expect("prompt")
            .is_match("core-rtr-01#"));
        assert!(ios
            .error_in("show bogus\n% Invalid input detected at '^' marker.")
            .is_some());
        assert!(ios.error_in("hostname r1\ninterface Gi0/1").is_none());
    }

    #[test]
    fn user_profiles_are_loaded_from_a_folder_and_checked() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("mikrotik.toml"),
            "name = \"mikrotik\"\ntransport = \"exec\"\n[commands]\nconfig_backup = \"/export\"\n",
        )
        .expect("write");
        let profiles = Profiles::load(Some(dir.path())).expect("loads");
        assert_eq!(
            profiles.get("mikrotik").expect("present").commands["config_backup"],
            "/export"
        );
        std::fs::write(
            dir.path().join("bad.toml"),
            "name = \"bad\"\ntransport = \"shell\"\n[commands]\n",
        )
        .expect("write");
        let err = Profiles::load(Some(dir.path())).expect_err("shell without prompt");
        assert!(err.to_string().contains("prompt"), "{err}");
    }

    #[test]
    fn netmiko_and_napalm_names_resolve_to_their_profile() {
        let profiles = Profiles::load(None).expect("built-ins parse");
        for (alias, name) in [
            ("cisco_ios_ssh", "cisco_ios"),
            ("ios", "cisco_ios"),
            ("cisco_nxos_ssh", "cisco_nxos"),
            ("arista_eos_ssh", "arista_eos"),
            ("juniper", "juniper_junos"),
            ("juniper_junos_ssh", "juniper_junos"),
            ("linux_ssh", "linux"),
            ("cisco_xe_ssh", "cisco_xe"),
            ("cisco_xr_ssh", "cisco_xr"),
            ("iosxr", "cisco_xr"),
            ("cisco_asa_ssh", "cisco_asa"),
            ("huawei", "huawei_vrp"),
            ("huawei_vrp_ssh", "huawei_vrp"),
            ("hp_procurve_ssh", "hp_procurve"),
            ("aruba_osswitch", "hp_procurve"),
            ("fortinet_ssh", "fortinet"),
            ("paloalto_panos_ssh", "paloalto_panos"),
            ("mikrotik_routeros_ssh", "mikrotik_routeros"),
            ("aruba_aoscx_ssh", "aruba_aoscx"),
        ] {
            assert_eq!(
                profiles.resolve(alias),
                Some(Resolved::Alias(name)),
                "{alias}"
            );
            assert_eq!(profiles.get(alias).expect(alias).name, name);
        }
        assert_eq!(profiles.resolve("linux"), Some(Resolved::Name("linux")));
        assert_eq!(profiles.resolve("cisco_ios_telnet"), None);
        assert_eq!(profiles.resolve("Cisco_IOS"), None);
        assert!(profiles.names().contains(&"juniper_junos"));
    }

    #[test]
    fn a_name_claimed_by_two_profiles_is_a_load_error() {
        let dir = tempfile::tempdir().expect("dir");
        let profile = |name: &str, aliases: &str| {
            format!(
                "name = \"{name}\"\ntransport = \"exec\"\naliases = [{aliases}]\n\
                 [commands]\nconfig_backup = \"show\"\n"
            )
        };
        std::fs::write(dir.path().join("a.toml"), profile("box_a", "\"box\"")).expect("write");
        std::fs::write(dir.path().join("b.toml"), profile("box_b", "\"box\"")).expect("write");
        let err = Profiles::load(Some(dir.path())).expect_err("box twice");
        let text = err.to_string();
        assert!(
            text.contains("\"box\"") && text.contains("a.toml") && text.contains("b.toml"),
            "{text}"
        );

        std::fs::remove_file(dir.path().join("b.toml")).expect("rm");
        std::fs::write(dir.path().join("c.toml"), profile("box_c", "\"juniper\"")).expect("write");
        let err = Profiles::load(Some(dir.path())).expect_err("a built-in's alias");
        assert!(
            err.to_string().contains("built-in profile juniper_junos"),
            "{err}"
        );

        std::fs::write(dir.path().join("c.toml"), profile("box_c", "\"linux\"")).expect("write");
        let err = Profiles::load(Some(dir.path())).expect_err("a built-in's name");
        assert!(err.to_string().contains("\"linux\""), "{err}");

        std::fs::write(dir.path().join("c.toml"), profile("box_a", "")).expect("write");
        let err = Profiles::load(Some(dir.path())).expect_err("two files, one name");
        assert!(err.to_string().contains("\"box_a\""), "{err}");

        // Replacing a built-in replaces its aliases too: `ios` is free again.
        std::fs::remove_file(dir.path().join("c.toml")).expect("rm");
        std::fs::write(
            dir.path().join("ios.toml"),
            profile("cisco_ios", "\"my_ios\""),
        )
        .expect("write");
        let profiles = Profiles::load(Some(dir.path())).expect("loads");
        assert_eq!(
            profiles.resolve("my_ios"),
            Some(Resolved::Alias("cisco_ios"))
        );
        assert_eq!(profiles.resolve("ios"), None);
        assert_eq!(profiles.resolve("box"), Some(Resolved::Alias("box_a")));
    }
}
