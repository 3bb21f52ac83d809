//! Reading the docs: files, JSON, the schemas (themselves checked), and showing a body.

use jsonschema::Validator;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn parse(path: &Path) -> Value {
    serde_json::from_slice(&read(path))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The path of `docs/schemas/<name>.v<N>.json`, the message's one current schema.
pub fn schema_path(name: &str) -> PathBuf {
    let dir = docs().join("schemas");
    let found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix(".v"))
                .is_some_and(|rest| {
                    rest.strip_suffix(".json")
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
        })
        .collect();
    match found.as_slice() {
        [one] => one.clone(),
        _ => panic!("expected one schema file {name}.v<N>.json, found {found:?}"),
    }
}

/// The schema of `name` ([`schema_path`]), itself checked against the 2020-12
/// meta-schema. Formats (`uuid`, `date-time`) are asserted, not just annotations.
pub fn schema(name: &str) -> Validator {
    let path = schema_path(name);
    let value = parse(&path);
    if let Err(e) = jsonschema::draft202012::meta::validate(&value) {
        panic!("{} is not a valid 2020-12 schema: {e}", path.display());
    }
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&value)
        .unwrap_or_else(|e| panic!("{} does not compile: {e}", path.display()))
}

pub fn schema_accepts(validator: &Validator, body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| validator.is_valid(&v))
}

pub fn schema_errors(validator: &Validator, body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Err(e) => format!("not JSON: {e}"),
        Ok(v) => validator
            .iter_errors(&v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

pub fn show(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.chars().count() > 300 {
        format!(
            "{}… ({} bytes)",
            text.chars().take(300).collect::<String>(),
            body.len()
        )
    } else {
        text.into_owned()
    }
}

pub fn serde_decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}
