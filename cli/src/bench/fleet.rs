//! The benchmark's simulated network: linux devices with 20 KB configurations, 60 % of
//! which accept the first credential, 30 % the second and 10 % the third.
//!
//! The fleets of the jobs and baselines run in child processes of [`PER_PROCESS`] devices
//! each, every one on a loopback address of its own (each device is a listening socket,
//! and this machine allows 20,000 open files per process), so that the bare client and
//! the workers alike are a process apart from the devices. The memory measurement's slow
//! devices run in the bench process ([`start`]).

use anyhow::{Context, Result};
use netraven_simulator::scenario::standard_credentials;
use netraven_simulator::{DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec, Latency, Platform};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Devices one simulator process serves, on one loopback address.
pub const PER_PROCESS: usize = 12_500;
pub const CONFIG_BYTES: usize = 20 * 1024;
pub const SEED: u64 = 7_000;
const BASE_PORT: u16 = 5_000;

/// Which credential device `i` accepts: 0 for 60 %, 1 for 30 %, 2 for 10 %.
pub fn accepted_credential(i: usize) -> usize {
    match i % 10 {
        0..=5 => 0,
        6..=8 => 1,
        _ => 2,
    }
}

/// Devices `start..end` of the bench fleet (names are global: `bench-000042`), each with
/// `fault` and answering as slowly as `latency` says.
pub fn spec_range(start: usize, end: usize, fault: Option<Fault>, latency: Latency) -> FleetSpec {
    let credentials = standard_credentials(SEED);
    let devices = (start..end)
        .map(|i| {
            let c = &credentials[accepted_credential(i)];
            let mut d = DeviceSpec::new(format!("bench-{i:06}"), Platform::Linux);
            d.tags = vec!["fleet".into()];
            d.accepts = vec![(c.username.clone(), c.password.clone())];
            d.config_bytes = CONFIG_BYTES;
            d.fault = fault;
            d.latency = latency;
            d
        })
        .collect();
    FleetSpec {
        drift: 0.0,
        seed: SEED,
        credentials,
        devices,
    }
}

/// Serves `spec` on `bind`, one port per device from [`BASE_PORT`] up.
pub async fn serve(spec: FleetSpec, bind: IpAddr) -> Result<Fleet> {
    let options = FleetOptions {
        bind,
        base_port: BASE_PORT,
        auth_rejection_ms: 0,
    };
    Ok(Fleet::start(spec, options).await?)
}

/// The `n`th loopback address: 127.0.0.1, 127.0.0.2, …
pub fn address(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (n % 250) as u8))
}

/// The ranges of a fleet of `devices`, one per address (and per child process).
fn ranges(devices: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..devices)
        .step_by(PER_PROCESS)
        .map(move |start| (start, (start + PER_PROCESS).min(devices)))
}

/// Starts `devices` devices in this process: 127.0.0.1 for the first [`PER_PROCESS`],
/// 127.0.0.2 for the next…
pub async fn start(devices: usize, fault: Option<Fault>, latency: Latency) -> Result<Vec<Fleet>> {
    let mut fleets = Vec::new();
    for (n, (start, end)) in ranges(devices).enumerate() {
        fleets.push(serve(spec_range(start, end, fault, latency), address(n)).await?);
    }
    Ok(fleets)
}

/// Writes each in-process fleet's inventory under `dir`.
pub fn write_inventories(fleets: &[Fleet], dir: &Path) -> Result<Vec<PathBuf>> {
    fleets
        .iter()
        .enumerate()
        .map(|(n, fleet)| {
            let path = dir.join(format!("inventory-{n}.yaml"));
            fleet.write_inventory(&path)?;
            Ok(path)
        })
        .collect()
}

/// A fleet served by child processes of this binary; stopped when dropped.
pub struct Children {
    children: Vec<Child>,
    pub inventories: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Children {
    /// Starts one child per [`PER_PROCESS`] devices and waits until every one has
    /// written its inventory (its devices are listening then).
    pub fn spawn(devices: usize) -> Result<Children> {
        Children::spawn_slow(devices, Latency::default())
    }

    /// [`Children::spawn`] with devices that answer as slowly as `latency` says.
    pub fn spawn_slow(devices: usize, latency: Latency) -> Result<Children> {
        let latency = serde_json::to_string(&latency)?;
        let dir = tempfile::tempdir()?;
        let exe = std::env::current_exe().context("cannot find the netraven binary")?;
        let mut children = Vec::new();
        let mut inventories = Vec::new();
        for (n, (start, end)) in ranges(devices).enumerate() {
            let inventory = dir.path().join(format!("inventory-{n}.yaml"));
            let child = Command::new(&exe)
                .args(["bench-fleet", "--start", &start.to_string()])
                .args(["--end", &end.to_string()])
                .args(["--address", &address(n).to_string()])
                .args(["--latency", &latency])
                .arg("--inventory")
                .arg(&inventory)
                .env("NETRAVEN__LOG__LEVEL", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .context("cannot start a simulator process")?;
            children.push(child);
            inventories.push(inventory);
        }
        let mut fleet = Children {
            children,
            inventories,
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(180);
        while !fleet.inventories.iter().all(|p| p.exists()) {
            for c in &mut fleet.children {
                if let Some(status) = c.try_wait()? {
                    anyhow::bail!("a simulator process exited early: {status}");
                }
            }
            anyhow::ensure!(
                Instant::now() < until,
                "the simulator processes did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(fleet)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `netraven bench-fleet`: one simulator process of a large bench fleet (internal).
#[derive(Debug, Clone, clap::Args)]
pub struct ChildArgs {
    #[arg(long)]
    pub start: usize,
    #[arg(long)]
    pub end: usize,
    #[arg(long)]
    pub address: IpAddr,
    /// Written once every device listens.
    #[arg(long)]
    pub inventory: PathBuf,
    /// How slowly the devices answer, as JSON (`{"rtt_ms":40,...}`; default: at once).
    #[arg(long, value_parser = latency_arg, default_value = "{}")]
    pub latency: Latency,
}

fn latency_arg(text: &str) -> Result<Latency, String> {
    serde_json::from_str(text).map_err(|e| format!("not a latency: {e}"))
}

/// Serves devices `start..end` until SIGTERM or SIGKILL.
pub async fn serve_child(args: ChildArgs) -> Result<()> {
    let fleet = serve(
        spec_range(args.start, args.end, None, args.latency),
        args.address,
    )
    .await?;
    // Written whole, then renamed: the parent never reads half a file.
    let partial = args.inventory.with_extension("partial");
    fleet.write_inventory(&partial)?;
    std::fs::rename(&partial, &args.inventory)?;
    netraven_shared::shutdown::on_signal().cancelled().await;
    fleet.shutdown().await;
    Ok(())
}
