//! A role whose database stops answering (blackholed: connections open, nothing comes
//! back) or refuses connections says so on `/readyz` and in `netraven_role_not_ready`,
//! within a bound, and says it is ready again once the database is back.

use super::{quick_health, readyz_until, sample, Running};
use crate::operations::probes::free_port;
use anyhow::Result;
use netraven_tests::proxy::Proxy;
use netraven_tests::TestEnv;
use std::time::Instant;

const DOWN: &str = "netraven_role_not_ready{reason=\"database_down\",role=\"aggregator\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_an_unreachable_database_and_its_return() -> Result<()> {
    let mut env = TestEnv::new().await?;
    let upstream = env
        .settings
        .database
        .url
        .split_once('@')
        .and_then(|(_, rest)| rest.split('/').next())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no host:port in the test's database URL"))?;
    let proxy = Proxy::start(&upstream).await?;
    env.settings.database.url = proxy.url_through(&env.settings.database.url)?;
    quick_health(&mut env.settings);
    let addr = format!("127.0.0.1:{}", free_port()?);
    env.settings.aggregator.metrics_addr = addr.clone();
    let aggregator = Running::aggregator(&env.settings);
    readyz_until(&addr, "ready", |s, _| s == 200).await?;
    assert_eq!(sample(&addr, DOWN).await?, Some(0.0));

    for mode in ["blackhole", "refuse"] {
        if mode == "blackhole" {
            proxy.blackhole();
        } else {
            proxy.refuse();
        }
        let cut = Instant::now();
        let (_, body) = readyz_until(&addr, "database down", |s, b| {
            s == 503 && b.contains("database down")
        })
        .await?;
        eprintln!(
            "{mode}: /readyz said {body:?} after {} ms",
            cut.elapsed().as_millis()
        );
        assert_eq!(sample(&addr, DOWN).await?, Some(1.0), "{mode}");
        assert_eq!(
            sample(&addr, "netraven_role_ready{role=\"aggregator\"}").await?,
            Some(0.0)
        );
        proxy.forward();
        let back = Instant::now();
        readyz_until(&addr, "ready again", |s, _| s == 200).await?;
        eprintln!(
            "{mode} lifted: ready again after {} ms",
            back.elapsed().as_millis()
        );
        assert_eq!(sample(&addr, DOWN).await?, Some(0.0), "{mode}");
    }
    aggregator.stop().await?;
    Ok(())
}
