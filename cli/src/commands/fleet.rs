//! `netraven inventory import`, `export` and `sync netbox`, `credential list/disable/enable/remove`, `device show`,
//! `device credentials`, `device host-key ...`,
//! the configuration history (`device configs`, `config`, `diff`) and `prune`: the fleet's
//! records in Postgres.

use super::connect::connect;
use crate::args::{
    CredentialCommand, DeviceCommand, HostKeyCommand, InventoryCommand, PruneArgs, SyncArgs,
    SyncCommand,
};
use crate::host_keys::{self, ListScope, PinFrom};
use crate::views::configs::TextMode;
use crate::views::history::{self, VersionRef};
use crate::{credentials, inventory, output, say, views};
use anyhow::{bail, Result};
use netraven_shared::config::Settings;
use netraven_shared::sealing::KeyRing;
use netraven_shared::shutdown;
use netraven_worker::platform::Profiles;

pub async fn inventory(settings: &Settings, cmd: InventoryCommand) -> Result<()> {
    let profiles = Profiles::load(settings.worker.profiles_dir.as_deref())?;
    match cmd {
        InventoryCommand::Platforms { out } => out.print(
            &inventory::platforms::list(&profiles),
            inventory::platforms::render,
        ),
        InventoryCommand::Import { file, sync, out } => {
            let read = inventory::parse::read_file(&file, &profiles)?;
            let origin = file.display().to_string();
            apply(
                settings,
                read,
                &file,
                inventory::Source::File,
                sync,
                out,
                &origin,
            )
            .await
        }
        InventoryCommand::Export { output } => {
            let client = connect(settings).await?;
            let text = inventory::export::render(&inventory::export::read(&client).await?)?;
            match output {
                None => Ok(output::data(&text)?),
                Some(path) => write_private(&path, &text),
            }
        }
        InventoryCommand::Sync(SyncCommand::Netbox {
            url,
            token_env,
            token_file,
            platform_map,
            statuses,
            page_size,
            max_pages,
            timeout_secs,
            ca_file,
            sync,
            out,
        }) => {
            let token = match (token_env, token_file) {
                (Some(var), _) => std::env::var(&var).map_err(|_| {
                    anyhow::anyhow!("--token-env {var}: the variable is not set (or not UTF-8)")
                })?,
                (None, Some(path)) => std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("--token-file {}: {e}", path.display()))?
                    .trim()
                    .to_string(),
                (None, None) => bail!("give --token-env NAME or --token-file FILE"),
            };
            if token.is_empty() {
                bail!("the NetBox token is empty");
            }
            let config = inventory::netbox::Config {
                url: url.clone(),
                token: token.into(),
                page_size,
                max_pages,
                statuses,
                platform_map: platform_map.into_iter().collect(),
                timeout: std::time::Duration::from_secs(timeout_secs),
                ca_file,
            };
            let read = inventory::netbox::read(&config, &profiles).await?;
            let origin = std::path::PathBuf::from(format!("NetBox at {url}"));
            apply(
                settings,
                read,
                &origin,
                inventory::Source::NetBox,
                sync,
                out,
                &url,
            )
            .await
        }
    }
}

/// The JSON of an import or sync.
#[derive(serde::Serialize)]
struct SyncReport<'a> {
    dry_run: bool,
    plan: &'a inventory::plan::Plan,
}

async fn apply(
    settings: &Settings,
    read: inventory::parse::Read,
    origin: &std::path::Path,
    source: inventory::Source,
    sync: SyncArgs,
    out: crate::args::OutputArgs,
    from: &str,
) -> Result<()> {
    let keyring = KeyRing::from_settings(&settings.secrets)?;
    let mut client = connect(settings).await?;
    let options = inventory::Options {
        prune: sync.prune,
        dry_run: sync.dry_run,
    };
    let synced = inventory::apply(&mut client, &keyring, read, origin, source, options).await?;
    let done = &synced.imported;
    for name in &done.inline_secrets {
        crate::note!(
            "warning: credential {name:?} has its secret inline in {from}; prefer secret_env \
             or secret_file"
        );
    }
    if out.json {
        return out.print(
            &SyncReport {
                dry_run: synced.dry_run,
                plan: &synced.plan,
            },
            |_, _| String::new(),
        );
    }
    if sync.prune || sync.dry_run {
        output::data(&inventory::plan::render(&synced.plan, synced.dry_run))?;
    }
    if synced.dry_run {
        return Ok(());
    }
    let jumps = match done.jump_hosts {
        0 => String::new(),
        1 => ", 1 jump host".to_string(),
        n => format!(", {n} jump hosts"),
    };
    let removed = synced.plan.devices.removed.len();
    let removed = if removed > 0 {
        format!("; removed {removed} devices (their history stays)")
    } else {
        String::new()
    };
    say!(
        "imported {} devices, {} credentials, {} tags{jumps}{removed}",
        done.devices,
        done.credentials,
        done.tags
    )?;
    let by_alias: usize = done.aliases.values().sum();
    if by_alias > 0 {
        let list: Vec<String> = done
            .aliases
            .iter()
            .map(|((given, name), n)| format!("{given} -> {name} ({n})"))
            .collect();
        say!(
            "{by_alias} device platform{} given by alias, stored as the profile's name: {}",
            if by_alias == 1 { "" } else { "s" },
            list.join(", ")
        )?;
    }
    Ok(())
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

pub async fn credential(settings: &Settings, cmd: CredentialCommand) -> Result<()> {
    let mut client = connect(settings).await?;
    match cmd {
        CredentialCommand::List { window, out } => {
            let creds = views::credentials::list(&client, window).await?;
            out.print(&creds, |c, s| views::credentials::render(c, s))
        }
        CredentialCommand::Disable { name, out } => {
            let change = credentials::set_enabled(&client, &name, false).await?;
            out.print(&change, credentials::render)
        }
        CredentialCommand::Enable { name, out } => {
            let change = credentials::set_enabled(&client, &name, true).await?;
            out.print(&change, credentials::render)
        }
        CredentialCommand::Remove { name, out } => {
            let change = credentials::remove(&mut client, &name).await?;
            out.print(&change, credentials::render)
        }
    }
}

pub async fn device(settings: &Settings, cmd: DeviceCommand) -> Result<()> {
    match cmd {
        DeviceCommand::Show { name, out } => {
            let client = connect(settings).await?;
            let device = views::devices::show(&client, &name).await?;
            out.print(&device, views::devices::render)
        }
        DeviceCommand::Credentials {
            name,
            max,
            window,
            out,
        } => {
            let mut client = connect(settings).await?;
            let (cap, cap_from) = match max {
                Some(n) => (n, "--max"),
                None => (
                    settings.dispatcher.max_credentials_per_device,
                    "dispatcher.max_credentials_per_device",
                ),
            };
            let cap = usize::try_from(cap)?;
            let view =
                views::device_credentials::explain(&mut client, &name, cap, cap_from, window)
                    .await?;
            out.print(&view, views::device_credentials::render)
        }
        DeviceCommand::HostKey(cmd) => host_key(settings, cmd).await,
        DeviceCommand::List {
            stale,
            tags,
            platforms,
            outcomes,
            removed,
            out,
        } => {
            let client = connect(settings).await?;
            let before = match stale {
                None => None,
                Some(age) => Some(
                    chrono::Duration::from_std(age)
                        .ok()
                        .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
                        .ok_or_else(|| {
                            anyhow::anyhow!("--stale {age:?} reaches before any date")
                        })?,
                ),
            };
            let profiles = Profiles::load(settings.worker.profiles_dir.as_deref())?;
            // A platform given by alias is the profile's name, as stored.
            let platforms: Vec<String> = platforms
                .iter()
                .map(|p| {
                    profiles
                        .resolve(p)
                        .map_or_else(|| p.clone(), |f| f.canonical().to_string())
                })
                .collect();
            let filter = views::device_list::Filter {
                after: None,
                limit: None,
                tags: &tags,
                platforms: &platforms,
                outcomes: &outcomes,
                stale_before: before,
                removed,
            };
            let rows = views::device_list::list(&client, &filter).await?;
            out.print(&rows, |r: &Vec<_>, style| {
                views::device_list::render(r, style)
            })
        }
        DeviceCommand::Configs { name, out } => {
            let client = connect(settings).await?;
            let versions = history::versions(&client, &name).await?;
            out.print(&versions, views::configs::render_versions)
        }
        DeviceCommand::Config {
            name,
            version,
            at,
            raw,
            escape,
            out,
        } => {
            let client = connect(settings).await?;
            let which = match (version, at) {
                (Some(n), _) => VersionRef::Number(n),
                (None, Some(t)) => VersionRef::At(t),
                (None, None) => VersionRef::Latest,
            };
            let v = history::version(&client, &name, which).await?;
            if out.json {
                return Ok(output::data(&views::json(&v)?)?);
            }
            use std::io::{IsTerminal, Write};
            let mode = if raw {
                TextMode::Raw
            } else if escape || std::io::stdout().is_terminal() {
                TextMode::Escaped
            } else {
                TextMode::Stored
            };
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&views::configs::render_text(&v, mode))?;
            Ok(stdout.flush()?)
        }
        DeviceCommand::Diff {
            name,
            from,
            to,
            context,
            out,
        } => {
            let client = connect(settings).await?;
            let diff = views::diff::between(&client, &name, from, to, context).await?;
            out.print(&diff, views::diff::render)
        }
    }
}

async fn host_key(settings: &Settings, cmd: HostKeyCommand) -> Result<()> {
    let mut client = connect(settings).await?;
    match cmd {
        HostKeyCommand::Pin {
            device,
            known_hosts,
            fingerprint,
            replace,
            out,
        } => {
            let from = match (&known_hosts, &fingerprint) {
                (Some(path), None) => PinFrom::KnownHosts(path),
                (None, Some(f)) => PinFrom::Fingerprint(f),
                _ => bail!("give exactly one of --known-hosts FILE or --fingerprint"),
            };
            let change = host_keys::pin(&mut client, &device, from, replace).await?;
            out.print(&change, views::host_keys::render_change)
        }
        HostKeyCommand::Forget { device, out } => {
            let change = host_keys::forget(&client, &device).await?;
            out.print(&change, views::host_keys::render_change)
        }
        HostKeyCommand::List {
            device,
            unpinned,
            out,
        } => {
            let scope = match (&device, unpinned) {
                (Some(d), _) => ListScope::Device(d),
                (None, true) => ListScope::Unpinned,
                (None, false) => ListScope::Pinned,
            };
            let rows = host_keys::list(&client, scope).await?;
            out.print(&rows, |r, s| views::host_keys::render_list(r, s))
        }
    }
}

pub async fn prune(settings: &Settings, args: PruneArgs) -> Result<()> {
    use netraven_dispatcher::aggregate::retention::{self, Policy};
    let client = connect(settings).await?;
    let defaults = Policy::of(&settings.aggregator);
    let policy = Policy {
        older_than_days: args.older_than_days.unwrap_or(defaults.older_than_days),
        config_versions_kept: args
            .keep_config_versions
            .unwrap_or(defaults.config_versions_kept),
        config_older_than_days: args
            .config_older_than_days
            .unwrap_or(defaults.config_older_than_days),
        dry_run: args.dry_run,
        ..defaults
    };
    let stop = shutdown::on_signal();
    let rows = retention::prune(&client, policy, &stop).await?;
    let report = views::prune::PruneReport {
        older_than_days: policy.older_than_days,
        config_versions_kept: policy.config_versions_kept,
        config_older_than_days: policy.config_older_than_days,
        dry_run: policy.dry_run,
        rows,
    };
    args.out.print(&report, views::prune::render)
}
