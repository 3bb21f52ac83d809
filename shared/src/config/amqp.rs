//! The `[amqp]` section: the broker's addresses, namespace, limits and TLS files.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSettings {
    /// The broker's URL: user, password, virtual host and parameters. Its user is the one
    /// `netraven job submit` names in `user_id`.
    pub url: String,
    /// The other nodes of the same cluster, as whole URLs (same user and virtual host as
    /// `url`). Every (re)connect tries `url` and these in turn, starting from a different
    /// one each time. A TOML list, or one string of comma-separated URLs (what an
    /// environment variable can hold).
    #[serde(deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    /// Prefix of every exchange and queue name, so tenants and tests never collide.
    pub namespace: String,
    /// Deliveries of one message before the broker dead-letters it.
    pub delivery_limit: u32,
    /// Queues unused this long are deleted by the broker (0 = never). Tests set it.
    pub queue_expires_ms: u64,
    /// Publishes awaiting confirmation at once.
    pub publish_window: usize,
    /// Longest a publish may wait for its confirm while the connection is not blocked;
    /// past it the publish counts as not confirmed (and is published again). A connection
    /// the broker blocked (a memory or disk alarm) stops this clock: blocked is waited out.
    pub confirm_timeout_ms: u64,
    /// The broker's `consumer_timeout` (RabbitMQ's default: 30 minutes), which AMQP cannot
    /// read: keep it equal to the broker's. A task not acked within it is taken back and
    /// redelivered, so the dispatcher accepts only device deadlines that fit inside it
    /// (see [`super::DeadlineFit`]).
    pub consumer_timeout_ms: u64,
    /// Whether roles (and `netraven job submit`) declare the exchanges and queues at start.
    /// `true` suits one broker user for everything (development, the demo). With an account
    /// per role (`netraven broker setup`), set it to `false`: setup declares the topology,
    /// and roles, which may not configure anything, only check that their queue exists.
    pub declare_topology: bool,
    /// PEM file of the CA(s) the broker's certificate must chain to. Required by an
    /// `amqps://` URL; the system's trust store is never used.
    pub tls_ca_file: Option<PathBuf>,
    /// PEM certificate chain this role presents to the broker (mutual TLS).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// The name the broker's certificate must carry, when it is not the URL's host (a
    /// broker reached by IP address or through an alias).
    pub tls_server_name: Option<String>,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        AmqpSettings {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            urls: Vec::new(),
            namespace: "netraven".into(),
            delivery_limit: 5,
            queue_expires_ms: 0,
            publish_window: 1_000,
            confirm_timeout_ms: 30_000,
            consumer_timeout_ms: 1_800_000,
            declare_topology: true,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_server_name: None,
        }
    }
}

impl AmqpSettings {
    /// Every broker address: `url` first, then `urls`, each once.
    pub fn addresses(&self) -> Vec<&str> {
        let mut all: Vec<&str> = vec![self.url.as_str()];
        for u in &self.urls {
            if !all.contains(&u.as_str()) {
                all.push(u.as_str());
            }
        }
        all
    }
}

/// A list of URLs, or one string of them separated by commas (an environment variable).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let list = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(str::to_string).collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(list
        .into_iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn urls_come_from_a_comma_separated_variable_or_a_toml_list() {
        let s = Settings::load_from(
            None,
            env(&[(
                "NETRAVEN__AMQP__URLS",
                "amqp://guest:guest@b:5672/%2f, amqp://guest:guest@c:5672/%2f",
            )]),
        )
        .expect("loads");
        assert_eq!(
            s.amqp.urls,
            [
                "amqp://guest:guest@b:5672/%2f",
                "amqp://guest:guest@c:5672/%2f"
            ]
        );
        assert_eq!(s.amqp.addresses().len(), 3);
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(
            f,
            "[amqp]\nurls = [\"amqp://guest:guest@b:5672/%2f\", \"amqp://guest:guest@127.0.0.1:5672/%2f\"]"
        )
        .expect("write");
        let s = Settings::load_from(Some(f.path()), env(&[])).expect("loads");
        // The default `url` named again is tried once.
        assert_eq!(s.amqp.addresses().len(), 2);
        let shown = s.show().expect("shows");
        assert!(
            !shown.contains("guest:guest@b"),
            "passwords masked: {shown}"
        );
    }

    #[test]
    fn urls_must_share_the_scheme_user_and_virtual_host() {
        for other in [
            "amqps://guest:guest@b:5671/%2f",
            "amqp://alice:pw@b:5672/%2f",
            "amqp://guest:guest@b:5672/other",
            "http://b",
        ] {
            let err = Settings::load_from(None, env(&[("NETRAVEN__AMQP__URLS", other)]))
                .expect_err(other);
            let text = err.to_string();
            assert!(text.contains("amqp.urls"), "{other}: {text}");
            assert!(!text.contains(":pw@"), "password masked: {text}");
        }
    }
}
