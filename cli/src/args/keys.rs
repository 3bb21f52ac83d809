//! `netraven secrets ...` (the sealing key ring) and `netraven signing ...` (signing keys).

use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum SigningCommand {
    /// Create a role's private signing key file (mode 0600; refuses to overwrite one) and
    /// print its public key for the trusted-keys file of the roles that check it.
    Init {
        /// Whose key: `dispatcher` (signs device tasks) or `worker` (signs results).
        #[arg(long, value_parser = ["dispatcher", "worker"])]
        issuer: String,
        /// Where to write it (default: signing.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Print the public keys of a private key file, in the trusted-keys file's format.
    Public {
        /// The private key file (default: signing.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Create a new sealing key file (refuses to overwrite one).
    Init {
        /// Where to write it (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Step 1 of a rotation: add a new key at the end of the ring. It opens but does not
    /// seal yet; workers load it when their key file changes.
    AddKey {
        /// The key file (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Step 3, once the workers have the new key file (step 2): make the new key the
    /// sealing key and re-seal every credential under it.
    /// Refused, naming them, while any running worker cannot open that key.
    Reseal {
        /// The key file (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The key to seal with (default: the newest key that never sealed, else the
        /// sealing key, which re-seals what an older key still seals).
        #[arg(long)]
        key: Option<String>,
    },
    /// Step 4: remove an old key from the ring. Refused while a credential is sealed with
    /// it or an open job may carry secrets sealed with it.
    Retire {
        /// The key id to remove.
        key_id: String,
        /// The key file (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// add-key, wait for every running worker to hold the new key, then reseal. Retiring
    /// the old key stays a step of its own (`secrets retire`).
    Rotate {
        /// The key file to rotate (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// How long to wait for the running workers to load the new key.
        #[arg(long, default_value_t = 120)]
        wait_secs: u64,
    },
}
