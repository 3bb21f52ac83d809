//! The console over plain HTTP, no browser: a login or a logout without its CSRF token, or
//! with a wrong one, is a 403 that opens or ends no session; the devices list filters by
//! name (inside the name, in any case, `_` taken literally), tag, platform and last
//! outcome, each keeping what it should and leaving out the rest, and its next-page link
//! keeps the filters; a running job's cancel button is refused to a read token and cancels
//! the job for a submit token, through the dispatchers, to `CANCELLED`.

use crate::api::client::{Answer, Http};
use crate::api::{start, token, Api};
use netraven_api::auth::Scope;
use netraven_shared::broker;
use netraven_shared::domain::JobStatus;
use netraven_simulator::scenario;
use netraven_tests::{FleetBuilder, Roles, TestEnv};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(60);
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// The value of cookie `name` that `answer` sets, if it sets one.
fn set_cookie(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next()?.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_field(html: &str) -> String {
    html.split_once(r#"name="csrf" value=""#)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(value, _)| value.to_string())
        .unwrap_or_else(|| panic!("no csrf field in {html}"))
}

/// A form body of `fields`, each value percent-encoded.
fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", netraven_api::console::view::url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A browser's cookie jar for the console, reduced to its session.
struct Console {
    http: Http,
    session: String,
}

impl Console {
    /// Logs in with `token` as the login form does; the session's cookie.
    async fn login(api: &Api, token: &str) -> anyhow::Result<Console> {
        let http = api.http(None);
        let page = http.get("/console/login").await?;
        assert_eq!(page.status, 200, "{}", page.text);
        let login = set_cookie(&page, "netraven_login").expect("a login cookie");
        assert_eq!(csrf_field(&page.text), login, "double submit");
        let answer = http
            .send_with(
                "POST",
                "/console/login",
                Some(&form(&[("token", token), ("csrf", &login)])),
                FORM,
                &[("Cookie", &format!("netraven_login={login}"))],
            )
            .await?;
        assert_eq!(answer.status, 303, "{}", answer.text);
        let session = set_cookie(&answer, "netraven_session").expect("a session cookie");
        Ok(Console { http, session })
    }

    fn cookie(&self) -> String {
        format!("netraven_session={}", self.session)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.http
            .send_with("GET", path, None, None, &[("Cookie", &self.cookie())])
            .await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Answer> {
        self.http
            .send_with(
                "POST",
                path,
                Some(&form(fields)),
                FORM,
                &[("Cookie", &self.cookie())],
            )
            .await
    }

    /// The session's CSRF token, from the logout form of a page.
    async fn csrf(&self) -> anyhow::Result<String> {
        let page = self.get("/console/jobs").await?;
        assert_eq!(page.status, 200, "{}", page.text);
        Ok(csrf_field(&page.text))
    }
}

async fn sessions(env: &TestEnv) -> anyhow::Result<i64> {
    let client = env.pool.get().await?;
    Ok(client
        .query_one("SELECT count(*) FROM console_sessions", &[])
        .await?
        .get(0))
}

#[tokio::test]
async fn login_and_logout_without_their_csrf_token_are_refused() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let api = start(&env).await?;
    let secret = token(&env, "noc", Scope::Read, "noc").await?;
    let http = api.http(None);
    let page = http.get("/console/login").await?;
    let login = set_cookie(&page, "netraven_login").expect("a login cookie");
    let cookie = format!("netraven_login={login}");

    // A valid token, but no CSRF field, a wrong one, or no cookie to match: 403, no session.
    for (fields, cookie) in [
        (vec![("token", secret.as_str())], Some(cookie.as_str())),
        (
            vec![("token", secret.as_str()), ("csrf", "forged")],
            Some(cookie.as_str()),
        ),
        (vec![("token", secret.as_str()), ("csrf", &login)], None),
    ] {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
        let answer = http
            .send_with(
                "POST",
                "/console/login",
                Some(&form(&fields)),
                FORM,
                &headers,
            )
            .await?;
        assert_eq!(answer.status, 403, "{fields:?}: {}", answer.text);
        assert!(
            answer.text.contains("the login form expired"),
            "{}",
            answer.text
        );
        assert_eq!(set_cookie(&answer, "netraven_session"), None, "{fields:?}");
        assert_eq!(sessions(&env).await?, 0, "{fields:?} opened a session");
    }

    // A session; a logout without its CSRF token, or with another's, ends nothing.
    let console = Console::login(&api, &secret).await?;
    let other = Console::login(&api, &secret).await?;
    assert_eq!(sessions(&env).await?, 2);
    let other_csrf = other.csrf().await?;
    for fields in [
        vec![],
        vec![("csrf", "forged")],
        vec![("csrf", &other_csrf)],
    ] {
        let answer = console.post("/console/logout", &fields).await?;
        assert_eq!(answer.status, 403, "{fields:?}: {}", answer.text);
        assert_eq!(set_cookie(&answer, "netraven_session"), None, "{fields:?}");
        assert_eq!(sessions(&env).await?, 2, "{fields:?} ended a session");
        assert_eq!(
            console.get("/console/jobs").await?.status,
            200,
            "{fields:?}"
        );
    }

    // With its own token the logout ends this session, and only this one.
    let answer = console
        .post("/console/logout", &[("csrf", &console.csrf().await?)])
        .await?;
    assert_eq!(answer.status, 303, "{}", answer.text);
    assert_eq!(set_cookie(&answer, "netraven_session").as_deref(), Some(""));
    assert_eq!(sessions(&env).await?, 1);
    let gone = console.get("/console/jobs").await?;
    assert_eq!(gone.status, 303);
    assert!(gone
        .header("location")
        .is_some_and(|l| l.starts_with("/console/login")));
    assert_eq!(other.get("/console/jobs").await?.status, 200);
    Ok(())
}

/// The device names of a devices page, in order.
fn device_names(html: &str) -> Vec<String> {
    html.split(r#"<th scope="row"><a href="/console/devices/"#)
        .skip(1)
        .filter_map(|row| row.split_once("\">")?.1.split_once("</a>"))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The page's next-page link, its `&` unescaped (askama writes `&#38;`).
fn next_link(html: &str) -> Option<String> {
    html.split_once(r#"<a rel="next" href=""#)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(href, _)| href.replace("&#38;", "&").replace("&amp;", "&"))
}

/// Every device `query` lists, following the next-page links; each link must carry the
/// query's filters.
async fn list(console: &Console, query: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut path = format!("/console/devices?{query}");
    for _ in 0..20 {
        let page = console.get(&path).await?;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        names.extend(device_names(&page.text));
        match next_link(&page.text) {
            None => return Ok(names),
            Some(next) => {
                for filter in query.split('&').filter(|f| !f.is_empty()) {
                    assert!(next.contains(&format!("{filter}&")), "{next} lost {filter}");
                }
                path = next;
            }
        }
    }
    panic!("{query}: more than 20 pages");
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn devices_filter_by_name_tag_platform_and_outcome_across_pages() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    // Two devices a page: every filter below keeps more than one page's worth, or checks
    // that one page is all there is.
    env.settings.api.default_page_size = 2;
    // `mixed`: device 8 accepts no credential (AUTH_FAILED); device 9 is an orphan (tagged
    // `orphan` only), which a job for `fleet` does not reach (no outcome). Platforms by
    // (i - 1) % 3: linux, cisco_ios, juniper_junos; tags `fleet` and `site-<i % 4>`.
    let mut spec = scenario("mixed", 10, 41)?;
    let names = [
        "ams1-edge-sw01", // linux, site-1
        "ams1-core-rt01", // cisco_ios, site-2
        "lon2-EDGE-SW02", // juniper_junos, site-3
        "lon2-edge-fw01", // linux, site-0
        "edge-sw03",      // cisco_ios, site-1
        "fra3-edge-sw04", // juniper_junos, site-2
        "fra3-dist-sw01", // linux, site-3
        "fra3-edge-sw05", // cisco_ios, site-0, AUTH_FAILED
        "nyc4-edge_sw06", // juniper_junos, orphan, no outcome
        "nyc4-core-sw07", // linux, site-2
    ];
    for (d, name) in spec.devices.iter_mut().zip(names) {
        d.name = name.to_string();
    }
    let fleet = FleetBuilder::from_spec(spec).start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);
    let job = env
        .run_job(
            &netraven_tests::request("config_backup", &["fleet"], &[]),
            TIMEOUT,
        )
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let api = start(&env).await?;
    let console = Console::login(&api, &token(&env, "noc", Scope::Read, "noc").await?).await?;

    assert_eq!(list(&console, "").await?, sorted(&names), "no filter: all");
    let cases: &[(&str, &[&str])] = &[
        // Inside the name, in any case; `-` is not `_`.
        (
            "name=edge-sw",
            &[
                "ams1-edge-sw01",
                "edge-sw03",
                "fra3-edge-sw04",
                "fra3-edge-sw05",
                "lon2-EDGE-SW02",
            ],
        ),
        // `_` is itself, not any character.
        ("name=EDGE_SW", &["nyc4-edge_sw06"]),
        ("name=core", &["ams1-core-rt01", "nyc4-core-sw07"]),
        ("name=nothing-like-it", &[]),
        ("tag=site-1", &["ams1-edge-sw01", "edge-sw03"]),
        ("tag=orphan", &["nyc4-edge_sw06"]),
        (
            "platform=juniper_junos",
            &["fra3-edge-sw04", "lon2-EDGE-SW02", "nyc4-edge_sw06"],
        ),
        ("outcome=AUTH_FAILED", &["fra3-edge-sw05"]),
        ("outcome=NONE", &["nyc4-edge_sw06"]),
        // Filters together: each must hold.
        (
            "name=edge-sw&outcome=SUCCESS",
            &[
                "ams1-edge-sw01",
                "edge-sw03",
                "fra3-edge-sw04",
                "lon2-EDGE-SW02",
            ],
        ),
        (
            "name=edge&tag=site-2&platform=juniper_junos",
            &["fra3-edge-sw04"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(list(&console, query).await?, sorted(expected), "{query}");
    }

    // The form shows the filters it applied, and a filtered list that is empty says so.
    let page = console
        .get("/console/devices?name=edge-sw&tag=&platform=&outcome=AUTH_FAILED")
        .await?;
    assert!(
        page.text
            .contains(r#"id="name" name="name" value="edge-sw""#),
        "{}",
        page.text
    );
    assert!(page
        .text
        .contains(r#"<option value="AUTH_FAILED" selected>"#));
    let empty = console.get("/console/devices?name=nothing-like-it").await?;
    assert!(empty.text.contains("No devices match these filters."));
    // An outcome that is none of ours is a 400, not an empty list.
    assert_eq!(
        console.get("/console/devices?outcome=BOGUS").await?.status,
        400
    );
    roles.stop().await?;
    Ok(())
}

/// Whether someone asked to cancel job `id`.
async fn cancel_requested(client: &deadpool_postgres::Client, id: Uuid) -> anyhow::Result<bool> {
    Ok(client
        .query_one(
            "SELECT cancel_requested_at IS NOT NULL FROM jobs WHERE id = $1",
            &[&id],
        )
        .await?
        .get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_button_needs_a_submit_token_and_cancels_a_running_job() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.settings.dispatcher.gateways = vec![broker::user(&env.settings.amqp)?];
    // One worker, one device at a time, every login 1.5 s: the job runs for 12 s, long
    // enough to be cancelled while it runs.
    env.settings.worker.max_in_flight = 1;
    let fleet = FleetBuilder::slow_logins(8, 42)?.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);
    let api = start(&env).await?;
    let noc = token(&env, "noc", Scope::Submit, "noc").await?;
    let accepted = api
        .http(Some(&noc))
        .post(
            "/api/jobs",
            &json!({"job_type": "config_backup", "targets": {"tags": ["fleet"]}}),
        )
        .await?;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let id: Uuid = accepted.json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    let client = env.pool.get().await?;
    // Running, its first device recorded, the others still to come.
    env.wait_recorded(id, 1, TIMEOUT).await?;
    let page = format!("/console/jobs/{id}");
    let cancel = format!("/console/jobs/{id}/cancel");
    // A read token (of the same submitter) sees no button, and its POST is refused.
    let reader = Console::login(&api, &token(&env, "viewer", Scope::Read, "noc").await?).await?;
    let shown = reader.get(&page).await?;
    assert!(!shown.text.contains(r#"id="cancel-job""#), "{}", shown.text);
    assert!(
        shown.text.contains(r#"id="cancel-scope""#),
        "{}",
        shown.text
    );
    let refused = reader
        .post(&cancel, &[("csrf", &reader.csrf().await?)])
        .await?;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("scope submit"), "{}", refused.text);
    assert!(
        !cancel_requested(&client, id).await?,
        "a read token cancelled"
    );

    // A submit token sees the button; without the session's CSRF token it does nothing.
    let submitter = Console::login(&api, &noc).await?;
    let shown = submitter.get(&page).await?;
    assert!(shown.text.contains(r#"id="cancel-job""#), "{}", shown.text);
    for fields in [vec![("reason", "forged")], vec![("csrf", "forged")]] {
        let answer = submitter.post(&cancel, &fields).await?;
        assert_eq!(answer.status, 403, "{fields:?}: {}", answer.text);
    }
    assert!(
        !cancel_requested(&client, id).await?,
        "a forged form cancelled"
    );

    let answer = submitter
        .post(
            &cancel,
            &[("csrf", &submitter.csrf().await?), ("reason", "wrong tag")],
        )
        .await?;
    assert_eq!(answer.status, 303, "{}", answer.text);
    assert_eq!(answer.header("location"), Some(page.as_str()));
    // Back on its page, running on or final already: who cancelled it and why, and no
    // second button.
    let shown = submitter.get(&page).await?;
    assert!(
        shown.text.contains(r#"id="job-cancel">by noc at "#) && shown.text.contains(": wrong tag"),
        "{}",
        shown.text
    );
    assert!(!shown.text.contains(r#"id="cancel-job""#), "{}", shown.text);
    let job = env.wait_final(id, TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::Cancelled);
    assert!(
        job.counts.succeeded_devices < 8,
        "every device ran: {job:?}"
    );
    let row = client
        .query_one(
            "SELECT cancelled_by, cancel_reason FROM jobs WHERE id = $1",
            &[&id],
        )
        .await?;
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("noc"));
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("wrong tag")
    );

    // A final job has no button, and a cancel of it says it is final already.
    let shown = submitter.get(&page).await?;
    assert!(shown.text.contains("CANCELLED"), "{}", shown.text);
    assert!(
        shown.text.contains(r#"id="job-cancel">by noc"#),
        "{}",
        shown.text
    );
    assert!(!shown.text.contains(r#"id="cancel-job""#), "{}", shown.text);
    let again = submitter
        .post(&cancel, &[("csrf", &submitter.csrf().await?)])
        .await?;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(again.text.contains("final already"), "{}", again.text);
    roles.stop().await?;
    Ok(())
}

/// Opens `/console/live` for `jobs` with `cookie` on a connection of its own, which stays
/// open; its status code, and the connection.
async fn open_live(
    api: &Api,
    cookie: &str,
    jobs: &str,
) -> anyhow::Result<(u16, tokio::net::TcpStream)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(api.addr).await?;
    s.write_all(
        format!("GET /console/live?jobs={jobs} HTTP/1.1\r\nHost: test\r\nCookie: {cookie}\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(TIMEOUT, s.read(&mut buf)).await??;
        anyhow::ensure!(n > 0, "the api closed the stream before its status line");
        got.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&got);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, s))
}

/// Live progress streams are counted per session: the ninth a session opens while eight
/// are open is a 429, another session is not affected, and a stream closed makes room
/// again. Each stream reads Postgres every second for up to an hour: before, one session
/// could open hundreds and take the api's pool from everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_holds_a_few_live_streams_not_hundreds() -> anyhow::Result<()> {
    use netraven_api::console::live::MAX_STREAMS_PER_SESSION;
    let env = TestEnv::new().await?;
    let job = Uuid::now_v7();
    env.pool
        .get()
        .await?
        .execute(
            "INSERT INTO jobs (id, request_id, job_type, request, status, total_devices,
                               completed_devices, created_at, deadline_at)
             VALUES ($1, 'live', 'config_backup', '{}', 'RUNNING', 10, 0, now(),
                     now() + interval '1 hour')",
            &[&job],
        )
        .await?;
    let api = start(&env).await?;
    let secret = token(&env, "noc", Scope::Read, "noc").await?;
    let (one, other) = (
        Console::login(&api, &secret).await?,
        Console::login(&api, &secret).await?,
    );
    let jobs = job.to_string();
    let mut open = Vec::new();
    for _ in 0..MAX_STREAMS_PER_SESSION {
        let (status, stream) = open_live(&api, &one.cookie(), &jobs).await?;
        assert_eq!(status, 200);
        open.push(stream);
    }
    let (status, _) = open_live(&api, &one.cookie(), &jobs).await?;
    assert_eq!(status, 429, "one stream too many for the session");
    let (status, _kept) = open_live(&api, &other.cookie(), &jobs).await?;
    assert_eq!(status, 200, "another session has its own");
    // One closed: the api notices at its next write (a second at most) and frees its place.
    drop(open.pop());
    let until = std::time::Instant::now() + TIMEOUT;
    loop {
        let (status, stream) = open_live(&api, &one.cookie(), &jobs).await?;
        if status == 200 {
            open.push(stream);
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < until,
            "no place again after a stream closed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
