//! Reading an inventory file and finding every problem in it, each with the line and
//! column it is on: empty names, hosts, usernames and secrets; a secret given none or
//! several ways, or from an unset variable or unreadable file; names given twice; ports out
//! of range; unknown platforms; fields that are not there or not known. Tags that the file
//! names but does not declare are handed back for the import to look up in Postgres.
//!
//! Why `marked-yaml` and not `serde_yaml_ng` (which the rest of the CLI uses):
//! `serde_yaml_ng` gives a position only for the one error that stops it, never for a
//! value that parsed but is wrong (an empty host, a duplicate name, an unknown platform),
//! and it stops at the first bad entry. `marked-yaml` (on `yaml-rust2`, pure Rust, both
//! maintained) parses once to nodes that keep their marks, and its serde support fills
//! `Spanned<T>` fields from them. Each entry is deserialized on its own, so a malformed
//! entry is one problem and the others are still checked. What it refuses that
//! `serde_yaml_ng` took: anchors and aliases (`&a`, `*a`) and explicit tags (`!!str`),
//! each reported with its position; an inventory has no need of them.
//!
//! Secrets never reach a message: problems name the credential, the variable or the file,
//! never a value.

use super::{Credential, Device, Inventory, KeyCredential, Tag};
use marked_yaml::{LoadError, LoaderOptions, Node, Span, Spanned};
use netraven_worker::client_keys;
use netraven_worker::platform::Profiles;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// One problem in the file, and where it is (1-based; 0 when the parser gave no mark).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

/// A tag named by a device or credential that the file's `tags:` does not declare: a
/// problem unless Postgres has it already.
#[derive(Debug)]
pub struct Undeclared {
    pub tag: String,
    pub line: usize,
    pub column: usize,
    /// `device "r1"` or `credential "tacacs"`.
    pub owner: String,
}

/// What reading a file found: the inventory (meaningful only without problems), the
/// problems, and the tags to look up.
#[derive(Debug, Default)]
pub struct Read {
    pub inventory: Inventory,
    pub problems: Vec<Problem>,
    pub undeclared: Vec<Undeclared>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTag {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    name: Spanned<String>,
    username: Spanned<String>,
    #[serde(default = "default_priority")]
    priority: i32,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    #[serde(default)]
    secret_env: Option<Spanned<String>>,
    #[serde(default)]
    secret_file: Option<Spanned<String>>,
    #[serde(default)]
    secret: Option<Spanned<SecretString>>,
    /// A private key's file (OpenSSH, PEM or PKCS#8).
    #[serde(default)]
    key_file: Option<Spanned<String>>,
    /// An environment variable that holds a private key's text.
    #[serde(default)]
    key_env: Option<Spanned<String>>,
    #[serde(default)]
    key_passphrase_env: Option<Spanned<String>>,
    #[serde(default)]
    key_passphrase_file: Option<Spanned<String>>,
}

fn default_priority() -> i32 {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: Spanned<String>,
    host: Spanned<String>,
    /// Wider than a port, so that 70000 is "out of range" with its line, not a type error.
    #[serde(default)]
    port: Option<Spanned<i64>>,
    platform: Spanned<String>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
}

fn at(span: &Span) -> (usize, usize) {
    span.start().map_or((0, 0), |m| (m.line(), m.column()))
}

/// Collects problems, sorted by position when done.
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, span: &Span, message: String) {
        let (line, column) = at(span);
        self.0.push(Problem {
            line,
            column,
            message,
        });
    }
}

/// Reads the file at `path`; `Err` only when it cannot be read at all. Relative
/// `secret_file`s are read from the file's folder.
pub fn read_file(path: &Path, profiles: &Profiles) -> anyhow::Result<Read> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(read_str(&text, base, profiles))
}

/// Reads an inventory from `text`.
pub fn read_str(text: &str, base: &Path, profiles: &Profiles) -> Read {
    let mut problems = Problems(Vec::new());
    let mut read = Read::default();
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(root) => root,
        Err(e) => {
            read.problems = vec![load_problem(&e)];
            return read;
        }
    };
    let Some(top) = root.as_mapping() else {
        problems.add(
            root.span(),
            "an inventory is a mapping of tags, credentials and devices".into(),
        );
        read.problems = problems.0;
        return read;
    };
    let mut sections: [&[Node]; 3] = [&[], &[], &[]];
    for (key, value) in top.iter() {
        let slot = match key.as_str() {
            "tags" => 0,
            "credentials" => 1,
            "devices" => 2,
            other => {
                problems.add(
                    key.span(),
                    format!(
                        "unknown section {other:?}: an inventory has tags, credentials and \
                         devices"
                    ),
                );
                continue;
            }
        };
        match value {
            Node::Sequence(seq) => sections[slot] = seq.as_slice(),
            // `devices:` with nothing after it: an empty section.
            Node::Scalar(s) if s.as_str().is_empty() || s.as_str() == "~" => {}
            other => problems.add(
                other.span(),
                format!("{}: give a list (`- name: ...` entries)", key.as_str()),
            ),
        }
    }

    let mut declared: HashMap<String, usize> = HashMap::new();
    for node in sections[0] {
        let Some(t) = entry::<RawTag>(node, "tag", &mut problems) else {
            continue;
        };
        let name = t.name.as_str().trim();
        if name.is_empty() {
            problems.add(t.name.span(), "tag name is empty".into());
        } else if let Some(first) = declared.insert(name.to_string(), at(t.name.span()).0) {
            problems.add(
                t.name.span(),
                format!("tag {name:?} is declared twice (first on line {first})"),
            );
        }
        read.inventory.tags.push(Tag {
            name: t.name.to_string(),
            description: t.description,
        });
    }

    let mut seen: HashMap<String, usize> = HashMap::new();
    for node in sections[1] {
        let Some(c) = entry::<RawCredential>(node, "credential", &mut problems) else {
            continue;
        };
        let name = c.name.as_str().trim().to_string();
        let owner = format!("credential {name:?}");
        if name.is_empty() {
            problems.add(c.name.span(), "credential name is empty".into());
        } else if let Some(first) = seen.insert(name.clone(), at(c.name.span()).0) {
            problems.add(
                c.name.span(),
                format!("{owner} is declared twice (first on line {first})"),
            );
        }
        if c.username.as_str().trim().is_empty() {
            problems.add(c.username.span(), format!("{owner}: username is empty"));
        }
        let tags = tags_of(&c.tags, &owner, &declared, &mut problems, &mut read);
        let before = problems.0.len();
        let secret = secret_of(&c, node.span(), &owner, base, &mut problems);
        let key = key_of(&c, node.span(), &owner, base, &mut problems);
        if problems.0.len() > before {
            continue;
        }
        if secret.is_none() && key.is_none() {
            problems.add(
                node.span(),
                format!(
                    "{owner}: give a secret (secret_env, secret_file or secret), a key \
                     (key_file or key_env), or both"
                ),
            );
            continue;
        }
        let (secret, inline) = match secret {
            Some((secret, inline)) => (Some(secret), inline),
            None => (None, false),
        };
        read.inventory.credentials.push(Credential {
            name: c.name.to_string(),
            username: c.username.to_string(),
            priority: c.priority,
            tags,
            secret,
            inline,
            key,
        });
    }

    let known = profiles.names().join(", ");
    seen.clear();
    for node in sections[2] {
        let Some(d) = entry::<RawDevice>(node, "device", &mut problems) else {
            continue;
        };
        let name = d.name.as_str().trim().to_string();
        let owner = format!("device {name:?}");
        if name.is_empty() {
            problems.add(d.name.span(), "device name is empty".into());
        } else if let Some(first) = seen.insert(name.clone(), at(d.name.span()).0) {
            problems.add(
                d.name.span(),
                format!("{owner} is declared twice (first on line {first})"),
            );
        }
        if d.host.as_str().trim().is_empty() {
            problems.add(d.host.span(), format!("{owner}: host is empty"));
        }
        let port = match &d.port {
            None => 22,
            Some(p) => match u16::try_from(**p) {
                Ok(port) if port > 0 => port,
                _ => {
                    problems.add(
                        p.span(),
                        format!("{owner}: port {} is out of range (1 to 65535)", **p),
                    );
                    0
                }
            },
        };
        let given = d.platform.as_str().trim();
        let platform = match profiles.resolve(given) {
            Some(found) => found.canonical().to_string(),
            None => {
                let lower = given.to_ascii_lowercase();
                let hint = match profiles.resolve(&lower) {
                    Some(_) if lower != given => format!(" (did you mean {lower:?}?)"),
                    _ => String::new(),
                };
                let what = if given.is_empty() {
                    "platform is empty".to_string()
                } else {
                    format!("unknown platform {given:?}{hint}")
                };
                problems.add(
                    d.platform.span(),
                    format!(
                        "{owner}: {what}; known platforms: {known} (`netraven inventory \
                         platforms` lists their aliases too)"
                    ),
                );
                String::new()
            }
        };
        let tags = tags_of(&d.tags, &owner, &declared, &mut problems, &mut read);
        read.inventory.devices.push(Device {
            name: d.name.to_string(),
            host: d.host.to_string(),
            port,
            platform_given: given.to_string(),
            platform,
            tags,
        });
    }
    // A device's tags are made as they are named (a device's tags group it; a tag no
    // credential shares only means no credential fits it yet). A credential's tag must
    // be declared, stored, or carried by a device of the file: one that nothing carries
    // is a misspelling that would make the credential fit no device.
    let device_tags: HashSet<&str> = read
        .inventory
        .devices
        .iter()
        .flat_map(|d| d.tags.iter().map(String::as_str))
        .collect();
    let owned: Vec<Undeclared> = std::mem::take(&mut read.undeclared);
    read.undeclared = owned
        .into_iter()
        .filter(|u| u.owner.starts_with("credential") && !device_tags.contains(u.tag.as_str()))
        .collect();
    problems.0.sort();
    read.problems = problems.0;
    read
}

/// One entry of a section, or `None` with its problem recorded.
fn entry<T: DeserializeOwned>(node: &Node, kind: &str, problems: &mut Problems) -> Option<T> {
    match marked_yaml::from_node::<T>(node) {
        Ok(t) => Some(t),
        Err(e) => {
            // Missing and unknown fields carry no mark: point at the field's key when it
            // is there, else at the entry.
            let span = match &*e {
                marked_yaml::Error::UnknownFieldError(field, _, _) => node
                    .as_mapping()
                    .and_then(|m| m.keys().find(|k| k.as_str() == field))
                    .map(|k| *k.span()),
                _ => e.start_mark().map(Span::new_start),
            }
            .unwrap_or(*node.span());
            let name = node
                .as_mapping()
                .and_then(|m| m.get_scalar("name"))
                .map(|n| format!(" {:?}", n.as_str()))
                .unwrap_or_default();
            problems.add(&span, format!("{kind}{name}: {}", describe(&e)));
            None
        }
    }
}

/// The deserializer's words, made to read like the rest of our messages.
fn describe(e: &marked_yaml::FromNodeError) -> String {
    match &**e {
        marked_yaml::Error::UnknownFieldError(field, expected, _) => format!(
            "unknown field {field:?} (the fields are {})",
            expected.join(", ")
        ),
        marked_yaml::Error::IntegerParseFailure(_, _) => "not a whole number".into(),
        other => other.to_string(),
    }
}

fn tags_of(
    tags: &[Spanned<String>],
    owner: &str,
    declared: &HashMap<String, usize>,
    problems: &mut Problems,
    read: &mut Read,
) -> Vec<String> {
    let mut names = Vec::with_capacity(tags.len());
    for t in tags {
        let name = t.as_str().trim();
        if name.is_empty() {
            problems.add(t.span(), format!("{owner}: a tag name is empty"));
            continue;
        }
        if !declared.contains_key(name) {
            let (line, column) = at(t.span());
            read.undeclared.push(Undeclared {
                tag: name.to_string(),
                line,
                column,
                owner: owner.to_string(),
            });
        }
        names.push(name.to_string());
    }
    names
}

/// The credential's secret and whether it was inline; `None` when it gives none, or with
/// the problem recorded.
fn secret_of(
    c: &RawCredential,
    entry: &Span,
    owner: &str,
    base: &Path,
    problems: &mut Problems,
) -> Option<(SecretString, bool)> {
    let (secret, inline, span) = match (&c.secret_env, &c.secret_file, &c.secret) {
        (None, None, None) => return None,
        (Some(var), None, None) => match std::env::var(var.as_str()) {
            Ok(value) => (SecretString::from(value), false, var.span()),
            Err(_) => {
                problems.add(
                    var.span(),
                    format!(
                        "{owner}: environment variable {} is not set (or not UTF-8)",
                        var.as_str()
                    ),
                );
                return None;
            }
        },
        (None, Some(file), None) => {
            let path = base.join(file.as_str());
            match std::fs::read_to_string(&path) {
                Ok(value) => (
                    SecretString::from(value.trim_end_matches(['\n', '\r']).to_string()),
                    false,
                    file.span(),
                ),
                Err(e) => {
                    problems.add(
                        file.span(),
                        format!("{owner}: cannot read secret_file {}: {e}", path.display()),
                    );
                    return None;
                }
            }
        }
        (None, None, Some(secret)) => ((**secret).clone(), true, secret.span()),
        _ => {
            problems.add(
                entry,
                format!("{owner}: give at most one of secret_env, secret_file or secret"),
            );
            return None;
        }
    };
    if secret.expose_secret().is_empty() {
        problems.add(span, format!("{owner}: the secret is empty"));
        return None;
    }
    Some((secret, inline))
}

/// Reads a value from the environment variable `var` or the file `file` (relative to
/// `base`), trailing newlines removed; `what` names it in problems. `None` with the
/// problem recorded.
fn env_or_file(
    var: Option<&Spanned<String>>,
    file: Option<&Spanned<String>>,
    what: &str,
    owner: &str,
    base: &Path,
    problems: &mut Problems,
) -> Option<(SecretString, Span)> {
    match (var, file) {
        (Some(var), None) => match std::env::var(var.as_str()) {
            Ok(value) => Some((SecretString::from(value), *var.span())),
            Err(_) => {
                problems.add(
                    var.span(),
                    format!(
                        "{owner}: environment variable {} ({what}) is not set (or not UTF-8)",
                        var.as_str()
                    ),
                );
                None
            }
        },
        (None, Some(file)) => {
            let path = base.join(file.as_str());
            match std::fs::read_to_string(&path) {
                Ok(value) => Some((
                    SecretString::from(value.trim_end_matches(['\n', '\r']).to_string()),
                    *file.span(),
                )),
                Err(e) => {
                    problems.add(
                        file.span(),
                        format!("{owner}: cannot read {what} file {}: {e}", path.display()),
                    );
                    None
                }
            }
        }
        _ => None,
    }
}

/// The credential's private key, decoded with its passphrase to check it: `None` when it
/// gives none, or with the problem recorded. Problems name the file or the variable and
/// what is wrong, never the key or the passphrase.
fn key_of(
    c: &RawCredential,
    entry: &Span,
    owner: &str,
    base: &Path,
    problems: &mut Problems,
) -> Option<KeyCredential> {
    if c.key_env.is_some() && c.key_file.is_some() {
        problems.add(
            entry,
            format!("{owner}: give at most one of key_file or key_env"),
        );
        return None;
    }
    if c.key_passphrase_env.is_some() && c.key_passphrase_file.is_some() {
        problems.add(
            entry,
            format!("{owner}: give at most one of key_passphrase_env or key_passphrase_file"),
        );
        return None;
    }
    let passphrase_given = c
        .key_passphrase_env
        .as_ref()
        .or(c.key_passphrase_file.as_ref());
    if c.key_env.is_none() && c.key_file.is_none() {
        if let Some(p) = passphrase_given {
            problems.add(
                p.span(),
                format!("{owner}: a key passphrase is given but no key (key_file or key_env)"),
            );
        }
        return None;
    }
    let (text, span) = env_or_file(
        c.key_env.as_ref(),
        c.key_file.as_ref(),
        "private key",
        owner,
        base,
        problems,
    )?;
    let passphrase = match passphrase_given {
        None => None,
        Some(_) => Some(env_or_file(
            c.key_passphrase_env.as_ref(),
            c.key_passphrase_file.as_ref(),
            "key passphrase",
            owner,
            base,
            problems,
        )?),
    };
    let source = match (&c.key_file, &c.key_env) {
        (Some(f), _) => format!("key_file {}", f.as_str()),
        (_, Some(v)) => format!("key_env {}", v.as_str()),
        _ => "key".to_string(),
    };
    match client_keys::decode(
        text.expose_secret(),
        passphrase.as_ref().map(|(p, _)| p.expose_secret()),
    ) {
        Ok(key) => Some(KeyCredential {
            fingerprint: client_keys::fingerprint(&key),
            text,
            passphrase: passphrase.map(|(p, _)| p),
        }),
        Err(problem) => {
            let at = match (&problem, &passphrase) {
                (client_keys::KeyProblem::WrongPassphrase, Some((_, p))) => *p,
                _ => span,
            };
            problems.add(&at, format!("{owner}: {source}: {problem}"));
            None
        }
    }
}

/// A file the parser refused, where it stopped.
fn load_problem(e: &LoadError) -> Problem {
    let (mark, message) = match e {
        LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => (
            Some(*m),
            "an inventory is a mapping of tags, credentials and devices".to_string(),
        ),
        LoadError::UnexpectedAnchor(m) => (
            Some(*m),
            "anchors and aliases (&name, *name) are not supported in an inventory: write \
             the values out"
                .to_string(),
        ),
        LoadError::MappingKeyMustBeScalar(m) => (Some(*m), "a key must be a plain name".into()),
        LoadError::UnexpectedTag(m) => (
            Some(*m),
            "explicit YAML tags (!!str, !foo) are not supported in an inventory".into(),
        ),
        LoadError::ScanError(m, e) => (Some(*m), format!("not valid YAML: {}", e.info())),
        LoadError::DuplicateKey(inner) => (
            inner.key.span().start().copied(),
            format!(
                "the key {:?} is given twice in one entry (first on line {})",
                inner.key.as_str(),
                inner.prev_key.span().start().map_or(0, |m| m.line())
            ),
        ),
    };
    Problem {
        line: mark.map_or(0, |m| m.line()),
        column: mark.map_or(0, |m| m.column()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Read {
        let profiles = Profiles::load(None).expect("built-ins");
        read_str(yaml, Path::new("."), &profiles)
    }

    fn lines(r: &Read) -> Vec<String> {
        r.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_empty_file_is_an_empty_inventory_and_defaults_apply() {
        let r = read("# nothing yet\n");
        assert!(r.problems.is_empty() && r.inventory.devices.is_empty());
        let r = read("devices:\n  - { name: r1, host: h, platform: ios, tags: [a] }\n");
        assert!(r.problems.is_empty(), "{:?}", lines(&r));
        let d = &r.inventory.devices[0];
        assert_eq!(
            (d.port, d.platform.as_str(), d.platform_given.as_str()),
            (22, "cisco_ios", "ios")
        );
        // A device's undeclared tag is made at import.
        assert!(r.undeclared.is_empty());
        // A credential's tag that no device carries and the file does not declare: the
        // import asks Postgres, reading alone does not judge it.
        let r = read("credentials:\n  - { name: c, username: u, secret: s, tags: [b] }\n");
        assert_eq!(r.undeclared.len(), 1, "{:?}", lines(&r));
        assert_eq!((r.undeclared[0].line, r.undeclared[0].column), (2, 47));
    }

    #[test]
    fn what_the_parser_refuses_is_one_problem_with_its_place() {
        let r = read("devices:\n  - &r1\n    name: r1\n");
        assert_eq!(r.problems.len(), 1);
        assert!(
            r.problems[0]
                .to_string()
                .starts_with("line 3, column 9: anchors"),
            "{:?}",
            lines(&r)
        );
        let r = read("devices:\n  - name: r1\n    name: r2\n");
        assert_eq!(
            lines(&r),
            ["line 3, column 5: the key \"name\" is given twice in one entry (first on line 2)"]
        );
    }

    #[test]
    fn unknown_sections_and_missing_fields_are_named_with_every_other_problem() {
        let r = read(
            "devcies: []\ndevices:\n  - { name: r1, platform: linux }\n  - { name: r2, host: h, platform: linux, port: 0 }\n",
        );
        assert_eq!(
            lines(&r),
            [
                "line 1, column 1: unknown section \"devcies\": an inventory has tags, credentials and devices",
                "line 3, column 5: device \"r1\": missing field `host`",
                "line 4, column 49: device \"r2\": port 0 is out of range (1 to 65535)",
            ]
        );
    }

    #[test]
    fn a_secret_given_twice_or_not_at_all_is_refused_without_printing_it() {
        let r = read(
            "credentials:\n  - { name: a, username: u, secret: s3cr3t-value, secret_env: HOME }\n  - { name: b, username: u }\n",
        );
        let all = lines(&r).join("\n");
        assert_eq!(r.problems.len(), 2, "{all}");
        assert!(
            all.contains("credential \"a\": give at most one of"),
            "{all}"
        );
        assert!(
            all.contains(
                "credential \"b\": give a secret (secret_env, secret_file or secret), a key"
            ),
            "{all}"
        );
        assert!(!all.contains("s3cr3t-value"));
    }

    #[test]
    fn a_key_is_a_login_of_its_own_and_what_is_not_a_key_is_named() {
        std::env::set_var("NRT_PARSE_NOT_A_KEY", "hunter2-not-a-key");
        let r = read(
            "credentials:\n\
             \x20 - { name: a, username: u, key_env: NRT_PARSE_NOT_A_KEY }\n\
             \x20 - { name: b, username: u, key_env: X, key_file: y }\n\
             \x20 - { name: c, username: u, secret: s, key_passphrase_env: HOME }\n\
             \x20 - { name: d, username: u }\n",
        );
        let all = lines(&r).join("\n");
        assert_eq!(
            lines(&r),
            [
                "line 2, column 38: credential \"a\": key_env NRT_PARSE_NOT_A_KEY: not a private key (give an OpenSSH, PEM or PKCS#8 private key)",
                "line 3, column 5: credential \"b\": give at most one of key_file or key_env",
                "line 4, column 60: credential \"c\": a key passphrase is given but no key (key_file or key_env)",
                "line 5, column 5: credential \"d\": give a secret (secret_env, secret_file or secret), a key (key_file or key_env), or both",
            ],
            "{all}"
        );
        assert!(!all.contains("hunter2"));
    }
}
