//! What the fault tests share: their timeouts, their tuned settings, their devices and credentials.

use netraven_simulator::{DeviceSpec, Fault, Fleet, Platform};
use netraven_tests::TestEnv;
use netraven_tests::{credential, FleetBuilder};
use std::path::Path;
use std::time::Duration;

pub(super) const JOB_TIMEOUT: Duration = Duration::from_secs(45);
pub(super) const SEED: u64 = 404;
pub(super) const HOSTILE_SEED: u64 = 77;
/// Per-device deadline of the jobs here; every phase timeout below is shorter.
pub(super) const DEADLINE_MS: u64 = 5_000;
pub(super) const HANDSHAKE_MS: u64 = 1_500;
pub(super) const AUTH_MS: u64 = 1_500;
pub(super) const IDLE_MS: u64 = 1_500;
pub(super) const MAX_OUTPUT: usize = 64 * 1024;
/// Slack for scheduling on a busy 2-core machine: bounds, never tight timings.
pub(super) const MARGIN_MS: u64 = 2_000;
pub(super) const LEGACY_PROFILE: &str = "linux_legacy";

/// Short timeouts, a small output cap and a user profile folder with a legacy profile.
pub(super) fn tune(env: &mut TestEnv) -> anyhow::Result<()> {
    let w = &mut env.settings.worker;
    w.connect_timeout_ms = 1_000;
    w.handshake_timeout_ms = HANDSHAKE_MS;
    w.auth_timeout_ms = AUTH_MS;
    w.command_idle_timeout_ms = IDLE_MS;
    w.max_output_bytes = MAX_OUTPUT;
    let profiles = env.dir.path().join("profiles");
    std::fs::create_dir_all(&profiles)?;
    std::fs::write(
        profiles.join("linux_legacy.toml"),
        format!(
            "name = \"{LEGACY_PROFILE}\"\ntransport = \"exec\"\nlegacy_algorithms = true\n\
             error_patterns = [\"^sh: \\\\d+: .*: not found$\"]\n\n[commands]\n\
             config_backup = \"cat /etc/netraven/running-config\"\n"
        ),
    )?;
    w.profiles_dir = Some(profiles);
    Ok(())
}

pub(super) fn device(
    name: &str,
    platform: Platform,
    fault: Option<Fault>,
    tag: &str,
) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, platform);
    d.tags = vec![tag.to_string()];
    d.accepts = vec![("netops".into(), "tacacs-secret".into())];
    d.fault = fault;
    if platform == Platform::CiscoIos {
        d.enable_secret = Some("tacacs-secret".into());
    }
    d
}

/// Writes the fleet's inventory, gives the named devices another platform name, imports.
pub(super) async fn import_with_platforms(
    env: &TestEnv,
    fleet: &Fleet,
    platforms: &[(&str, &str)],
) -> anyhow::Result<()> {
    let path = env
        .dir
        .path()
        .join(format!("inventory-{}.yaml", uuid::Uuid::new_v4().simple()));
    fleet.write_inventory(&path)?;
    rewrite_platforms(&path, platforms)?;
    env.import_file(&path).await?;
    Ok(())
}

pub(super) fn rewrite_platforms(path: &Path, platforms: &[(&str, &str)]) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut current: Option<&str> = None;
    let mut out = String::with_capacity(text.len());
    let mut rewritten = 0;
    for line in text.lines() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(name) = trimmed.strip_prefix("name: ") {
            current = platforms
                .iter()
                .find(|(d, _)| *d == name.trim())
                .map(|(_, p)| *p);
        }
        match (current, trimmed.strip_prefix("platform: ")) {
            (Some(p), Some(_)) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                out.push_str(&format!("{indent}platform: {p}\n"));
                rewritten += 1;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    anyhow::ensure!(
        rewritten == platforms.len(),
        "platforms rewritten: {rewritten}"
    );
    std::fs::write(path, out)?;
    Ok(())
}

/// A fleet of `devices` (tagged `faults`) that accept the one `faults` credential.
pub(super) fn faults_fleet(devices: impl IntoIterator<Item = DeviceSpec>) -> FleetBuilder {
    FleetBuilder::new(SEED)
        .credential(credential("tacacs", "netops", "tacacs-secret").tags(&["faults"]))
        .devices(devices)
}
