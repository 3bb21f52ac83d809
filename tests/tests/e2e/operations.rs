//! Operations: every role's `/metrics`, `/healthz` and `/readyz` over HTTP; a real
//! Prometheus scraping a running fleet; the alert rules under promtool; the Grafana
//! dashboard against what the fleet exports; and the deploy files against the binary.

use anyhow::{bail, ensure, Context, Result};
use netraven_shared::broker::Names;
use netraven_shared::config::Settings;
use netraven_simulator::{scenario, Fleet, FleetOptions};
use netraven_tests::{netraven_binary, request, TestEnv};
use serde_yaml_ng::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(repo().join(path)).with_context(|| format!("cannot read {path}"))
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// GET over HTTP/1.0 (no chunking, the server closes): status and body.
async fn get(addr: &str, path: &str) -> Result<(u16, String)> {
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
fn tool(name: &str) -> Result<PathBuf> {
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
fn sum(exposition: &str, metric: &str) -> f64 {
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
fn families(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_string)
        .collect()
}

/// Every `netraven_*` / `rabbitmq_*` name in the dashboard's queries, suffixes folded.
fn dashboard_metrics() -> Result<BTreeSet<String>> {
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
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(addr: &str) -> Result<()> {
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
async fn query(prometheus: &str, promql: &str) -> Result<Option<f64>> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_fleet_serves_its_metrics_and_a_real_prometheus_scrapes_the_job() -> Result<()> {
    let prometheus_bin = tool("prometheus")?;
    let mut env = TestEnv::new().await?;
    let addrs = [free_port()?, free_port()?, free_port()?].map(|p| format!("127.0.0.1:{p}"));
    env.settings.dispatcher.metrics_addr = addrs[0].clone();
    env.settings.worker.metrics_addr = addrs[1].clone();
    env.settings.aggregator.metrics_addr = addrs[2].clone();
    let fleet = Fleet::start(scenario("mixed", 20, 11)?, FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    // One worker: in-process workers share the settings, hence the metrics address.
    let roles = env.start(1);
    for addr in &addrs {
        wait_ready(addr).await?;
        assert_eq!(get(addr, "/healthz").await?.0, 200, "{addr}/healthz");
    }

    // A real Prometheus, scraping the three roles every second.
    let prom_port = free_port()?;
    let prom_addr = format!("127.0.0.1:{prom_port}");
    let config = env.dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s }}\nscrape_configs:\n  - job_name: netraven\n    static_configs:\n      - targets: [{}]\n",
            addrs.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ")
        ),
    )?;
    let _prometheus = Server(
        Command::new(&prometheus_bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                env.dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start prometheus")?,
    );

    let job = env
        .run_job(
            &request("config_backup", &["fleet", "orphan"], &[]),
            JOB_TIMEOUT,
        )
        .await?;
    env.publish_raw(b"not a job".to_vec(), Default::default())
        .await?;
    let c = &job.counts;
    let by_workers = (c.total_devices - c.no_credential_devices) as f64;
    assert!(
        by_workers > 0.0,
        "the scenario gives workers devices: {c:?}"
    );

    // Counters land after the flush; poll the worker's exposition until they do.
    let until = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (status, text) = get(&addrs[1], "/metrics").await?;
        assert_eq!(status, 200);
        if sum(&text, "netraven_tasks_total") >= by_workers
            && sum(&text, "netraven_dead_lettered_total") >= 1.0
            && text.contains("netraven_flush_lag_seconds_count")
        {
            break text;
        }
        ensure!(
            Instant::now() < until,
            "job counts never reached /metrics:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        sum(&text, "netraven_tasks_total"),
        by_workers,
        "one task per device with credentials"
    );
    let status_line = format!("netraven_jobs_total{{status=\"{}\"}} 1", c.status.as_str());
    assert!(text.contains(&status_line), "missing {status_line}");
    let succeeded = format!(
        "netraven_tasks_total{{outcome=\"SUCCESS\"}} {}",
        c.succeeded_devices
    );
    assert!(text.contains(&succeeded), "missing {succeeded}");
    for phase in ["connect", "handshake", "auth", "command"] {
        let line = format!("netraven_ssh_phase_duration_seconds_count{{phase=\"{phase}\"}}");
        assert!(text.contains(&line), "phase {phase} never observed");
    }
    assert!(
        sum(&text, "netraven_publish_confirms_total") >= by_workers,
        "confirms counted"
    );
    assert!(
        sum(&text, "netraven_task_queue_wait_seconds_count") >= by_workers,
        "waits observed"
    );

    // Every metric the dashboard queries exists in the fleet's exposition.
    let exported = families(&text);
    for name in dashboard_metrics()? {
        if name.starts_with("rabbitmq_") {
            continue; // from RabbitMQ's Prometheus plugin, documented in docs/metrics.md
        }
        assert!(
            exported.contains(&name),
            "the dashboard queries {name}, which no role exports"
        );
    }
    // …and so does every netraven_* name in the alert rules.
    let rules = read("deploy/prometheus/alerts.yml")?;
    let exprs: Vec<&str> = rules
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    for word in exprs
        .iter()
        .flat_map(|l| l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|w| w.starts_with("netraven_") && w.len() > "netraven_".len())
    {
        let base = word.strip_suffix("_bucket").unwrap_or(word);
        assert!(
            exported.contains(base),
            "an alert uses {word}, which no role exports"
        );
    }

    // Prometheus saw the same counts through its query API.
    // The roles share this process's registry: count the worker's target only.
    let worker = &addrs[1];
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let up = query(&prom_addr, "count(up == 1)").await.ok().flatten();
        let q = format!("sum(netraven_tasks_total{{instance=\"{worker}\"}})");
        let tasks = query(&prom_addr, &q).await.ok().flatten();
        let q = format!("sum(netraven_tasks_total{{instance=\"{worker}\",outcome=\"SUCCESS\"}})");
        let ok = query(&prom_addr, &q).await.ok().flatten();
        if up == Some(3.0) && tasks == Some(by_workers) && ok == Some(c.succeeded_devices as f64) {
            break;
        }
        ensure!(
            Instant::now() < until,
            "Prometheus never saw the job: up={up:?} tasks={tasks:?} (want {by_workers}) success={ok:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    roles.stop().await?;
    Ok(())
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() -> Result<()> {
    let promtool = tool("promtool")?;
    let dir = repo().join("deploy/prometheus");
    for args in [
        &["check", "rules", "alerts.yml"][..],
        &["test", "rules", "alerts.test.yml"],
        &["check", "config", "prometheus.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()?;
        ensure!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every alert has a unit test that expects it to fire.
    let tests = read("deploy/prometheus/alerts.test.yml")?;
    let alerts: Value = serde_yaml_ng::from_str(&read("deploy/prometheus/alerts.yml")?)?;
    for rule in alerts["groups"][0]["rules"]
        .as_sequence()
        .context("no rules")?
    {
        let name = rule["alert"].as_str().context("a rule without a name")?;
        assert!(
            tests.contains(&format!(
                "alertname: {name}\n        exp_alerts:\n          -"
            )),
            "no promtool test expects {name} to fire"
        );
        assert!(
            rule["annotations"]["runbook"].as_str().is_some(),
            "{name} has no runbook"
        );
    }
    Ok(())
}

/// `netraven <subcommand…> --help` succeeds and knows every `--flag` of `args`.
fn check_command(context: &str, args: &[&str]) -> Result<()> {
    let words: Vec<&str> = args
        .iter()
        .copied()
        .take_while(|a| !a.starts_with('-'))
        .collect();
    let words = &words[..words.len().min(2)];
    ensure!(
        !words.is_empty(),
        "{context}: no netraven subcommand in {args:?}"
    );
    let out = Command::new(netraven_binary()?)
        .args(words)
        .arg("--help")
        .output()?;
    let help = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{context}: `netraven {}` is no subcommand",
        words.join(" ")
    );
    // A group (`secrets`) lists its subcommands: the second word must be one of them.
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let flag = flag.split('=').next().unwrap_or(flag);
        ensure!(
            help.contains(flag),
            "{context}: `netraven {}` has no {flag}",
            words.join(" ")
        );
    }
    Ok(())
}

/// `netraven …` invocations inside a shell command line.
fn in_shell(script: &str) -> Vec<Vec<String>> {
    script
        .split(['|', ';', '&'])
        .filter_map(|part| {
            let part = part.trim().trim_start_matches("exec ").trim();
            let rest = part.strip_prefix("netraven ")?;
            Some(rest.split_whitespace().map(str::to_string).collect())
        })
        .collect()
}

fn yaml_docs(path: &str) -> Result<Vec<Value>> {
    use serde::Deserialize;
    let text = read(path)?;
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).with_context(|| format!("{path} is not YAML")))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_deploy_files_parse_and_name_real_subcommands() -> Result<()> {
    let grace_s = Settings::default().worker.shutdown_grace_ms / 1000;
    let queue = Names::new("netraven").tasks_queue();

    // Compose: every service the issue names; netraven services run real subcommands.
    let mut compose = yaml_docs("deploy/compose.yaml")?.remove(0);
    compose.apply_merge()?; // the services share an x-netraven anchor
    let compose = &compose;
    let services = compose["services"].as_mapping().context("no services")?;
    for s in [
        "postgres",
        "rabbitmq",
        "migrate",
        "dispatcher",
        "aggregator",
        "worker-1",
        "worker-2",
        "worker-3",
        "simulator",
        "prometheus",
        "grafana",
    ] {
        assert!(services.contains_key(s), "compose has no {s}");
    }
    let mut ran = BTreeSet::new();
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default();
        if !svc["image"]
            .as_str()
            .unwrap_or_default()
            .starts_with("netraven:")
        {
            continue;
        }
        let command = strings(&svc["command"]);
        let invocations =
            if strings(&svc["entrypoint"]).first().map(String::as_str) == Some("/bin/sh") {
                command.iter().flat_map(|c| in_shell(c)).collect()
            } else {
                vec![command]
            };
        ensure!(
            !invocations.is_empty(),
            "compose {name} runs no netraven subcommand"
        );
        for inv in invocations {
            let args: Vec<&str> = inv.iter().map(String::as_str).collect();
            check_command(&format!("compose {name}"), &args)?;
            ran.insert(args[0].to_string());
        }
        let stop = svc["stop_grace_period"]
            .as_str()
            .context("no stop_grace_period")?;
        let stop_s: u64 = stop.trim_end_matches('s').parse()?;
        assert!(
            stop_s > grace_s,
            "compose {name}: stop_grace_period {stop} within the drain"
        );
    }
    for role in ["migrate", "dispatcher", "aggregator", "worker", "sim"] {
        assert!(ran.contains(role), "compose never runs `netraven {role}`");
    }
    assert!(read("deploy/rabbitmq/enabled_plugins")?.contains("rabbitmq_prometheus"));
    let scrape = read("deploy/prometheus/prometheus.yml")?;
    for (name, svc) in services {
        let env = &svc["environment"]["NETRAVEN__WORKER__METRICS_ADDR"];
        if let Some(addr) = env.as_str() {
            let port = addr.rsplit(':').next().unwrap_or_default();
            assert!(
                scrape.contains(&format!("simulator:{port}")),
                "{name:?} is not scraped"
            );
        }
    }

    // Kubernetes: probes, resources, grace, PDB, KEDA (tests/tests/deploy.rs checks the
    // security settings, the Secrets and migrations).
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo().join("deploy/k8s/base"))
        .output();
    if let Ok(out) = out {
        ensure!(
            out.status.success(),
            "kubectl kustomize: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut kinds = BTreeSet::new();
    let base = repo().join("deploy/k8s/base");
    for entry in std::fs::read_dir(&base)? {
        let file = format!("deploy/k8s/base/{}", entry?.file_name().to_string_lossy());
        for doc in yaml_docs(&file)? {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            let spec = &doc["spec"]["template"]["spec"];
            match kind.as_str() {
                "Deployment" => {
                    let c = &spec["containers"][0];
                    check_command(
                        &file,
                        &strings(&c["args"])
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>(),
                    )?;
                    assert_eq!(
                        c["livenessProbe"]["httpGet"]["path"].as_str(),
                        Some("/healthz"),
                        "{file}"
                    );
                    assert_eq!(
                        c["readinessProbe"]["httpGet"]["path"].as_str(),
                        Some("/readyz"),
                        "{file}"
                    );
                    for k in ["requests", "limits"] {
                        assert!(
                            c["resources"][k]["cpu"].as_str().is_some(),
                            "{file}: no cpu {k}"
                        );
                        assert!(
                            c["resources"][k]["memory"].as_str().is_some(),
                            "{file}: no memory {k}"
                        );
                    }
                    let grace = spec["terminationGracePeriodSeconds"]
                        .as_u64()
                        .context("no grace")?;
                    assert!(
                        grace > grace_s,
                        "{file}: grace {grace} s not above the {grace_s} s drain"
                    );
                    assert_eq!(
                        spec["securityContext"]["runAsNonRoot"].as_bool(),
                        Some(true),
                        "{file}"
                    );
                }
                "Job" => {
                    assert_eq!(
                        strings(&spec["containers"][0]["args"]),
                        ["migrate"],
                        "{file}"
                    );
                }
                "PodDisruptionBudget" => {
                    assert_eq!(
                        doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"].as_str(),
                        Some("netraven-worker")
                    );
                }
                "ScaledObject" => {
                    assert_eq!(
                        doc["spec"]["scaleTargetRef"]["name"].as_str(),
                        Some("netraven-worker")
                    );
                    let t = &doc["spec"]["triggers"][0];
                    assert_eq!(t["type"].as_str(), Some("rabbitmq"));
                    assert_eq!(t["metadata"]["queueName"].as_str(), Some(queue.as_str()));
                }
                _ => {}
            }
            kinds.insert(kind);
        }
    }
    for k in [
        "Deployment",
        "PodDisruptionBudget",
        "ScaledObject",
        "ConfigMap",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(k), "deploy/k8s/base has no {k}");
    }

    // systemd units run real subcommands and outlast the drain.
    for unit in [
        "netraven-dispatcher.service",
        "netraven-aggregator.service",
        "netraven-worker@.service",
    ] {
        let text = read(&format!("deploy/systemd/{unit}"))?;
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .context("no ExecStart")?;
        let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
        check_command(unit, &args)?;
        let stop = text
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .context("no TimeoutStopSec")?;
        assert!(
            stop.parse::<u64>()? > grace_s,
            "{unit}: TimeoutStopSec={stop}"
        );
    }

    // The image: built locked, non-root, the binary as entrypoint.
    let docker = read("Dockerfile")?;
    assert!(docker.contains("cargo build --release --locked -p netraven-cli"));
    assert!(docker.contains("USER 10001"), "the image runs as root");
    assert!(docker.contains("ENTRYPOINT [\"/usr/local/bin/netraven\"]"));
    Ok(())
}
