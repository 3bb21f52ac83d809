//! `netraven inventory sync netbox`: devices read from NetBox's REST API
//! (`GET /api/dcim/devices/`, `Authorization: Token ...`, `limit`/`offset` pages followed
//! by `next` until it is null) and mapped to the inventory's devices:
//!
//! | NetBox                                | NetRaven                                    |
//! |---------------------------------------|---------------------------------------------|
//! | `name`                                | name (a device without one is a problem)    |
//! | `primary_ip.address` (`10.0.0.1/24`)  | host, prefix length removed (none: problem) |
//! | `platform.slug`                       | platform: `--platform-map SLUG=NAME`, else the slug, else the slug with `-` as `_`, as a name or alias (unknown: problem) |
//! | `tags[].slug`                         | tags                                        |
//! | `site.slug`                           | tag `site:<slug>`                           |
//! | `role.slug` (4.x), `device_role.slug` (3.x) | tag `role:<slug>`                     |
//! | `status.value`                        | only `--status` ones (default `active`) are synced |
//! | -                                     | port 22, no jump host                       |
//!
//! What NetBox answers is untrusted: each page is read up to [`MAX_PAGE_BYTES`], at most
//! `--max-pages` pages, each request with a timeout; a `next` link to another origin, a
//! redirect, an answer that is not the documented shape, or a refusal is an error and
//! nothing is written. The token is read from a variable or a file, sent only to `--url`'s
//! origin, and never printed.

use super::parse::{Problem, Read};
use super::{Device, Inventory, Sections};
use anyhow::{bail, Context, Result};
use netraven_worker::platform::Profiles;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The most bytes one page may have.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// Where and how to read NetBox.
#[derive(Debug)]
pub struct Config {
    /// NetBox's base URL (`https://netbox.example.net`).
    pub url: String,
    pub token: SecretString,
    /// `limit`: devices asked for per page.
    pub page_size: u32,
    /// The most pages read: more is an error.
    pub max_pages: u32,
    /// The statuses synced (`active`).
    pub statuses: Vec<String>,
    /// NetBox platform slug → NetRaven platform name.
    pub platform_map: BTreeMap<String, String>,
    /// Per request.
    pub timeout: Duration,
    /// A PEM file of CA certificates trusted besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
struct Page {
    #[allow(dead_code)]
    count: u64,
    next: Option<String>,
    results: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct NbDevice {
    id: i64,
    name: Option<String>,
    primary_ip: Option<NbIp>,
    platform: Option<NbRef>,
    #[serde(default)]
    tags: Vec<NbRef>,
    site: Option<NbRef>,
    role: Option<NbRef>,
    device_role: Option<NbRef>,
    status: Option<NbStatus>,
}

#[derive(Deserialize)]
struct NbIp {
    address: String,
}

#[derive(Deserialize)]
struct NbRef {
    slug: String,
}

#[derive(Deserialize)]
struct NbStatus {
    value: String,
}

/// Reads every device page from NetBox and maps it: the devices as an inventory that has
/// only a `devices:` section, and each device's problems. `Err` for NetBox itself: it
/// cannot be reached, refuses the token, or answers something that is not a page.
pub async fn read(config: &Config, profiles: &Profiles) -> Result<Read> {
    let mut base =
        Url::parse(&config.url).with_context(|| format!("--url {:?} is not a URL", config.url))?;
    // NetBox under a path (`https://host/netbox`): the API is below it, not beside it.
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        bail!("--url {:?}: give an http or https URL", config.url);
    }
    let client = client(config)?;
    let mut url = base.join("api/dcim/devices/")?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("limit", &config.page_size.to_string());
        q.append_pair("offset", "0");
        for s in &config.statuses {
            q.append_pair("status", s);
        }
    }
    let mut results = Vec::new();
    let mut pages = 0u32;
    loop {
        pages += 1;
        if pages > config.max_pages {
            bail!(
                "NetBox has more than {} pages of devices (--max-pages): nothing was changed",
                config.max_pages
            );
        }
        let page = get_page(&client, &url, &config.token).await?;
        results.extend(page.results);
        match page.next {
            None => break,
            Some(next) => {
                let next_url = Url::parse(&next)
                    .or_else(|_| base.join(&next))
                    .with_context(|| {
                        format!("NetBox's page {pages} has a `next` that is not a URL; nothing was changed")
                    })?;
                if next_url.origin() != base.origin() {
                    bail!(
                        "NetBox's page {pages} links its next page to {}, not to --url's \
                         origin {}: refused (the token goes only to --url); nothing was changed",
                        next_url.origin().ascii_serialization(),
                        base.origin().ascii_serialization()
                    );
                }
                url = next_url;
            }
        }
    }
    Ok(map(&results, config, profiles))
}

/// ring, as shared/src/tls.rs says why (rustls deprecates it for lacking post-quantum
/// key exchange).
#[allow(deprecated)]
fn client(config: &Config) -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot use is left out, as curl does.
        let _ = roots.add(cert);
    }
    if let Some(path) = &config.ca_file {
        use rustls::pki_types::pem::PemObject;
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read --ca-file {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("--ca-file {}: not PEM certificates", path.display()))?;
        for cert in certs {
            roots.add(cert).with_context(|| {
                format!("--ca-file {}: a certificate is refused", path.display())
            })?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?)
}

async fn get_page(client: &reqwest::Client, url: &Url, token: &SecretString) -> Result<Page> {
    let shown = url.as_str();
    let mut response = client
        .get(url.clone())
        .header(
            reqwest::header::AUTHORIZATION,
            format!("Token {}", token.expose_secret()),
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach NetBox at {shown}: {}; nothing was changed",
                e.without_url()
            )
        })?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        anyhow::anyhow!(
            "reading NetBox's answer to {shown}: {}; nothing was changed",
            e.without_url()
        )
    })? {
        if body.len() + chunk.len() > MAX_PAGE_BYTES {
            bail!(
                "NetBox's answer to {shown} is larger than {MAX_PAGE_BYTES} bytes: refused \
                 (a smaller --page-size may help); nothing was changed"
            );
        }
        body.extend_from_slice(&chunk);
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        bail!(
            "NetBox refused the token (HTTP {status}{}) for {shown}: check --token-env or \
             --token-file and the token's permissions (dcim.view_device); nothing was changed",
            detail(&body)
        );
    }
    if !status.is_success() {
        bail!(
            "NetBox answered HTTP {status}{} for {shown}; nothing was changed",
            detail(&body)
        );
    }
    serde_json::from_slice(&body).map_err(|e| {
        anyhow::anyhow!(
            "NetBox's answer to {shown} is not a page of devices (count, next, results): \
             {e}; nothing was changed"
        )
    })
}

/// NetBox's `detail` from an error's body, shortened and on one line.
fn detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Detail {
        detail: String,
    }
    match serde_json::from_slice::<Detail>(body) {
        Ok(d) => {
            let text: String = d.detail.chars().take(200).collect();
            format!(": {}", netraven_shared::text::one_line(&text))
        }
        Err(_) => String::new(),
    }
}

/// NetBox's devices as an inventory with only `devices:`, and the problems of each.
fn map(results: &[serde_json::Value], config: &Config, profiles: &Profiles) -> Read {
    let mut read = Read {
        inventory: Inventory {
            sections: Sections {
                devices: true,
                ..Sections::default()
            },
            ..Inventory::default()
        },
        ..Read::default()
    };
    let problem = |message: String| Problem {
        line: 0,
        column: 0,
        message,
    };
    let mut problems = Vec::new();
    let statuses: HashSet<&str> = config.statuses.iter().map(String::as_str).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (i, value) in results.iter().enumerate() {
        let d: NbDevice = match serde_json::from_value(value.clone()) {
            Ok(d) => d,
            Err(e) => {
                let id = value.get("id").and_then(serde_json::Value::as_i64);
                problems.push(problem(format!(
                    "NetBox device {}: not the documented shape: {e}",
                    id.map_or(format!("#{}", i + 1), |id| format!("id {id}"))
                )));
                continue;
            }
        };
        let status = d.status.as_ref().map(|s| s.value.as_str()).unwrap_or("");
        if !statuses.is_empty() && !statuses.contains(status) {
            continue;
        }
        let Some(name) = d.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) else {
            problems.push(problem(format!(
                "NetBox device id {}: has no name: give it one in NetBox",
                d.id
            )));
            continue;
        };
        let owner = format!("NetBox device {name:?} (id {})", d.id);
        if !seen.insert(name.to_string()) {
            problems.push(problem(format!(
                "{owner}: the name is given to two NetBox devices (different sites?): \
                 NetRaven names are unique"
            )));
            continue;
        }
        let host = match &d.primary_ip {
            None => {
                problems.push(problem(format!(
                    "{owner}: has no primary IP: set one in NetBox, or give it another status"
                )));
                continue;
            }
            Some(ip) => ip
                .address
                .split('/')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        if host.is_empty() {
            problems.push(problem(format!("{owner}: its primary IP is empty")));
            continue;
        }
        let Some(slug) = d.platform.as_ref().map(|p| p.slug.as_str()) else {
            problems.push(problem(format!(
                "{owner}: has no platform: set one in NetBox (or map it with --platform-map)"
            )));
            continue;
        };
        let mapped = config.platform_map.get(slug).map(String::as_str);
        let underscored = slug.replace('-', "_");
        let found = [mapped, Some(slug), Some(underscored.as_str())]
            .into_iter()
            .flatten()
            .find_map(|p| profiles.resolve(p));
        let Some(profile) = found else {
            problems.push(problem(format!(
                "{owner}: unknown platform slug {slug:?}: map it with --platform-map \
                 {slug}=NAME (`netraven inventory platforms` lists the names)"
            )));
            continue;
        };
        let mut tags: BTreeSet<String> = d.tags.iter().map(|t| t.slug.clone()).collect();
        if let Some(site) = &d.site {
            tags.insert(format!("site:{}", site.slug));
        }
        if let Some(role) = d.role.as_ref().or(d.device_role.as_ref()) {
            tags.insert(format!("role:{}", role.slug));
        }
        read.inventory.devices.push(Device {
            name: name.to_string(),
            host,
            port: 22,
            platform: profile.canonical().to_string(),
            platform_given: slug.to_string(),
            tags: tags.into_iter().filter(|t| !t.trim().is_empty()).collect(),
            jump_host: None,
            line: 0,
            column: 0,
        });
    }
    read.problems = problems;
    read
}
