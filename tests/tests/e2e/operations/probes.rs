//! What the operations tests share: HTTP gets, Debian's Prometheus tools, metric expositions.

use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(super) const JOB_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(super) fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(repo().join(path)).with_context(|| format!("cannot read {path}"))
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// GET over HTTP/1.0 (no chunking, the server closes): status and body.
pub(crate) async fn get(addr: &str, path: &str) -> Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status")?;
    Ok((status, body.to_string()))
}

/// The tool from Debian's `prometheus` package; a clear failure when it is missing.
pub(super) fn tool(name: &str) -> Result<PathBuf> {
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join(name).is_file() {
            return Ok(dir.join(name));
        }
    }
    bail!(
        "`{name}` is not installed: install Debian's prometheus package \
         (`apt-get install -y prometheus`; scripts/test does it when run as root)"
    )
}

/// Sum of every sample of `metric` (any labels) in a text exposition.
pub(super) fn sum(exposition: &str, metric: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Metric families named in an exposition (`_bucket`, `_sum`, `_count` folded).
pub(super) fn families(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_string)
        .collect()
}

/// Every `netraven_*` / `rabbitmq_*` name in the dashboard's queries, suffixes folded.
pub(super) fn dashboard_metrics() -> Result<BTreeSet<String>> {
    let dash: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/netraven-fleet.json")?)?;
    let mut names = BTreeSet::new();
    let mut exprs = 0;
    for panel in dash["panels"].as_array().context("no panels")? {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().context("a target without expr")?;
            exprs += 1;
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("netraven_") || word.starts_with("rabbitmq_") {
                    let base = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| word.strip_suffix(s))
                        .unwrap_or(word);
                    names.insert(base.to_string());
                }
            }
        }
    }
    ensure!(exprs >= 10, "the dashboard has only {exprs} queries");
    Ok(names)
}

/// Kills the Prometheus server when the test ends, however it ends.
pub(super) struct Server(pub(super) Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) async fn wait_ready(addr: &str) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = get(addr, "/readyz").await {
            ensure!(body.contains("ready"), "{addr}/readyz said {body:?}");
            return Ok(());
        }
        if Instant::now() > until {
            bail!(
                "{addr}/readyz is not 200 after 30 s: {:?}",
                get(addr, "/readyz").await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One Prometheus instant query's scalar result, if it has one.
pub(super) async fn query(prometheus: &str, promql: &str) -> Result<Option<f64>> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = get(prometheus, &format!("/api/v1/query?query={encoded}")).await?;
    ensure!(status == 200, "Prometheus answered {status}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body)?;
    Ok(v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok()))
}
