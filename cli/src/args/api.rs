//! `netraven api` (the role, or its OpenAPI document) and `netraven token`.

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct ApiArgs {
    #[command(subcommand)]
    pub command: Option<ApiCommand>,
}

#[derive(Subcommand)]
pub enum ApiCommand {
    /// Print the OpenAPI document the role serves at /api/openapi.json:
    /// `netraven api openapi > docs/openapi.json`.
    Openapi,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it, once: only its SHA-256 is kept.
    Create {
        /// A name to list and revoke it by (letters, digits, '.', '_', '-').
        name: String,
        /// read (every GET), submit (and jobs: submit, cancel), admin (everything).
        #[arg(long, default_value = "read")]
        scope: String,
        /// Whose permissions (dispatcher.submitters) its jobs run with; default `token:NAME`.
        #[arg(long)]
        submitter: Option<String>,
        /// Expires after this long (`90d`, `12h`); default never.
        #[arg(long, value_name = "DURATION")]
        expires: Option<humantime::Duration>,
    },
    /// Every token: name, prefix, scope, submitter, created, last used, expiry, revoked.
    List {
        #[command(flatten)]
        output: super::OutputArgs,
    },
    /// Revoke a token: refused from its next request on.
    Revoke { name: String },
}
