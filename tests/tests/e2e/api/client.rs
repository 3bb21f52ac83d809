//! A minimal HTTP/1.1 client over a TCP stream: one request per connection, the answer read
//! to its end. Enough to test the API without a client library's weight.

use anyhow::{Context, Result};
use serde_json::Value;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Http {
    addr: SocketAddr,
    token: Option<String>,
}

/// An answer: status, headers (lower-case names), body as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Asserts a problem detail of `status` (RFC 9457) and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let p = self.json();
        assert_eq!(p["status"], status, "{p}");
        assert!(p["title"].is_string() && p["type"].is_string(), "{p}");
        p
    }
}

impl Http {
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Http {
        Http {
            addr,
            token: token.map(str::to_string),
        }
    }

    pub async fn get(&self, path: &str) -> Result<Answer> {
        self.send("GET", path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Answer> {
        self.send(
            "POST",
            path,
            Some(&body.to_string()),
            Some("application/json"),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Answer> {
        self.send(
            "PUT",
            path,
            Some(&body.to_string()),
            Some("application/json"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Result<Answer> {
        self.send("DELETE", path, None, None).await
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Result<Answer> {
        self.send_with(method, path, body, content_type, &[]).await
    }

    /// [`Http::send`] with headers of the caller's own (a console session's `Cookie`).
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Answer> {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        if let Some(t) = &self.token {
            req += &format!("Authorization: Bearer {t}\r\n");
        }
        if let Some(ct) = content_type {
            req += &format!("Content-Type: {ct}\r\n");
        }
        for (name, value) in headers {
            req += &format!("{name}: {value}\r\n");
        }
        let body = body.unwrap_or("");
        req += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
        stream.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let raw = String::from_utf8(raw)?;
        let (head, rest) = raw.split_once("\r\n\r\n").context("no end of headers")?;
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .context("no status line")?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        let text = if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        Ok(Answer {
            status,
            headers,
            text,
        })
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out += &rest[..n];
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
