//! The vocabulary of the system: job types, per-device outcomes, job statuses, host-key
//! policies, priorities and task lanes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used on the wire, in Postgres and in metrics labels.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} {other:?}; expected one of: {}",
                        stringify!($name),
                        [$($wire),+].join(", ")
                    )),
                }
            }
        }
    };
}

wire_enum! {
    /// What a device ended as, once per job. Exactly one per device.
    Outcome {
        Success => "SUCCESS",
        AuthFailed => "AUTH_FAILED",
        Unreachable => "UNREACHABLE",
        Timeout => "TIMEOUT",
        HostKeyMismatch => "HOST_KEY_MISMATCH",
        CommandFailed => "COMMAND_FAILED",
        NoCredentials => "NO_CREDENTIALS",
        DeadLettered => "DEAD_LETTERED",
        Lost => "LOST",
        InternalError => "INTERNAL_ERROR",
        /// The job was cancelled before a worker started on this device: never contacted.
        Cancelled => "CANCELLED",
    }
}

wire_enum! {
    /// A job's status: `PENDING` → `RUNNING` → one final status.
    JobStatus {
        Pending => "PENDING",
        Running => "RUNNING",
        FailedInvalidRequest => "FAILED_INVALID_REQUEST",
        CompletedNoDevices => "COMPLETED_NO_DEVICES",
        FailedCredentialResolution => "FAILED_CREDENTIAL_RESOLUTION",
        CompletedNoCredentials => "COMPLETED_NO_CREDENTIALS",
        FailedDispatcherError => "FAILED_DISPATCHER_ERROR",
        CompletedSuccess => "COMPLETED_SUCCESS",
        CompletedFailure => "COMPLETED_FAILURE",
        CompletedPartialFailure => "COMPLETED_PARTIAL_FAILURE",
        FailedUnexpected => "FAILED_UNEXPECTED",
        /// The submitter may not run this job (its type, a command, or its host-key policy),
        /// or a command holds a newline or control character.
        FailedNotPermitted => "FAILED_NOT_PERMITTED",
        /// Someone cancelled the job: the devices not started were skipped (`CANCELLED`),
        /// those in progress finished.
        Cancelled => "CANCELLED",
    }
}

wire_enum! {
    /// How a worker treats a device's SSH host key.
    HostKeyPolicy {
        /// Pin the first key seen; a different key later fails the device.
        AcceptNew => "accept-new",
        /// Only keys pinned beforehand are accepted.
        Strict => "strict",
        /// No check at all (logged as insecure).
        Off => "off",
    }
}

wire_enum! {
    /// The kinds of work a job can do on each device.
    JobType {
        /// Read the running configuration and store it as a snapshot.
        ConfigBackup => "config_backup",
        /// Run the request's commands and store each output.
        Command => "command",
        /// Check TCP reachability, without credentials.
        Reachability => "reachability",
    }
}

wire_enum! {
    /// How urgent a job is, as its request says (`priority`, default `normal`).
    Priority {
        /// The job's lane follows its size (`dispatcher.interactive_max_devices`).
        Normal => "normal",
        /// The job goes to the interactive lane (up to `dispatcher.max_high_priority_devices`).
        High => "high",
    }
}

wire_enum! {
    /// The task queue a job's tasks go to: each has its own worker slots, so a small job
    /// starts while a large one runs.
    Lane {
        /// `<ns>.tasks.device`: every job larger than the interactive cap.
        Bulk => "bulk",
        /// `<ns>.tasks.interactive`: small jobs and jobs marked `priority: high`.
        Interactive => "interactive",
    }
}

impl HostKeyPolicy {
    /// How much checking the policy does: `off` 0, `accept-new` 1, `strict` 2. A policy is
    /// weaker than another when its strength is lower.
    pub const fn strength(self) -> u8 {
        match self {
            HostKeyPolicy::Off => 0,
            HostKeyPolicy::AcceptNew => 1,
            HostKeyPolicy::Strict => 2,
        }
    }
}

impl JobStatus {
    /// Whether the status is final (nothing will change it again).
    pub const fn is_final(self) -> bool {
        !matches!(self, JobStatus::Pending | JobStatus::Running)
    }

    /// The final status of a job whose every device has reported (docs/messages.md, "Job
    /// statuses").
    /// Devices without credentials count as not successful.
    pub fn from_counts(total: i64, succeeded: i64, no_credentials: i64) -> JobStatus {
        if total == 0 {
            JobStatus::CompletedNoDevices
        } else if no_credentials == total {
            JobStatus::CompletedNoCredentials
        } else if succeeded == total {
            JobStatus::CompletedSuccess
        } else if succeeded == 0 {
            JobStatus::CompletedFailure
        } else {
            JobStatus::CompletedPartialFailure
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(*o));
            assert_eq!(
                serde_json::to_string(o).ok(),
                Some(format!("\"{}\"", o.as_str()))
            );
        }
        assert!("success".parse::<Outcome>().is_err());
    }

    #[test]
    fn final_status_follows_the_design_table() {
        assert_eq!(
            JobStatus::from_counts(0, 0, 0),
            JobStatus::CompletedNoDevices
        );
        assert_eq!(
            JobStatus::from_counts(3, 0, 3),
            JobStatus::CompletedNoCredentials
        );
        assert_eq!(JobStatus::from_counts(3, 3, 0), JobStatus::CompletedSuccess);
        assert_eq!(JobStatus::from_counts(3, 0, 0), JobStatus::CompletedFailure);
        assert_eq!(JobStatus::from_counts(3, 0, 1), JobStatus::CompletedFailure);
        assert_eq!(
            JobStatus::from_counts(3, 2, 1),
            JobStatus::CompletedPartialFailure
        );
        assert!(JobStatus::CompletedFailure.is_final());
        assert!(!JobStatus::Running.is_final());
    }
}
