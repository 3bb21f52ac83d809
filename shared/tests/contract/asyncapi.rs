//! `docs/asyncapi.yaml`: valid by the AsyncAPI project's own parser, and naming the same
//! messages, exchanges, queues, routing keys and schemas as `docs/messages.md` and as the
//! topology the roles declare.
//!
//! Neither document is derived from the other: messages.md is prose for people, the
//! AsyncAPI document is for tools, and each says things the other cannot. What they must
//! agree on is checked here, both ways, message by message.

use crate::common::{docs, read};
use netraven_shared::broker::{self, Names};
use netraven_shared::config::Settings;
use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

type Set = BTreeSet<String>;

fn document() -> Value {
    let path = docs().join("asyncapi.yaml");
    serde_yaml_ng::from_slice(&read(&path))
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where scripts/test installs the parser: `$NETRAVEN_TOOLS` (default
/// `~/.cache/netraven/tools`), in a directory named after the lock file's hash.
fn parser_dir() -> PathBuf {
    let tools = std::env::var_os("NETRAVEN_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("netraven/tools"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/netraven/tools"))
        })
        .expect("HOME is set");
    let lock = read(&repo().join("scripts/asyncapi/package-lock.json"));
    let hash: String = Sha256::digest(&lock)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    tools.join(format!("asyncapi-{}", &hash[..12]))
}

#[test]
fn the_asyncapi_document_passes_the_asyncapi_parser() {
    let dir = parser_dir();
    let modules = dir.join("node_modules");
    assert!(
        modules.join("@asyncapi/parser/package.json").is_file(),
        "the AsyncAPI parser is not installed in {}: run scripts/test, which installs it \
         (Node 18 or later and npm needed: `sudo apt-get install -y nodejs npm`), or \
         mkdir -p {0} && cp scripts/asyncapi/package*.json {0} && \
         npm ci --prefix {0} --ignore-scripts --omit=dev",
        dir.display()
    );
    let out = Command::new("node")
        .arg(repo().join("scripts/asyncapi/validate.mjs"))
        .arg(docs().join("asyncapi.yaml"))
        .env("NODE_PATH", &modules)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}): install Node 18 or later (`sudo apt-get install -y nodejs`)")
        });
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "docs/asyncapi.yaml refused:\n{said}");
    assert!(said.contains("valid AsyncAPI 3.0.0"), "{said}");
}

/// `<ns>` as messages.md writes it.
fn md_name(s: &str) -> String {
    s.replace("{ns}", "<ns>")
}

/// What one message is in either document: exchanges, routing keys, named queues and
/// payload schema.
#[derive(Debug, Default, PartialEq, Eq)]
struct Route {
    exchanges: Set,
    keys: Set,
    queues: Set,
    schema: Option<String>,
}

/// The backticked words of a table cell.
fn quoted(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| {
            if s == "\"\"" {
                String::new()
            } else {
                s.to_string()
            }
        })
        .collect()
}

/// The summary table at the top of messages.md, by message name.
fn messages_md() -> BTreeMap<String, Route> {
    let text = String::from_utf8(read(&docs().join("messages.md"))).expect("UTF-8");
    let mut out = BTreeMap::new();
    for line in text.lines().take_while(|l| !l.starts_with("## ")) {
        let Some(row) = line.strip_prefix("| [") else {
            continue;
        };
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(cells.len(), 6, "a summary row of six cells: {line}");
        let name = cells[0].split(']').next().expect("a link").to_string();
        let routing_key =
            |k: &String| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '.');
        let route = Route {
            exchanges: quoted(cells[1]).into_iter().collect(),
            keys: quoted(cells[2]).into_iter().filter(routing_key).collect(),
            queues: quoted(cells[3]).into_iter().collect(),
            schema: cells[5]
                .split("](schemas/")
                .nth(1)
                .map(|s| s.split(')').next().expect("a link").to_string()),
        };
        assert!(out.insert(name.clone(), route).is_none(), "{name} twice");
    }
    assert!(out.len() >= 10, "messages.md's summary table: {out:?}");
    out
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

fn map(v: &Value) -> impl Iterator<Item = (&str, &Value)> {
    v.as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str().expect("string keys"), v))
}

/// The id of the component message a `$ref` in a channel points to.
fn message_id(reference: &Value) -> String {
    let r = reference["$ref"].as_str().expect("a $ref");
    r.strip_prefix("#/components/messages/")
        .unwrap_or_else(|| panic!("{r} is not a component message"))
        .to_string()
}

/// Every message of the AsyncAPI document, by title, as its channels and operations route
/// it.
fn asyncapi() -> BTreeMap<String, Route> {
    let doc = document();
    let mut by_id: BTreeMap<String, Route> = BTreeMap::new();
    let mut titles = BTreeMap::new();
    for (id, m) in map(&doc["components"]["messages"]) {
        let title = m["title"].as_str().expect("every message has a title");
        titles.insert(id.to_string(), title.to_string());
        let schema = str_at(m, &["payload", "$ref"]).map(|r| {
            r.strip_prefix("./schemas/")
                .expect("a schema of docs/schemas/")
                .to_string()
        });
        by_id.insert(
            id.to_string(),
            Route {
                schema,
                ..Route::default()
            },
        );
    }
    for (name, channel) in map(&doc["channels"]) {
        let amqp = &channel["bindings"]["amqp"];
        for (_, reference) in map(&channel["messages"]) {
            let route = by_id
                .get_mut(&message_id(reference))
                .expect("a component message");
            match amqp["is"].as_str() {
                Some("routingKey") => {
                    let exchange = str_at(amqp, &["exchange", "name"]).expect("exchange name");
                    route.exchanges.insert(md_name(exchange));
                }
                Some("queue") => {
                    if let Some(queue) = str_at(amqp, &["queue", "name"]) {
                        route.queues.insert(md_name(queue));
                    }
                    for bound in channel["x-bound-to"].as_sequence().into_iter().flatten() {
                        let exchange = bound["exchange"].as_str().expect("x-bound-to exchange");
                        route.exchanges.insert(md_name(exchange));
                    }
                }
                other => panic!("channel {name}: amqp.is {other:?}"),
            }
        }
    }
    for (_, op) in map(&doc["operations"]) {
        let keys = op["bindings"]["amqp"]["cc"].as_sequence();
        for reference in op["messages"].as_sequence().expect("messages") {
            let r = reference["$ref"].as_str().expect("$ref");
            let id = r.rsplit('/').next().expect("a message");
            let route = by_id
                .get_mut(id)
                .expect("an operation's message is a component");
            for key in keys.into_iter().flatten() {
                route.keys.insert(key.as_str().expect("a key").to_string());
            }
        }
    }
    by_id
        .into_iter()
        .map(|(id, route)| (titles[&id].clone(), route))
        .collect()
}

#[test]
fn asyncapi_and_messages_md_name_the_same_messages() {
    let md = messages_md();
    let spec = asyncapi();
    let names = |m: &BTreeMap<String, Route>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&spec),
        names(&md),
        "messages: asyncapi.yaml, messages.md"
    );
    for (name, route) in &md {
        assert_eq!(&spec[name], route, "{name}: asyncapi.yaml, messages.md");
    }
    // The headers schema of events is the one messages.md documents.
    let doc = document();
    let text = String::from_utf8(read(&docs().join("messages.md"))).expect("UTF-8");
    for (_, m) in map(&doc["components"]["messages"]) {
        if let Some(headers) = str_at(m, &["headers", "$ref"]) {
            if let Some(file) = headers.strip_prefix("./") {
                assert!(text.contains(file), "messages.md never names {file}");
                assert!(docs().join(file).is_file(), "{file} missing");
            }
        }
    }
}

#[test]
fn asyncapi_declares_the_topology_the_roles_declare() {
    let names = Names::new("{ns}");
    let doc = document();
    let mut exchanges = BTreeMap::new();
    let mut queues = BTreeMap::new();
    for (name, channel) in map(&doc["channels"]) {
        let amqp = &channel["bindings"]["amqp"];
        if let Some(exchange) = str_at(amqp, &["exchange", "name"]) {
            let kind = str_at(amqp, &["exchange", "type"]).expect("type");
            assert_eq!(str_at(channel, &["address"]), Some(exchange), "{name}");
            exchanges.insert(exchange.to_string(), kind.to_string());
        }
        if let Some(queue) = str_at(amqp, &["queue", "name"]) {
            assert_eq!(str_at(channel, &["address"]), Some(queue), "{name}");
            let bound: Vec<(String, String)> = channel["x-bound-to"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|b| {
                    let s = |k| b[k].as_str().expect("exchange and routingKey").to_string();
                    (s("exchange"), s("routingKey"))
                })
                .collect();
            queues.insert(queue.to_string(), bound);
        }
    }
    let declared: BTreeMap<String, String> = broker::exchanges(&names)
        .into_iter()
        .map(|(n, kind)| (n, format!("{kind:?}").to_lowercase()))
        .collect();
    assert_eq!(exchanges, declared, "exchanges: asyncapi.yaml, the roles'");
    let declared: BTreeMap<String, Vec<(String, String)>> =
        broker::queues(&names, &Settings::default().amqp)
            .into_iter()
            .map(|q| (q.name, vec![(q.exchange, q.routing_key.to_string())]))
            .collect();
    assert_eq!(
        queues, declared,
        "queues and bindings: asyncapi.yaml, the roles'"
    );
}
