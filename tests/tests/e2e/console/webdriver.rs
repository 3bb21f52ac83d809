//! A WebDriver session on chromedriver and headless Chromium: the few W3C commands the
//! console test needs, as JSON over HTTP/1.1 on one kept-alive connection (chromedriver
//! ignores `Connection: close` and checks `Host`, so the api tests' client does not fit).
//! chromedriver runs on a free port of its own and is killed on drop.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    connection: Mutex<Option<BufReader<TcpStream>>>,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// chromedriver on a free port, and a headless Chromium session of 1280×900.
    pub async fn start() -> Result<Browser> {
        Browser::launch(&[]).await
    }

    /// [`Browser::start`], with a browser whose user prefers a dark colour scheme.
    pub async fn start_dark() -> Result<Browser> {
        Browser::launch(&[
            "--force-dark-mode",
            "--blink-settings=preferredColorScheme=0",
        ])
        .await
    }

    async fn launch(extra: &[&str]) -> Result<Browser> {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install Debian's {package} package \
                 (`sudo apt-get install -y chromium chromium-driver`; scripts/test does it as root)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut browser = Browser {
            driver,
            addr,
            connection: Mutex::new(None),
            session: String::new(),
        };
        let started = Instant::now();
        loop {
            if let Ok((_, v)) = browser.send("GET", "/status", None).await {
                if v["value"]["ready"] == true {
                    break;
                }
            }
            *browser.connection.lock().await = None;
            if started.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not answer on port {port} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--force-color-profile=srgb",
            "--hide-scrollbars",
        ];
        args.extend_from_slice(extra);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
        }}});
        let answer = browser.command("POST", "/session", Some(caps)).await?;
        browser.session = answer["sessionId"]
            .as_str()
            .context("no session id from chromedriver")?
            .to_string();
        Ok(browser)
    }

    /// One request and its answer (status, JSON body), read to its `Content-Length`.
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut held = self.connection.lock().await;
        if held.is_none() {
            *held = Some(BufReader::new(TcpStream::connect(self.addr).await?));
        }
        let stream = held.as_mut().context("no connection")?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.get_mut().write_all(request.as_bytes()).await?;
        let (mut status, mut length) = (0, 0);
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                bail!("chromedriver closed the connection");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
                status = rest.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
            } else if let Some((name, value)) = l.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut bytes = vec![0; length];
        stream.read_exact(&mut bytes).await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, answer) = self.send(method, path, body).await?;
        let value = answer["value"].clone();
        if status != 200 {
            bail!("WebDriver {method} {path}: {status} {value}");
        }
        Ok(value)
    }

    async fn session(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.command(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.session("POST", "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    pub async fn url(&self) -> Result<String> {
        Ok(self
            .session("GET", "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The first element matching the CSS selector.
    pub async fn find(&self, css: &str) -> Result<String> {
        let v = self
            .session(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .with_context(|| format!("no element {css:?}"))?;
        Ok(v[ELEMENT].as_str().unwrap_or_default().to_string())
    }

    pub async fn count(&self, css: &str) -> Result<usize> {
        let v = self
            .session(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(v.as_array().map_or(0, Vec::len))
    }

    pub async fn text(&self, css: &str) -> Result<String> {
        let el = self.find(css).await?;
        let v = self
            .session("GET", &format!("/element/{el}/text"), None)
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let el = self.find(css).await?;
        self.session(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        let el = self.find(css).await?;
        self.session("POST", &format!("/element/{el}/click"), Some(json!({})))
            .await
            .map(drop)
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn script(&self, script: &str) -> Result<Value> {
        self.session(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The browser's cookies for the page's site (name, httpOnly, sameSite, ...).
    pub async fn cookies(&self) -> Result<Vec<Value>> {
        Ok(self
            .session("GET", "/cookie", None)
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Waits until the text of `css` satisfies `ok`; its last text either way.
    pub async fn wait_text(
        &self,
        css: &str,
        timeout: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let started = Instant::now();
        loop {
            let text = self.text(css).await.unwrap_or_default();
            if ok(&text) || started.elapsed() > timeout {
                return Ok(text);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's URL satisfies `ok` (a click's navigation is not awaited).
    pub async fn wait_url(&self, ok: impl Fn(&str) -> bool) -> Result<()> {
        let started = Instant::now();
        loop {
            let url = self.url().await?;
            if ok(&url) {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("the page stayed at {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let v = self.session("GET", "/screenshot", None).await?;
        let png =
            base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default())?;
        std::fs::write(path, png).with_context(|| format!("cannot write {}", path.display()))
    }

    pub async fn quit(self) -> Result<()> {
        self.session("DELETE", "", None).await.map(drop)
    }
}
