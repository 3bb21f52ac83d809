//! Fleet benchmark: start 10,000 devices, measure the process's RSS, then drive concurrent
//! russh clients doing connect + password login + exec of the config command, and report
//! logins per second. Writes `bench/results/simulator.json` at the repository root.
//!
//! ```text
//! cargo bench -p netraven-simulator --bench fleet            # 10,000 devices, 10 s
//! cargo bench -p netraven-simulator --bench fleet -- --quick # 10,000 devices, 3 s
//! ```
//!
//! Environment: `BENCH_DEVICES` (10000), `BENCH_SECONDS` (10, or 3 with `--quick`),
//! `BENCH_CLIENTS` (64), `BENCH_BASE_PORT` (20000). Clients and fleet share this process
//! and its cores, as a worker and the simulator would on one machine.
#![allow(clippy::print_stdout)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netraven_simulator::{scenario, Fleet, FleetOptions, RunningDevice, LINUX_CONFIG_COMMAND};
use russh::client;
use russh::ChannelMsg;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` or `VmHWM` of this process, in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct AcceptAny;

impl client::Handler for AcceptAny {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKey,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// One full login: connect, password, exec the config command, read it all, disconnect.
async fn login(
    config: Arc<client::Config>,
    dev: &RunningDevice,
    user: &str,
    password: &str,
) -> Result<usize, Error> {
    let mut handle = client::connect(config, (dev.host, dev.port), AcceptAny).await?;
    if !handle
        .authenticate_password(user, password)
        .await?
        .success()
    {
        return Err("password rejected".into());
    }
    let mut ch = handle.channel_open_session().await?;
    ch.exec(true, LINUX_CONFIG_COMMAND).await?;
    let (mut bytes, mut status) = (0, None);
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } => bytes += data.len(),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            _ => {}
        }
    }
    if status != Some(0) {
        return Err(format!("exit status {status:?}").into());
    }
    handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await?;
    Ok(bytes)
}

async fn run(quick: bool) -> Result<serde_json::Value, Error> {
    let devices: usize = env_or("BENCH_DEVICES", 10_000);
    let seconds: f64 = env_or("BENCH_SECONDS", if quick { 3.0 } else { 10.0 });
    let clients: usize = env_or("BENCH_CLIENTS", 64);
    let base_port: u16 = env_or("BENCH_BASE_PORT", 20_000);

    let rss_before = status_mib("VmRSS:");
    let spec = scenario("all-good", devices, 42)?;
    let login_cred = spec
        .credentials
        .first()
        .ok_or("scenario without credentials")?;
    let (user, password) = (login_cred.username.clone(), login_cred.password.clone());
    let started = Instant::now();
    let fleet = Fleet::start(
        spec,
        FleetOptions {
            base_port,
            ..FleetOptions::default()
        },
    )
    .await?;
    let start_seconds = started.elapsed().as_secs_f64();
    let rss_started = status_mib("VmRSS:");
    let running = Arc::new(fleet.devices());
    let (first, last) = (running[0].port, running[running.len() - 1].port);
    println!(
        "{devices} devices on ports {first}..={last} in {start_seconds:.2} s; \
         RSS {rss_before:.1} MiB before, {rss_started:.1} MiB after start"
    );

    let config = Arc::new(client::Config {
        nodelay: true,
        ..Default::default()
    });
    let next = Arc::new(AtomicUsize::new(0));
    let (ok, failed, bytes) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let load_started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (config, running, next) = (config.clone(), running.clone(), next.clone());
        let (ok, failed, bytes) = (ok.clone(), failed.clone(), bytes.clone());
        let (user, password) = (user.clone(), password.clone());
        tasks.spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % running.len();
                match login(config.clone(), &running[i], &user, &password).await {
                    Ok(n) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("login to {} failed: {e}", running[i].name);
                        }
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = load_started.elapsed().as_secs_f64();
    let rss_loaded = status_mib("VmRSS:");
    let peak = status_mib("VmHWM:");
    let logins = ok.load(Ordering::Relaxed);
    let rate = logins as f64 / elapsed;
    fleet.shutdown().await;
    println!(
        "{logins} logins in {elapsed:.1} s with {clients} clients: {rate:.0} logins/s \
         ({} failed); RSS {rss_loaded:.1} MiB after load, peak {peak:.1} MiB",
        failed.load(Ordering::Relaxed)
    );
    Ok(serde_json::json!({
        "benchmark": "simulator fleet: connect + password + exec config command",
        "command": "cargo bench -p netraven-simulator --bench fleet",
        "quick": quick,
        "devices": devices,
        "cpu_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "start_seconds": start_seconds,
        "rss_mib_before_start": rss_before,
        "rss_mib_after_start": rss_started,
        "rss_mib_after_load": rss_loaded,
        "peak_rss_mib": peak,
        "clients": clients,
        "seconds": elapsed,
        "logins": logins,
        "failures": failed.load(Ordering::Relaxed),
        "config_bytes_read": bytes.load(Ordering::Relaxed),
        "logins_per_second": rate,
        "note": "clients and simulator share one process and its cores; RSS includes both",
    }))
}

fn main() -> Result<(), Error> {
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(quick))?;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("simulator.json");
    std::fs::write(&path, serde_json::to_string_pretty(&result)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}
