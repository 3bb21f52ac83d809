//! Who may ask for what: a request's submitter (the broker-validated AMQP `user_id`) against
//! the operator's `dispatcher.submitters`, and commands that are single printable lines.

use netraven_shared::broker::SUBMITTER_HEADER;
use netraven_shared::config::{anchored, DispatcherSettings, SubmitterSettings};
use netraven_shared::domain::{HostKeyPolicy, JobType};
use regex::Regex;
use std::collections::HashMap;
use std::fmt;

/// The longest submitter a gateway may name (a broker user name's limit).
const MAX_SUBMITTER_LEN: usize = 255;

/// Who submitted a request, as the broker vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitter {
    /// The request's AMQP `user_id`, which RabbitMQ checks against the connection's user.
    User(String),
    /// The request carried no `user_id`: nobody vouches for it; default permissions.
    Anonymous,
}

impl Submitter {
    /// From the request's `user_id` property.
    pub fn from_user_id(user_id: Option<&str>) -> Submitter {
        match user_id {
            Some(u) if !u.is_empty() => Submitter::User(u.to_string()),
            _ => Submitter::Anonymous,
        }
    }

    /// Who a request or a cancel is from: its broker-checked `user_id`, or, when that user
    /// is one of `gateways` and the message carries [`SUBMITTER_HEADER`], the submitter the
    /// header names (the api role sends for its tokens' submitters this way). `Err` with
    /// the reason when the header comes from anyone else, or names nobody usable: such a
    /// message is refused, never taken as its publisher's.
    pub fn from_message(
        user_id: Option<&str>,
        on_behalf: Option<&str>,
        gateways: &[String],
    ) -> Result<Submitter, String> {
        let publisher = Submitter::from_user_id(user_id);
        let Some(named) = on_behalf else {
            return Ok(publisher);
        };
        let trusted = matches!(&publisher, Submitter::User(u) if gateways.contains(u));
        if !trusted {
            return Err(format!(
                "header {SUBMITTER_HEADER} is honoured only from the broker users in \
                 dispatcher.gateways, not from {publisher}"
            ));
        }
        if named.is_empty() || named.len() > MAX_SUBMITTER_LEN || named.chars().any(unprintable) {
            return Err(format!(
                "header {SUBMITTER_HEADER} must name a submitter: 1 to {MAX_SUBMITTER_LEN} \
                 printable characters"
            ));
        }
        Ok(Submitter::User(named.to_string()))
    }

    /// What the job row records as `submitted_by` (`NULL` for anonymous).
    pub fn recorded(&self) -> Option<&str> {
        match self {
            Submitter::User(u) => Some(u),
            Submitter::Anonymous => None,
        }
    }
}

impl fmt::Display for Submitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Submitter::User(u) => f.write_str(u),
            Submitter::Anonymous => f.write_str("(anonymous)"),
        }
    }
}

/// One submitter's permissions, patterns compiled.
struct Allowed {
    job_types: Vec<JobType>,
    commands: Vec<Regex>,
    weakest: HostKeyPolicy,
    cancel_any_job: bool,
}

impl Allowed {
    fn new(s: &SubmitterSettings) -> Allowed {
        Allowed {
            job_types: s.job_types.clone(),
            // Validated at start-up (Settings::validate); one that fails here allows nothing.
            commands: s
                .command_patterns
                .iter()
                .filter_map(|p| anchored(p).ok())
                .collect(),
            weakest: s.weakest_host_key_policy,
            cancel_any_job: s.cancel_any_job,
        }
    }
}

/// The operator's permissions, ready to check requests against.
pub struct Permissions {
    listed: HashMap<String, Allowed>,
    default: Allowed,
}

/// What a request asks for that needs permission.
pub struct Asked<'a> {
    pub job_type: JobType,
    pub commands: &'a [String],
    /// The policy the job runs with (the request's, or the configured default), if known.
    pub host_key_policy: Option<HostKeyPolicy>,
    /// The body's `submitted_by`, which may only repeat the submitter.
    pub submitted_by: Option<&'a str>,
}

impl Permissions {
    pub fn new(settings: &DispatcherSettings) -> Permissions {
        Permissions {
            listed: settings
                .submitters
                .iter()
                .map(|(name, s)| (name.clone(), Allowed::new(s)))
                .collect(),
            default: Allowed::new(&SubmitterSettings::default()),
        }
    }

    /// `Ok` when `who` may make the request; otherwise the reason, for the client and the
    /// job row. A body `submitted_by` naming anyone but `who` and commands with a newline
    /// or control character are refused for everyone.
    pub fn check(&self, who: &Submitter, asked: &Asked<'_>) -> Result<(), String> {
        if let Some(claimed) = asked.submitted_by {
            if Some(claimed) != who.recorded() {
                return Err(format!(
                    "submitted_by {claimed:?} is not the broker user that published the request \
                     ({who}); the submitter is the AMQP user_id property, and submitted_by may \
                     only repeat it"
                ));
            }
        }
        for (i, command) in asked.commands.iter().enumerate() {
            if let Some(c) = command.chars().find(|&c| unprintable(c)) {
                let what = if c.is_control() {
                    "control"
                } else {
                    "invisible formatting"
                };
                return Err(format!(
                    "commands[{i}] contains the {what} character U+{:04X}; a command is one \
                     line of printable characters",
                    c as u32
                ));
            }
        }
        let allowed = match who {
            Submitter::User(u) => self.listed.get(u).unwrap_or(&self.default),
            Submitter::Anonymous => &self.default,
        };
        if !allowed.job_types.contains(&asked.job_type) {
            return Err(format!(
                "submitter {who} may not run {} jobs (allowed: {})",
                asked.job_type,
                names(&allowed.job_types)
            ));
        }
        for (i, command) in asked.commands.iter().enumerate() {
            if !allowed.commands.iter().any(|r| r.is_match(command)) {
                return Err(format!(
                    "submitter {who} may not run commands[{i}] {command:?}: it matches none of \
                     the submitter's command patterns"
                ));
            }
        }
        if let Some(policy) = asked.host_key_policy {
            if policy.strength() < allowed.weakest.strength() {
                return Err(format!(
                    "submitter {who} may not use host_key_policy {policy} (the weakest allowed \
                     is {})",
                    allowed.weakest
                ));
            }
        }
        Ok(())
    }
}

impl Permissions {
    /// `Ok` when `who` may cancel a job submitted by `submitted_by`: its own submitter, or a
    /// submitter listed with `cancel_any_job`. Nobody vouches for an anonymous canceller,
    /// so it may cancel nothing (not even an anonymous job).
    pub fn may_cancel(&self, who: &Submitter, submitted_by: Option<&str>) -> Result<(), String> {
        let Submitter::User(user) = who else {
            return Err(
                "a cancel must carry the broker-checked user_id; an anonymous one \
                        may cancel no job"
                    .into(),
            );
        };
        if submitted_by == Some(user.as_str())
            || self.listed.get(user).is_some_and(|a| a.cancel_any_job)
        {
            return Ok(());
        }
        Err(format!(
            "{user} may not cancel a job submitted by {}: only its submitter, or a submitter \
             with cancel_any_job, may",
            submitted_by.unwrap_or("(anonymous)")
        ))
    }
}

/// A character no command line should hold: control characters (Cc), line and paragraph
/// separators, and the invisible formatting characters (Cf) that make a logged command read
/// other than it runs — bidirectional overrides and isolates, zero-width characters, the
/// byte-order mark.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

fn names(types: &[JobType]) -> String {
    if types.is_empty() {
        return "none".into();
    }
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permissions() -> Permissions {
        let mut settings = DispatcherSettings::default();
        settings.submitters.insert(
            "noc".into(),
            SubmitterSettings {
                job_types: vec![JobType::ConfigBackup, JobType::Command],
                command_patterns: vec!["show .*".into()],
                weakest_host_key_policy: HostKeyPolicy::Off,
                cancel_any_job: true,
            },
        );
        Permissions::new(&settings)
    }

    #[test]
    fn only_a_gateway_may_name_the_submitter() {
        let gateways = vec!["netraven-api".to_string()];
        let from = |user: Option<&str>, header: Option<&str>| {
            Submitter::from_message(user, header, &gateways)
        };
        assert_eq!(from(Some("eve"), None), Ok(Submitter::User("eve".into())));
        assert_eq!(from(None, None), Ok(Submitter::Anonymous));
        assert_eq!(
            from(Some("netraven-api"), Some("noc")),
            Ok(Submitter::User("noc".into()))
        );
        // Anyone else naming a submitter is refused, not taken as themselves.
        for user in [Some("eve"), None] {
            let Err(err) = from(user, Some("noc")) else {
                panic!("{user:?} named a submitter");
            };
            assert!(err.contains("dispatcher.gateways"), "{err}");
        }
        for bad in ["", "no\nc", &"x".repeat(256)] {
            assert!(from(Some("netraven-api"), Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_job_is_cancelled_by_its_submitter_or_a_submitter_with_cancel_any_job() {
        let p = permissions();
        let eve = Submitter::User("eve".into());
        assert!(p.may_cancel(&eve, Some("eve")).is_ok());
        let err = p.may_cancel(&eve, Some("bob")).expect_err("another's job");
        assert!(
            err.contains("eve may not cancel a job submitted by bob"),
            "{err}"
        );
        assert!(p.may_cancel(&eve, None).is_err(), "an anonymous job");
        let noc = Submitter::User("noc".into());
        assert!(p.may_cancel(&noc, Some("bob")).is_ok());
        assert!(p.may_cancel(&noc, None).is_ok());
        for job in [None, Some("eve")] {
            let err = p
                .may_cancel(&Submitter::Anonymous, job)
                .expect_err("anonymous");
            assert!(err.contains("user_id"), "{err}");
        }
    }

    fn ask(job_type: JobType, commands: &[String], policy: Option<HostKeyPolicy>) -> Asked<'_> {
        Asked {
            job_type,
            commands,
            host_key_policy: policy,
            submitted_by: None,
        }
    }

    #[test]
    fn unlisted_and_anonymous_submitters_get_the_safe_default() {
        let p = permissions();
        for who in [Submitter::User("eve".into()), Submitter::Anonymous] {
            assert!(p
                .check(&who, &ask(JobType::ConfigBackup, &[], None))
                .is_ok());
            assert!(p
                .check(
                    &who,
                    &ask(JobType::Reachability, &[], Some(HostKeyPolicy::Strict))
                )
                .is_ok());
            let cmds = vec!["show version".to_string()];
            let err = p
                .check(&who, &ask(JobType::Command, &cmds, None))
                .expect_err("command");
            assert!(err.contains("may not run command jobs"), "{err}");
            let err = p
                .check(
                    &who,
                    &ask(JobType::ConfigBackup, &[], Some(HostKeyPolicy::Off)),
                )
                .expect_err("policy off");
            assert!(err.contains("host_key_policy off"), "{err}");
        }
    }

    #[test]
    fn a_listed_submitter_gets_what_is_listed_and_no_more() {
        let p = permissions();
        let noc = Submitter::User("noc".into());
        let ok = vec![
            "show running-config".to_string(),
            "show version".to_string(),
        ];
        assert!(p
            .check(&noc, &ask(JobType::Command, &ok, Some(HostKeyPolicy::Off)))
            .is_ok());
        let bad = vec!["show version".to_string(), "reload".to_string()];
        let err = p
            .check(&noc, &ask(JobType::Command, &bad, None))
            .expect_err("reload");
        assert!(err.contains("commands[1]"), "{err}");
        let err = p
            .check(&noc, &ask(JobType::Reachability, &[], None))
            .expect_err("type");
        assert!(err.contains("reachability"), "{err}");
    }

    #[test]
    fn submitted_by_may_only_repeat_the_submitter() {
        let p = permissions();
        let mut asked = ask(JobType::ConfigBackup, &[], None);
        asked.submitted_by = Some("noc");
        assert!(p.check(&Submitter::User("noc".into()), &asked).is_ok());
        for who in [Submitter::User("eve".into()), Submitter::Anonymous] {
            let err = p.check(&who, &asked).expect_err("a claim");
            assert!(err.contains("is not the broker user"), "{err}");
        }
    }

    #[test]
    fn control_characters_are_refused_for_everyone() {
        let p = permissions();
        let noc = Submitter::User("noc".into());
        for cmd in [
            "show version\nreload",
            "show version\r",
            "show\tversion",
            "show \u{1b}[2J",
        ] {
            let cmds = vec![cmd.to_string()];
            let err = p
                .check(&noc, &ask(JobType::Command, &cmds, None))
                .expect_err(cmd);
            assert!(err.contains("control character"), "{err}");
        }
    }
}
