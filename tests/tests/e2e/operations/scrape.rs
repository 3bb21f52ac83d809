//! A running fleet serves its metrics and health, and a real Prometheus scrapes the job.

use super::probes::{
    dashboard_metrics, families, free_port, get, query, read, sum, tool, wait_ready, Server,
    JOB_TIMEOUT,
};
use anyhow::{ensure, Context, Result};
use netraven_tests::{request, FleetBuilder, TestEnv};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_fleet_serves_its_metrics_and_a_real_prometheus_scrapes_the_job() -> Result<()> {
    let prometheus_bin = tool("prometheus")?;
    let mut env = TestEnv::new().await?;
    let addrs = [free_port()?, free_port()?, free_port()?].map(|p| format!("127.0.0.1:{p}"));
    env.settings.dispatcher.metrics_addr = addrs[0].clone();
    env.settings.worker.metrics_addr = addrs[1].clone();
    env.settings.aggregator.metrics_addr = addrs[2].clone();
    // The freshness and schedule gauges refreshed often enough to see the job's backups.
    env.settings.aggregator.freshness_interval_ms = 200;
    let fleet = FleetBuilder::scenario("mixed", 20, 11)?.start().await?;
    env.import(&fleet).await?;
    // A schedule whose tick fired (its job not recorded yet), so that the aggregators
    // export the schedule gauges the dashboard and the alerts query. Its next tick is
    // tomorrow: no dispatcher takes it during the test.
    env.pool
        .get()
        .await?
        .batch_execute(
            "WITH s AS (
                 INSERT INTO schedules (name, cron, time_zone, job_type, targets, catch_up_ms,
                                        next_tick_at)
                 VALUES ('nightly', '0 2 * * *', 'UTC', 'config_backup', '{\"tags\":[\"fleet\"]}',
                         3600000, date_trunc('day', now()) + interval '1 day 2 hours')
                 RETURNING id)
             INSERT INTO schedule_runs (schedule_id, tick_at, outcome, request_id, taken_by, taken_at)
             SELECT id, date_trunc('day', now()) - interval '22 hours', 'FIRED',
                    'schedule:nightly:earlier', 'test', now() - interval '1 hour'
             FROM s",
        )
        .await?;
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
    let status_line = format!(
        "netraven_jobs_total{{job_type=\"config_backup\",status=\"{}\"}} 1",
        c.status.as_str()
    );
    assert!(text.contains(&status_line), "missing {status_line}");
    // One series per lane the job's tasks took.
    let succeeded: f64 = text
        .lines()
        .filter(|l| l.starts_with("netraven_tasks_total{") && l.contains("outcome=\"SUCCESS\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        succeeded, c.succeeded_devices as f64,
        "netraven_tasks_total{{outcome=\"SUCCESS\"}}:\n{text}"
    );
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

    // The aggregator's freshness gauges count the enabled devices the fleet imported, and
    // the seeded schedule's gauges are there.
    let enabled = env
        .pool
        .get()
        .await?
        .query_one("SELECT count(*) FROM devices WHERE enabled", &[])
        .await?
        .get::<_, i64>(0) as f64;
    let (_, aggregator) = get(&addrs[2], "/metrics").await?;
    assert_eq!(sum(&aggregator, "netraven_backup_devices"), enabled);
    for line in [
        "netraven_schedule_paused{schedule=\"nightly\"} 0",
        "netraven_schedule_last_job_status{schedule=\"nightly\",status=\"PENDING\"} 1",
        "netraven_schedule_ticks_total{outcome=\"missed\"} 0",
    ] {
        assert!(aggregator.contains(line), "missing {line}:\n{aggregator}");
    }

    // Every metric the dashboard queries exists in the fleet's exposition, the freshness
    // and schedule row's among them.
    let exported = families(&text);
    // Each role says what it runs and that it is ready (its gauges are set as it is
    // scraped), and the process's own metrics are there.
    for (addr, role) in addrs.iter().zip(["dispatcher", "worker", "aggregator"]) {
        let (_, own) = get(addr, "/metrics").await?;
        let info = format!(
            "netraven_build_info{{commit=\"{}\",role=\"{role}\",version=\"{}\"}} 1",
            netraven_shared::telemetry::metrics::COMMIT,
            env!("CARGO_PKG_VERSION")
        );
        assert!(own.contains(&info), "missing {info}");
        let ready = format!("netraven_role_ready{{role=\"{role}\"}} 1");
        assert!(own.contains(&ready), "missing {ready}");
    }
    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(exported.contains(family), "no {family}");
    }
    assert!(sum(&text, "process_resident_memory_bytes") > 0.0);
    let queried = dashboard_metrics()?;
    for name in [
        "netraven_backup_stale_devices",
        "netraven_backup_stale_devices_all",
        "netraven_backup_oldest_success_age_seconds",
        "netraven_backup_devices",
        "netraven_schedule_next_due_timestamp_seconds",
        "netraven_schedule_last_fired_timestamp_seconds",
        "netraven_schedule_last_job_status",
        "netraven_schedule_paused",
        "netraven_schedule_ticks_total",
    ] {
        assert!(queried.contains(name), "no dashboard panel queries {name}");
    }
    for name in queried {
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
        // A target label the scrape config sets (compose, Kubernetes), not a metric.
        .filter(|w| *w != "netraven_role")
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
