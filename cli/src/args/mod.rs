//! The command line's shape (clap definitions); `crate::commands` does what each one says.

mod api;
mod export;
mod fleet;
mod job;
mod keys;
mod ops;
mod root;
mod schedule;

pub use api::{ApiArgs, ApiCommand, TokenCommand};
pub use export::{ExportCommand, GitExportArgs};
pub use fleet::{
    CredentialCommand, DeviceCommand, GrepArgs, HostKeyCommand, InventoryCommand, PruneArgs,
    SyncArgs, SyncCommand,
};
pub use job::{JobCommand, SubmitArgs};
pub use keys::{SecretsCommand, SigningCommand};
pub use ops::{
    BrokerCommand, BrokerSetupArgs, ConfigCommand, DeadCommand, ServicesCommand, SimArgs,
};
pub use root::{Cli, Command, OutputArgs};
pub use schedule::{AddArgs, ScheduleCommand, SCHEDULE_EXIT};
