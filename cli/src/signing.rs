//! `netraven signing`: the Ed25519 keys that sign device tasks and results.
//!
//! `init` writes a role's private key file (mode 0600, never overwritten); `public` prints
//! the public halves for the trusted-keys file of the roles that check them.

use anyhow::{Context, Result};
use netraven_shared::signing::{Issuer, SigningKeys};
use std::path::Path;

const HEADER: &str = "# NetRaven signing keys: the first key of each issuer signs.\n";

/// `netraven signing init`: a new private key file holding one key of `issuer`. Returns
/// the public line to add to the trusted-keys file of the roles that check it.
pub fn init(path: &Path, issuer: Issuer) -> Result<String> {
    let line = SigningKeys::generate_line(issuer)?;
    crate::secrets::write_private(path, &format!("{HEADER}{line}\n"), false)?;
    Ok(SigningKeys::parse(&line)?.public_lines())
}

/// `netraven signing public`: the public halves of a private key file.
pub fn public(path: &Path) -> Result<String> {
    let keys = SigningKeys::load(path)
        .with_context(|| format!("cannot read the signing keys in {}", path.display()))?;
    Ok(keys.public_lines())
}
