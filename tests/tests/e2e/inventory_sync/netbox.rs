//! `inventory sync netbox` against an axum server answering NetBox's documented shapes.

use super::{devices, ok, run, text, TOKEN};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use netraven_tests::TestEnv;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Output;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// How the fake NetBox answers: 0 two good pages, 1 a device gone from NetBox, 2 a
/// malformed second page, 3 an unknown platform, 4 a `next` to another origin.
#[derive(Clone)]
struct NetBox {
    mode: Arc<AtomicU8>,
    base: String,
}

fn nb_device(id: i64, name: &str, ip: &str, platform: &str, extra: Value) -> Value {
    let mut d = json!({
        "id": id,
        "url": format!("http://netbox/api/dcim/devices/{id}/"),
        "display": name,
        "name": name,
        "device_type": { "id": 1, "slug": "c8000", "model": "C8000" },
        "platform": { "id": 3, "name": platform, "slug": platform },
        "site": { "id": 1, "name": "DC 1", "slug": "dc1" },
        "status": { "value": "active", "label": "Active" },
        "primary_ip": { "id": id, "family": 4, "address": ip },
        "primary_ip4": { "id": id, "family": 4, "address": ip },
        "primary_ip6": null,
        "tags": [{ "id": 1, "name": "Core", "slug": "core", "color": "9e9e9e" }],
        "custom_fields": {}
    });
    if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            d.insert(k.clone(), v.clone());
        }
    }
    d
}

async fn devices_api(
    State(nb): State<NetBox>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Token {TOKEN}") {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "detail": "Invalid token" })),
        );
    }
    if q.get("status").map(String::as_str) != Some("active") {
        return (StatusCode::BAD_REQUEST, Json(json!({ "detail": "status" })));
    }
    let mode = nb.mode.load(Ordering::SeqCst);
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let role4 = json!({ "role": { "id": 1, "name": "Router", "slug": "router" } });
    let role3 = json!({ "device_role": { "id": 2, "name": "Edge", "slug": "edge" } });
    if offset == 0 {
        let next = if mode == 4 {
            "http://192.0.2.1:9/api/dcim/devices/?limit=2&offset=2".to_string()
        } else {
            format!(
                "{}/api/dcim/devices/?limit=2&offset=2&status=active",
                nb.base
            )
        };
        let results = vec![
            nb_device(1, "nb-a", "10.1.0.1/24", "cisco-ios", role4.clone()),
            nb_device(
                2,
                "nb-off",
                "10.1.0.2/24",
                "cisco-ios",
                json!({ "status": { "value": "offline", "label": "Offline" } }),
            ),
        ];
        return (
            StatusCode::OK,
            Json(json!({ "count": 4, "next": next, "previous": null, "results": results })),
        );
    }
    if mode == 2 {
        return (
            StatusCode::OK,
            Json(json!({ "count": 4, "next": null, "results": "not a list" })),
        );
    }
    let mut results = vec![nb_device(3, "nb-b", "2001:db8::3/64", "ios-xe", role3)];
    if mode != 1 {
        let platform = if mode == 3 { "opengear" } else { "junos" };
        results.push(nb_device(
            4,
            "nb-c",
            "10.1.0.4/32",
            platform,
            json!({ "tags": [] }),
        ));
    }
    (
        StatusCode::OK,
        Json(json!({
            "count": 4,
            "next": null,
            "previous": format!("{}/api/dcim/devices/?limit=2&offset=0", nb.base),
            "results": results
        })),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netbox_sync_maps_pages_checks_the_token_and_changes_nothing_on_a_bad_page(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let nb = NetBox {
        mode: Arc::new(AtomicU8::new(0)),
        base: base.clone(),
    };
    let app = axum::Router::new()
        .route("/api/dcim/devices/", get(devices_api))
        .with_state(nb.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // A device the file owns: no NetBox sync removes it.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("inv.yaml");
    std::fs::write(
        &file,
        "devices:\n  - { name: file-1, host: 10.9.0.1, platform: linux }\n",
    )?;
    ok(
        &env,
        &["inventory", "import", file.to_str().unwrap_or_default()],
        0,
    )?;

    let sync = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "inventory",
            "sync",
            "netbox",
            "--url",
            base.as_str(),
            "--page-size",
            "2",
            "--platform-map",
            "ios-xe=cisco_xe",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run_sync = |extra: &[&str]| -> anyhow::Result<Output> {
        let args = sync(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&env, &args)
    };

    // A wrong token: a clear error, the token never printed, nothing written.
    let out = run_sync(&["--token-env", "NRT_NB_WRONG"])?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("NetBox refused the token (HTTP 403 Forbidden: Invalid token)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-the-token") && !stderr.contains(TOKEN),
        "{stderr}"
    );
    assert_eq!(devices(&env).await?.len(), 1);

    // Two pages, mapped: the offline device is left out.
    let out = run_sync(&["--token-env", "NRT_NB_TOKEN", "--dry-run"])?;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("devices: 3 to add, 0 to change, 0 to remove"),
        "{stdout}"
    );
    assert_eq!(devices(&env).await?.len(), 1, "a dry run writes nothing");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n"))?;
    let out = run_sync(&["--token-file", token_file.to_str().unwrap_or_default()])?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let client = env.pool.get().await?;
    let rows: Vec<(String, String, String, String, Vec<String>)> = client
        .query(
            "SELECT d.name, d.host, d.platform, d.source,
                    ARRAY(SELECT t.name FROM device_tags dt JOIN tags t ON t.id = dt.tag_id
                          WHERE dt.device_id = d.id ORDER BY t.name)
             FROM devices d ORDER BY d.name",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let row = |n: &str, h: &str, p: &str, s: &str, t: &[&str]| {
        (
            n.to_string(),
            h.to_string(),
            p.to_string(),
            s.to_string(),
            t.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        rows,
        [
            row("file-1", "10.9.0.1", "linux", "file", &[]),
            row(
                "nb-a",
                "10.1.0.1",
                "cisco_ios",
                "netbox",
                &["core", "role:router", "site:dc1"]
            ),
            row(
                "nb-b",
                "2001:db8::3",
                "cisco_xe",
                "netbox",
                &["core", "role:edge", "site:dc1"]
            ),
            row("nb-c", "10.1.0.4", "juniper_junos", "netbox", &["site:dc1"]),
        ]
    );

    // nb-c gone from NetBox: --prune removes it, and only it (file-1 is the file's).
    nb.mode.store(1, Ordering::SeqCst);
    let out = run_sync(&["--token-env", "NRT_NB_TOKEN", "--prune"])?;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("devices: 0 added, 0 changed, 1 removed"),
        "{stdout}"
    );
    let expect = |gone: bool| {
        vec![
            ("file-1".to_string(), false),
            ("nb-a".to_string(), false),
            ("nb-b".to_string(), false),
            ("nb-c".to_string(), gone),
        ]
    };
    assert_eq!(devices(&env).await?, expect(true));

    // A malformed page, an unknown platform, a `next` elsewhere: clear errors, nothing
    // changed (nb-c would have come back).
    for (mode, code, want) in [
        (2, 1, "is not a page of devices (count, next, results)"),
        (3, 10, "NetBox device \"nb-c\" (id 4): unknown platform slug \"opengear\": map it with --platform-map opengear=NAME"),
        (4, 1, "links its next page to http://192.0.2.1:9, not to --url's origin"),
    ] {
        nb.mode.store(mode, Ordering::SeqCst);
        let out = run_sync(&["--token-env", "NRT_NB_TOKEN", "--prune"])?;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(want), "{want:?} missing:\n{stderr}");
        assert_eq!(devices(&env).await?, expect(true), "mode {mode}");
    }
    server.abort();
    Ok(())
}
