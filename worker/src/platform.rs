//! Platform profiles: how to talk to a kind of device, as data (built-in TOML files under
//! `worker/profiles/`, plus any `*.toml` in the configured profiles folder).

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
    ("cisco_nxos", include_str!("../profiles/cisco_nxos.toml")),
    ("arista_eos", include_str!("../profiles/arista_eos.toml")),
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

/// Every profile by platform name.
#[derive(Debug, Clone)]
pub struct Profiles(HashMap<String, Arc<Profile>>);

impl Profiles {
    /// The built-in profiles, then every `*.toml` in `dir` (a user profile with a built-in
    /// name replaces it).
    pub fn load(dir: Option<&Path>) -> Result<Profiles, WorkerError> {
        let mut map = HashMap::new();
        for (name, text) in BUILT_IN {
            map.insert(
                name.to_string(),
                Arc::new(Profile::parse(text, &format!("built-in profile {name}"))?),
            );
        }
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir).map_err(|source| WorkerError::ProfilesRead {
                path: dir.to_path_buf(),
                source,
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                    continue;
                }
                let text =
                    std::fs::read_to_string(&path).map_err(|source| WorkerError::ProfilesRead {
                        path: path.clone(),
                        source,
                    })?;
                let profile = Profile::parse(&text, &path.display().to_string())?;
                map.insert(profile.name.clone(), Arc::new(profile));
            }
        }
        Ok(Profiles(map))
    }

    pub fn get(&self, platform: &str) -> Option<Arc<Profile>> {
        self.0.get(platform).cloned()
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
}
