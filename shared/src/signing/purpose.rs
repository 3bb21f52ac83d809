//! Who signs what: the issuers, the purposes, and the exact bytes a signature covers.

use std::fmt;

/// Who signs a kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    Dispatcher,
    Worker,
}

impl Issuer {
    pub fn as_str(self) -> &'static str {
        match self {
            Issuer::Dispatcher => "dispatcher",
            Issuer::Worker => "worker",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Issuer> {
        match s {
            "dispatcher" => Some(Issuer::Dispatcher),
            "worker" => Some(Issuer::Worker),
            _ => None,
        }
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a signature vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A device task (`<ns>.tasks`), signed by the dispatcher.
    DeviceTask,
    /// A worker's results (`<ns>.results`), one message or a batch.
    TaskResults,
}

impl Purpose {
    pub fn issuer(self) -> Issuer {
        match self {
            Purpose::DeviceTask => Issuer::Dispatcher,
            Purpose::TaskResults => Issuer::Worker,
        }
    }

    pub(super) fn context(self, namespace: &str) -> Vec<u8> {
        let label = match self {
            Purpose::DeviceTask => "device-task",
            Purpose::TaskResults => "task-results",
        };
        format!("netraven/{label}/v1\n{namespace}\n").into_bytes()
    }
}

/// The bytes a signature covers: the purpose's context, then the group's root.
pub(super) fn signed_bytes(context: &[u8], root: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(context.len() + root.len());
    message.extend_from_slice(context);
    message.extend_from_slice(root);
    message
}
