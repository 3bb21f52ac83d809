//! One browser session through the console: a page without a session goes to login; a
//! token logs in (a cookie that is HttpOnly and SameSite=Strict); a job submitted from the
//! form is followed live to its end without a reload; a device whose configuration changed
//! between two jobs shows the diff; the devices filter from its form; a form without its
//! CSRF token is refused; a revoked token ends its session and cannot log in again.

use super::webdriver::Browser;
use crate::api::{start, token};
use netraven_api::auth::{store, Scope};
use netraven_shared::broker;
use netraven_simulator::scenario;
use netraven_tests::{FleetBuilder, Roles, TestEnv};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// Where screenshots go: docs/console/ when asked, a temporary directory otherwise.
fn shots() -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    if std::env::var("NETRAVEN_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
        std::fs::create_dir_all(&dir)?;
        return Ok((dir, None));
    }
    let tmp = tempfile::tempdir()?;
    Ok((tmp.path().to_path_buf(), Some(tmp)))
}

/// A worker in-process until its token is cancelled.
fn worker(env: &TestEnv) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let (s, t) = (env.settings.clone(), stop.clone());
    let handle = tokio::spawn(async move {
        if let Err(e) = netraven_worker::run(s, t).await {
            panic!("worker failed: {e}");
        }
    });
    (stop, handle)
}

#[tokio::test]
async fn a_token_holder_follows_a_job_live_and_reads_a_diff_in_a_browser() -> anyhow::Result<()> {
    let (dir, _keep) = shots()?;
    let mut env = TestEnv::new().await?;
    env.settings.dispatcher.gateways = vec![broker::user(&env.settings.amqp)?];
    let mut spec = scenario("all-good", 3, 31)?;
    spec.drift = 1.0;
    let fleet = FleetBuilder::from_spec(spec).start().await?;
    env.import(&fleet).await?;
    // No worker yet: the job the browser submits waits RUNNING until one starts.
    let roles = Roles::start_without_workers(&env.settings);
    let (stop, first) = worker(&env);
    env.run_job(
        &netraven_tests::request("config_backup", &["fleet"], &[]),
        JOB_TIMEOUT,
    )
    .await?;
    stop.cancel();
    first.await?;
    fleet.advance_drift_by(1.0)?;
    let api = start(&env).await?;
    let secret = token(&env, "noc", Scope::Submit, "noc").await?;
    let base = format!("http://{}", api.addr);

    // Without a session, a form goes to login and does nothing.
    let anonymous = api.http(None);
    let p = anonymous
        .send(
            "POST",
            "/console/jobs",
            Some("job_type=config_backup"),
            Some("application/x-www-form-urlencoded"),
        )
        .await?;
    assert_eq!(p.status, 303, "no session: to login");
    assert_eq!(
        p.header("location"),
        Some("/console/login?next=%2Fconsole%2Fjobs")
    );

    let browser = Browser::start().await?;
    browser.goto(&format!("{base}/console/jobs")).await?;
    assert!(
        browser.url().await?.contains("/console/login"),
        "a page without a session goes to login"
    );
    browser.screenshot(&dir.join("login.png")).await?;
    browser.type_into("#token", &secret).await?;
    browser.click("#login").await?;
    browser
        .wait_url(|u| u == format!("{base}/console/jobs"))
        .await?;
    let cookies = browser.cookies().await?;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "netraven_session")
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");
    assert!(browser.text("#jobs").await?.contains("COMPLETED_SUCCESS"));
    browser.screenshot(&dir.join("jobs.png")).await?;

    // Submit from the form; the job page follows it live.
    browser.goto(&format!("{base}/console/jobs/new")).await?;
    browser.type_into("#tags", "fleet").await?;
    browser.screenshot(&dir.join("submit.png")).await?;
    browser.click("#submit").await?;
    assert!(
        browser.url().await?.contains("/console/jobs/"),
        "{}",
        browser.url().await?
    );
    assert_eq!(browser.text("#job-status").await?, "RUNNING");
    assert_eq!(browser.text("#job-count").await?, "0/3");
    assert_eq!(
        browser.count("#cancel-job").await?,
        1,
        "a running job's cancel button"
    );
    browser.script("window.notReloaded = true").await?;
    let (stop, second) = worker(&env);
    let status = browser
        .wait_text("#job-status", JOB_TIMEOUT, |t| t != "RUNNING")
        .await?;
    assert_eq!(status, "COMPLETED_SUCCESS");
    assert_eq!(browser.text("#job-count").await?, "3/3");
    assert_eq!(
        browser.script("return window.notReloaded === true").await?,
        true,
        "the progress came without a reload"
    );
    // The stream's end: the reload hint shows and the cancel form hides.
    browser
        .wait_text("[data-live-done]", JOB_TIMEOUT, |t| !t.is_empty())
        .await?;
    assert_eq!(
        browser
            .script("return document.getElementById('cancel').hidden")
            .await?,
        true,
        "a final job's cancel form hides"
    );
    browser.screenshot(&dir.join("job-live.png")).await?;
    browser.goto(&browser.url().await?).await?;
    assert_eq!(browser.count("#results tbody tr").await?, 3);
    assert!(browser.text("#results").await?.contains("changed (v2)"));
    browser.screenshot(&dir.join("job.png")).await?;

    // The first device's page: its configuration changed, the diff says how.
    browser.click("#results tbody th a").await?;
    browser
        .wait_url(|u| u.contains("/console/devices/"))
        .await?;
    let device = browser.text("h1").await?;
    let name = device.trim_start_matches("Device ").to_string();
    let client = env.pool.get().await?;
    let diff = netraven_reads::diff::between(&client, &name, None, None, 3).await?;
    assert!(diff.lines_added + diff.lines_removed > 0, "{diff:?}");
    assert_eq!(browser.text("#diff-h").await?, "Version 1 → version 2");
    assert_eq!(
        browser.text("#diff-stats").await?,
        format!("+{} −{} lines", diff.lines_added, diff.lines_removed)
    );
    let added = diff
        .hunks
        .iter()
        .flat_map(|h| &h.lines)
        .filter(|l| l.tag == "added")
        .count();
    assert_eq!(browser.count("#diff tr.add").await?, added);
    assert!(browser.text("#affinity").await?.contains("user"));
    // Its outcome history: both jobs, newest first.
    assert_eq!(browser.count("#history tbody tr").await?, 2);
    browser.screenshot(&dir.join("device.png")).await?;
    let device_url = browser.url().await?;
    let split = format!(
        "{}?from=1&to=2&view=split#diff-h",
        device_url.split('?').next().unwrap_or_default()
    );
    browser.goto(&split).await?;
    assert_eq!(browser.count("#diff td.add").await?, added);
    browser.screenshot(&dir.join("device-split.png")).await?;

    for (page, id) in [
        ("devices", "#devices"),
        ("credentials", "#credentials"),
        ("schedules", "#schedules"),
    ] {
        browser.goto(&format!("{base}/console/{page}")).await?;
        browser.find(id).await?;
        browser.screenshot(&dir.join(format!("{page}.png"))).await?;
    }

    // The devices filtered from the form: a name in another case and a platform.
    browser.goto(&format!("{base}/console/devices")).await?;
    browser.type_into("#name", "DEV-0000").await?;
    browser.type_into("#platform", "cisco_ios").await?;
    browser.click("#filter").await?;
    browser
        .wait_url(|u| u.contains("platform=cisco_ios"))
        .await?;
    assert_eq!(browser.count("#devices tbody tr").await?, 1);
    assert_eq!(browser.text("#devices tbody th").await?, "dev-00002");
    browser.find("#clear-filters").await?;
    browser
        .screenshot(&dir.join("devices-filtered.png"))
        .await?;

    // A form whose CSRF token is not the session's is refused, and runs nothing.
    browser.goto(&format!("{base}/console/jobs/new")).await?;
    browser
        .script("document.querySelector('form[action=\"/console/jobs\"] input[name=csrf]').value = 'forged'")
        .await?;
    browser.type_into("#tags", "fleet").await?;
    browser.click("#submit").await?;
    let h1 = browser
        .wait_text("h1", JOB_TIMEOUT, |t| t.starts_with("403"))
        .await?;
    assert_eq!(h1, "403 Forbidden");
    let jobs: i64 = client
        .query_one("SELECT count(*) FROM jobs", &[])
        .await?
        .get(0);
    assert_eq!(jobs, 2);

    // A revoked token: its session ends at the next page, and it cannot log in again.
    assert!(store::revoke(&client, "noc").await?);
    browser.goto(&format!("{base}/console/jobs")).await?;
    assert!(
        browser.url().await?.contains("/console/login"),
        "the session ended"
    );
    browser.type_into("#token", &secret).await?;
    browser.click("#login").await?;
    let refused = browser
        .wait_text("#login-error", JOB_TIMEOUT, |t| !t.is_empty())
        .await?;
    assert_eq!(refused, "the token is not valid");
    browser.screenshot(&dir.join("login-revoked.png")).await?;
    browser.quit().await?;

    // The same pages in a browser that prefers dark: the console follows it.
    let dark = Browser::start_dark().await?;
    dark.goto(&format!("{base}/console/login")).await?;
    assert_eq!(
        dark.script("return matchMedia('(prefers-color-scheme: dark)').matches")
            .await?,
        true,
        "the browser prefers dark"
    );
    let reader = token(&env, "night", Scope::Read, "night").await?;
    dark.type_into("#token", &reader).await?;
    dark.click("#login").await?;
    dark.wait_url(|u| u == format!("{base}/console/jobs"))
        .await?;
    let background = dark
        .script("return getComputedStyle(document.body).backgroundColor")
        .await?;
    assert_eq!(background, "rgb(13, 17, 23)", "the dark scheme's --bg");
    dark.screenshot(&dir.join("jobs-dark.png")).await?;
    dark.goto(&device_url).await?;
    assert_eq!(dark.count("#diff tr.add").await?, added);
    dark.screenshot(&dir.join("device-dark.png")).await?;
    dark.quit().await?;

    stop.cancel();
    second.await?;
    roles.stop().await?;
    Ok(())
}
