//! The OpenAPI document: the checked-in copy is the one the code generates, the role
//! serves it, and a maintained validator (openapi-spec-validator) accepts it.

use super::{start, token};
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
