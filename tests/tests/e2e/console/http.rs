//! The console over plain HTTP, no browser: a login or a logout without its CSRF token, or
//! with a wrong one, is a 403 that opens or ends no session.

use crate::api::client::{Answer, Http};
use crate::api::{start, token, Api};
use netraven_api::auth::Scope;
use netraven_tests::TestEnv;

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
