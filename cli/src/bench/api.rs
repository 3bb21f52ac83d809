//! The api role's reads at fleet scale (`--parts api`, only when named): a finished
//! 50,000-device job (its results recorded as the aggregator records them) and a device
//! with two ~20 KB configuration versions that differ in a few lines; the role started
//! in-process on a port of its own, and `GET /api/jobs/{id}` and
//! `GET /api/devices/{name}/diff` timed over HTTP, one connection per request as a
//! script's client would open.

use super::scratch::Scratch;
use super::{ingest, median, Figure};
use anyhow::{ensure, Context, Result};
use netraven_api::auth::{store, NewToken, Scope};
use netraven_shared::config::Settings;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEVICES: i64 = 50_000;
const REQUESTS: usize = 50;
const DIFF_DEVICE: &str = "bench-diff";

pub async fn measure(settings: &Settings) -> Result<Vec<Figure>> {
    let scratch = Scratch::new(settings, "api").await?;
    let figures = measure_in(&scratch).await;
    scratch.remove().await?;
    figures
}

async fn measure_in(scratch: &Scratch) -> Result<Vec<Figure>> {
    let (job, _) = ingest::finished_job(scratch, DEVICES, 500).await?;
    two_versions(scratch, job).await?;
    let client = scratch.pool.get().await?;
    let new = NewToken {
        name: "bench".into(),
        scope: Scope::Read,
        submitter: "bench".into(),
        expires_at: None,
    };
    let (_, token) = store::create(&client, &new)
        .await
        .map_err(|e| anyhow::anyhow!("cannot make a token: {e}"))?;
    let mut api = scratch.settings.clone();
    api.api.listen_addr = "127.0.0.1:0".into();
    api.api.metrics_addr = String::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let addr = netraven_api::role::start(api, stop).await?.addr;
    let mut figures = Vec::new();
    for (name, path, what) in [
        (
            "api_job_show",
            format!("/api/jobs/{job}"),
            format!("GET /api/jobs/{{id}} of a finished {DEVICES}-device job"),
        ),
        (
            "api_device_diff",
            format!("/api/devices/{DIFF_DEVICE}/diff"),
            "GET /api/devices/{name}/diff of two ~20 KB versions, 3 lines apart".to_string(),
        ),
    ] {
        let times = timed(addr, &path, token.reveal()).await?;
        let detail =
            format!("{what}, {REQUESTS} requests one after another, each on a new connection");
        figures.push(Figure {
            name: format!("{name}_median_ms"),
            value: median(&times),
            unit: "ms".into(),
            detail: detail.clone(),
        });
        figures.push(Figure {
            name: format!("{name}_p95_ms"),
            value: p95(&times),
            unit: "ms".into(),
            detail,
        });
    }
    Ok(figures)
}

/// A device with two ~20 KB versions: the second changes three lines of the first.
async fn two_versions(scratch: &Scratch, job: uuid::Uuid) -> Result<()> {
    let first: String = (0..500)
        .map(|i| format!("interface GigabitEthernet0/{i:03}\n description uplink to rack {i:03}\n"))
        .collect::<String>();
    let second = first
        .replace("rack 100\n", "rack 100 (moved)\n")
        .replace("rack 250\n", "rack 250 (moved)\n")
        .replace("rack 400\n", "rack 400 (moved)\n");
    let client = scratch.pool.get().await?;
    let device: i64 = client
        .query_one(
            "INSERT INTO devices (name, host, port, platform) VALUES ($1, '10.255.0.1', 22, 'cisco_ios')
             RETURNING id",
            &[&DIFF_DEVICE],
        )
        .await?
        .get(0);
    for (version, content) in [(1i32, &first), (2, &second)] {
        let size = i32::try_from(content.len())?;
        let (added, removed) = if version == 1 { (1000, 0) } else { (3, 3) };
        client
            .execute(
                "INSERT INTO device_configs (device_id, version, sha256, content, size_bytes,
                                             first_job_id, last_job_id, lines_added, lines_removed)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
                &[
                    &device,
                    &version,
                    &format!("{version:064x}"),
                    content,
                    &size,
                    &job,
                    &added,
                    &removed,
                ],
            )
            .await?;
    }
    Ok(())
}

/// `REQUESTS` GETs of `path`, each on a new connection: milliseconds each took.
async fn timed(addr: SocketAddr, path: &str, token: &str) -> Result<Vec<f64>> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
            .await
            .context("no answer within 30 s")??;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let status = String::from_utf8_lossy(&answer[..answer.len().min(12)]).to_string();
        ensure!(status.ends_with("200"), "GET {path}: {status}");
    }
    Ok(times)
}

fn p95(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = (sorted.len() * 95).div_ceil(100).saturating_sub(1);
    sorted.get(at).copied().unwrap_or(0.0)
}
