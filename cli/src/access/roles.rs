//! The kinds of broker account and the permissions (configure, write, read) each needs.

use anyhow::{bail, Result};
use netraven_shared::broker::Names;

/// The kinds of broker account, each with its own permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Dispatcher,
    Worker,
    Aggregator,
    /// The api role: submits and cancels for its tokens' submitters (trusted as a gateway
    /// by the dispatchers), reads the answers on its private reply queue, and lists and
    /// replays dead letters (`/api/dead-letters`) as the operator does.
    Api,
    /// `netraven dead list` and `dead replay`.
    Operator,
    /// A client that submits job requests (`netraven job submit`) and waits for the reply
    /// and the job's events.
    Submitter,
}

impl Role {
    /// The roles every namespace has one account for.
    pub const FIXED: [Role; 5] = [
        Role::Dispatcher,
        Role::Worker,
        Role::Aggregator,
        Role::Api,
        Role::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dispatcher => "dispatcher",
            Role::Worker => "worker",
            Role::Aggregator => "aggregator",
            Role::Api => "api",
            Role::Operator => "operator",
            Role::Submitter => "submitter",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        Ok(match s {
            "dispatcher" => Role::Dispatcher,
            "worker" => Role::Worker,
            "aggregator" => Role::Aggregator,
            "api" => Role::Api,
            "operator" => Role::Operator,
            other => bail!(
                "unknown role {other:?}: dispatcher, worker, aggregator, api or operator \
                 (submitters are named with --submitter)"
            ),
        })
    }
}

/// A role's permissions on the virtual host: regular expressions over resource names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// `^(a|b)$` over escaped names (`^$`, nothing, when empty).
fn only(names: &[String]) -> String {
    match names {
        [] => "^$".into(),
        [one] => format!("^{one}$"),
        many => format!("^({})$", many.join("|")),
    }
}

fn esc(name: &str) -> String {
    regex_escape(name)
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What `role` needs in the namespace, and nothing more.
///
/// | role | configure | write (publish; bind, on the queue) | read (consume, get; bind, on the exchange) |
/// |---|---|---|---|
/// | dispatcher | — | `<ns>.tasks`, `<ns>.events`, `<ns>.dead`, `amq.default` (replies), `<ns>.jobs` (schedules' requests) | `<ns>.jobs.submit` |
/// | worker | — | `<ns>.results`, `<ns>.dead` | `<ns>.tasks.device`, `<ns>.tasks.interactive` |
/// | aggregator | — | `<ns>.events`, `<ns>.dead` | `<ns>.results`, `<ns>.dead.tasks` |
/// | api | `amq.gen-*` (its reply queue) | `<ns>.jobs`, `<ns>.tasks`, `<ns>.results` (replay), `amq.default` (rotation) | `amq.gen-*`, `<ns>.dead` |
/// | submitter | `amq.gen-*` (its reply queue) | `<ns>.jobs`, `amq.gen-*` (the binding) | `<ns>.events`, `amq.gen-*` |
/// | operator | — | `<ns>.jobs`, `<ns>.tasks`, `<ns>.results` (replay), `amq.default` (rotation) | `<ns>.dead` |
pub fn permissions(role: Role, names: &Names) -> Permissions {
    let n = |s: String| esc(&s);
    let default_exchange = esc("amq.default");
    let reply_queue = format!("{}.*", esc("amq.gen-"));
    let none = only(&[]);
    match role {
        Role::Dispatcher => Permissions {
            configure: none,
            write: only(&[
                n(names.jobs_exchange()),
                n(names.tasks_exchange()),
                n(names.events_exchange()),
                n(names.dead_exchange()),
                default_exchange,
            ]),
            read: only(&[n(names.submit_queue())]),
        },
        Role::Worker => Permissions {
            configure: none,
            write: only(&[n(names.results_exchange()), n(names.dead_exchange())]),
            read: only(&[n(names.tasks_queue()), n(names.interactive_tasks_queue())]),
        },
        Role::Aggregator => Permissions {
            configure: none,
            write: only(&[n(names.events_exchange()), n(names.dead_exchange())]),
            read: only(&[n(names.results_queue()), n(names.dead_tasks_queue())]),
        },
        // No binding and no events: requests out, the dispatcher's answers in, and the
        // operator's rights over the dead letters. Replaying re-sends only what the
        // dispatcher and the workers signed (with keys the api never holds) and what the
        // workers and the aggregator verify; task secrets stay sealed.
        Role::Api => Permissions {
            configure: only(std::slice::from_ref(&reply_queue)),
            write: only(&[
                n(names.jobs_exchange()),
                n(names.tasks_exchange()),
                n(names.results_exchange()),
                default_exchange,
            ]),
            read: only(&[reply_queue, n(names.dead_queue())]),
        },
        Role::Submitter => Permissions {
            configure: only(std::slice::from_ref(&reply_queue)),
            write: only(&[n(names.jobs_exchange()), reply_queue.clone()]),
            read: only(&[n(names.events_exchange()), reply_queue]),
        },
        Role::Operator => Permissions {
            configure: none,
            write: only(&[
                n(names.jobs_exchange()),
                n(names.tasks_exchange()),
                n(names.results_exchange()),
                default_exchange,
            ]),
            read: only(&[n(names.dead_queue())]),
        },
    }
}
