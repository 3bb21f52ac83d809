//! Every `NETRAVEN__*` setting the deploy files name is one the roles know: a misspelt key
//! would otherwise stop the role at start-up in production, or (in a comment's example)
//! mislead the operator who copies it. Values are the deployment's (files on its hosts,
//! settings that go together), so only the names are checked here.

use anyhow::{Context, Result};
use netraven_shared::config::Settings;
use regex::Regex;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[test]
fn every_setting_the_deploy_files_name_is_one_the_roles_know() -> Result<()> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut paths = Vec::new();
    files(&deploy, &mut paths)?;
    // `NAME: value`, `NAME=value`, `- NAME=value`; interpolations stand for a password.
    let setting = Regex::new(r"(NETRAVEN__[A-Z0-9_]+)\s*[:=]\s*([^\s#]*)")?;
    let interpolation = Regex::new(r"\$\{[^}]*\}")?;
    let mut checked = 0;
    for path in &paths {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue; // not text
        };
        for (n, line) in text.lines().enumerate() {
            for c in setting.captures_iter(line) {
                let name = &c[1];
                if name == "NETRAVEN__SECTION__KEY" {
                    continue; // the documented pattern itself
                }
                // A systemd template's instance (`%i`) is a number there: a port.
                let value = interpolation
                    .replace_all(c[2].trim_matches('"'), "secret")
                    .replace("%i", "9470");
                let value = if value.is_empty() || value.starts_with("...") {
                    // A placeholder in a comment: the key must still exist.
                    "placeholder".to_string()
                } else {
                    value
                };
                let loaded = Settings::load_from(None, [(name.to_string(), value.clone())]);
                if let Err(e) = &loaded {
                    anyhow::ensure!(
                        !e.to_string().contains("unknown field"),
                        "{}:{}: {name}: {e}",
                        path.display(),
                        n + 1
                    );
                }
                checked += 1;
            }
        }
    }
    anyhow::ensure!(checked >= 10, "only {checked} settings found under deploy/");
    Ok(())
}

#[test]
fn a_misspelt_setting_is_caught() -> Result<()> {
    let e = Settings::load_from(
        None,
        [(
            "NETRAVEN__SIGNING__TRUSTED_KEY_FILE".to_string(),
            "/x".to_string(),
        )],
    )
    .err()
    .context("a misspelt key must not load")?;
    assert!(e.to_string().contains("unknown field"), "{e}");
    Ok(())
}
