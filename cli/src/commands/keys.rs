//! `netraven signing ...` and `netraven secrets ...`: key files and the key ring's rotation.

use super::connect::connect;
use crate::args::{SecretsCommand, SigningCommand};
use crate::{output, say, secrets, signing};
use anyhow::{Context, Result};
use netraven_shared::config::Settings;
use netraven_shared::signing::Issuer;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn signing(settings: &Settings, cmd: SigningCommand) -> Result<()> {
    match cmd {
        SigningCommand::Init { issuer, key_file } => {
            let path = key_file
                .or(settings.signing.key_file.clone())
                .context("name the key file: --key-file PATH (or set signing.key_file)")?;
            let issuer = if issuer == "dispatcher" {
                Issuer::Dispatcher
            } else {
                Issuer::Worker
            };
            let public = signing::init(&path, issuer)?;
            crate::note!(
                "wrote a new {issuer} signing key to {} (mode 0600); its public key, for \
                 signing.trusted_keys_file of the roles that check it:",
                path.display()
            );
            output::data(&public)?;
        }
        SigningCommand::Public { key_file } => {
            let path = key_file
                .or(settings.signing.key_file.clone())
                .context("name the key file: --key-file PATH (or set signing.key_file)")?;
            output::data(&signing::public(&path)?)?;
        }
    }
    Ok(())
}

pub async fn secrets(settings: &Settings, cmd: SecretsCommand) -> Result<()> {
    match cmd {
        SecretsCommand::Init { key_file } => {
            let path = key_file_of(key_file, settings)?;
            let id = secrets::init(&path)?;
            say!(
                "wrote a new sealing key {id} to {} (mode 0600)",
                path.display()
            )?;
        }
        SecretsCommand::AddKey { key_file } => {
            let path = key_file_of(key_file, settings)?;
            let a = secrets::add_key(&path)?;
            say!(
                "added key {} to {} ({} keys; {} still seals)",
                a.key_id,
                path.display(),
                a.keys_in_ring,
                a.sealing_key_id
            )?;
            say!(
                "next: give every worker this key file (each reloads it within \
                 worker.key_file_poll_interval_ms, or restart it), then run \
                 `netraven secrets reseal`"
            )?;
        }
        SecretsCommand::Reseal { key_file, key } => {
            let path = key_file_of(key_file, settings)?;
            let mut client = connect(settings).await?;
            let r = secrets::reseal(&mut client, &path, key.as_deref()).await?;
            print_resealed(&r, &path)?;
        }
        SecretsCommand::Retire { key_id, key_file } => {
            let path = key_file_of(key_file, settings)?;
            let client = connect(settings).await?;
            let r = secrets::retire(&client, &path, &key_id).await?;
            say!(
                "retired key {} from {}; the ring holds {}",
                r.key_id,
                path.display(),
                r.keys_left.join(", ")
            )?;
            say!(
                "next: give every worker this key file (each drops the key at its next \
                 reload); rotation done"
            )?;
        }
        SecretsCommand::Rotate {
            key_file,
            wait_secs,
        } => {
            let path = key_file_of(key_file, settings)?;
            let mut client = connect(settings).await?;
            let r = secrets::rotate(&mut client, &path, Duration::from_secs(wait_secs)).await?;
            say!(
                "added key {} to {}; every running worker loaded it",
                r.added.key_id,
                path.display()
            )?;
            print_resealed(&r.resealed, &path)?;
        }
    }
    Ok(())
}

/// `--key-file`, else `secrets.key_file`, else an error saying how to name one.
fn key_file_of(key_file: Option<PathBuf>, settings: &Settings) -> Result<PathBuf> {
    key_file
        .or(settings.secrets.key_file.clone())
        .context("name the key file: --key-file PATH (or set secrets.key_file)")
}

fn print_resealed(r: &secrets::Resealed, path: &Path) -> std::io::Result<()> {
    if r.previous_key_id == r.key_id {
        say!(
            "{} already seals; re-sealed {} credentials sealed with older keys; {} running \
             workers hold it",
            r.key_id,
            r.resealed,
            r.workers
        )?;
    } else {
        say!(
            "{} seals now (was {}); re-sealed {} credentials; {} running workers hold it",
            r.key_id,
            r.previous_key_id,
            r.resealed,
            r.workers
        )?;
    }
    if r.workers == 0 {
        say!(
            "no worker is running: start workers with the key file {}",
            path.display()
        )?;
    }
    if r.previous_key_id == r.key_id {
        say!(
            "next: retire an old key with `netraven secrets retire KEY_ID` once nothing is \
             sealed with it"
        )
    } else {
        say!(
            "next: once the jobs open now have finished, run `netraven secrets retire {}`",
            r.previous_key_id
        )
    }
}
