//! The OpenAPI document: the checked-in copy is the one the code generates, the role
//! serves it, a maintained validator (openapi-spec-validator) accepts it, and every
//! operation answers only the statuses it declares, its problems as RFC 9457 problem
//! details.

use super::{start, token};
use anyhow::Context;
use netraven_api::auth::Scope;
use netraven_tests::TestEnv;
use std::path::PathBuf;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn docs_openapi_json_is_the_generated_document() -> anyhow::Result<()> {
    let generated = netraven_api::rest::openapi_json();
    let stored = std::fs::read_to_string(checked_in()).unwrap_or_default();
    assert!(
        stored == generated,
        "docs/openapi.json differs from the document the code generates; regenerate it with \
         `cargo run -p netraven-cli -- api openapi > docs/openapi.json`"
    );
    Ok(())
}

#[test]
fn openapi_spec_validator_accepts_the_document() -> anyhow::Result<()> {
    // Through the interpreter, not the script: `pip install --user` puts the script in
    // ~/.local/bin, which is not on every PATH.
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(checked_in())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named openapi_spec_validator"),
        "openapi-spec-validator is not installed: `python3 -m pip install --user \
         openapi-spec-validator==0.9.0` (scripts/test installs it)"
    );
    assert!(
        out.status.success(),
        "{}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(())
}

#[tokio::test]
async fn the_role_serves_its_document_to_token_holders() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let api = start(&env).await?;
    let http = api.http(Some(&token(&env, "docs", Scope::Read, "docs").await?));
    let served = http.get("/api/openapi.json").await?.json();
    assert_eq!(served["openapi"], "3.1.0");
    assert!(
        served["paths"]["/api/jobs/{id}/results"].is_object(),
        "{served}"
    );
    Ok(())
}

/// Every operation of the document answers as it declares: without a token a 401 problem
/// with `WWW-Authenticate`; with a read token (and made-up ids) only statuses it declares,
/// 403 exactly where it declares one (its scope is above read); every problem as
/// `application/problem+json`, the media type the document gives each problem response.
#[tokio::test]
async fn every_operation_answers_only_what_the_document_declares() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let api = start(&env).await?;
    let anonymous = api.http(None);
    let read = api.http(Some(&token(&env, "reader", Scope::Read, "reader").await?));
    let doc: serde_json::Value = serde_json::from_str(&netraven_api::rest::openapi_json())?;
    let paths = doc["paths"].as_object().context("no paths")?;
    let mut operations = 0;
    for (template, item) in paths {
        let path = template
            .replace("{id}", &uuid::Uuid::nil().to_string())
            .replace("{version}", "1")
            .replace("{name}", "no-such")
            .replace("{device}", "no-such");
        for (method, op) in item.as_object().context("a path item")? {
            operations += 1;
            let what = format!("{method} {template}");
            let responses = op["responses"].as_object().context("responses")?;
            for (status, response) in responses
                .iter()
                .filter(|(s, _)| s.parse::<u16>().is_ok_and(|s| s >= 400))
            {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{what} {status}: {response}"
                );
            }
            assert!(responses.contains_key("401"), "{what} declares no 401");
            let body = op.get("requestBody").map(|_| "{}");
            let json = body.map(|_| "application/json");
            let method = method.to_uppercase();

            let refused = anonymous.send(&method, &path, body, json).await?;
            refused.problem(401);
            assert!(
                refused.header("www-authenticate").is_some(),
                "{what}: {refused:?}"
            );

            let answer = read.send(&method, &path, body, json).await?;
            assert!(
                responses.contains_key(&answer.status.to_string()),
                "{what} answered {}, which it does not declare: {}",
                answer.status,
                answer.text
            );
            if answer.status >= 400 {
                answer.problem(answer.status);
            }
            assert_eq!(
                answer.status == 403,
                responses.contains_key("403"),
                "{what} with a read token: {} {}",
                answer.status,
                answer.text
            );
        }
    }
    assert!(operations >= 23, "{operations} operations");
    Ok(())
}
