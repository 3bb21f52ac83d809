//! The typed settings: built-in defaults → a TOML file → `NETRAVEN__SECTION__KEY` variables.
//!
//! Unknown keys are errors, and so are invalid values; both name the key. Every duration
//! carries its unit in its name. Secrets are [`SecretString`]s, masked by [`Settings::show`].

use crate::domain::{HostKeyPolicy, JobType};
use crate::{Error, Result};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable that names a config file when `--config` is not given.
pub const CONFIG_FILE_ENV: &str = "NETRAVEN_CONFIG";
/// The prefix of environment overrides: `NETRAVEN__WORKER__PREFETCH=64`.
pub const ENV_PREFIX: &str = "NETRAVEN";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub secrets: SecretSettings,
    pub signing: SigningSettings,
    pub log: LogSettings,
    pub dispatcher: DispatcherSettings,
    pub worker: WorkerSettings,
    pub aggregator: AggregatorSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `postgres://user[:password]@host:port/dbname`
    pub url: String,
    pub pool_size: usize,
    /// How long a caller waits for a pooled connection before failing.
    pub pool_timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "postgres://postgres@127.0.0.1:5432/netraven".into(),
            pool_size: 16,
            pool_timeout_ms: 10_000,
            connect_timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSettings {
    pub url: String,
    /// Prefix of every exchange and queue name, so tenants and tests never collide.
    pub namespace: String,
    /// Deliveries of one message before the broker dead-letters it.
    pub delivery_limit: u32,
    /// Queues unused this long are deleted by the broker (0 = never). Tests set it.
    pub queue_expires_ms: u64,
    /// Publishes awaiting confirmation at once.
    pub publish_window: usize,
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
            namespace: "netraven".into(),
            delivery_limit: 5,
            queue_expires_ms: 0,
            publish_window: 1_000,
            declare_topology: true,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_server_name: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretSettings {
    /// File holding the sealing key ring (`netraven secrets init` writes one).
    pub key_file: Option<PathBuf>,
    /// The key ring itself, in the key file's format, instead of a file.
    #[serde(serialize_with = "mask_secret")]
    pub key: Option<SecretString>,
}

/// The Ed25519 keys that sign device tasks (the dispatcher) and results (workers), and the
/// public keys a role checks them with (`crate::signing`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSettings {
    /// This role's private signing keys (`netraven signing init` writes them): the
    /// dispatcher's and workers'. The aggregator needs none.
    pub key_file: Option<PathBuf>,
    /// The private keys themselves, in the key file's format, instead of a file.
    #[serde(serialize_with = "mask_secret")]
    pub key: Option<SecretString>,
    /// Public keys of the roles this one listens to (`netraven signing public` prints
    /// them): workers trust the dispatcher's, the aggregator the dispatcher's and workers'.
    pub trusted_keys_file: Option<PathBuf>,
    /// The public keys themselves, in the trusted-keys file's format.
    pub trusted_keys: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `tracing` filter directives, e.g. `info,netraven_worker=debug`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherSettings {
    /// `/metrics`, `/healthz` and `/readyz`; empty disables the server.
    pub metrics_addr: String,
    pub prefetch: u16,
    /// Default cap on credentials tried per device.
    pub max_credentials_per_device: u32,
    pub default_device_deadline_ms: u64,
    pub default_job_deadline_ms: u64,
    pub default_host_key_policy: HostKeyPolicy,
    /// Submitters (broker user names, from the requests' AMQP `user_id`) allowed more than
    /// the default (`config_backup` and `reachability`, host-key policy `accept-new` or
    /// `strict`). Anyone unlisted, and requests without `user_id`, get the default.
    pub submitters: BTreeMap<String, SubmitterSettings>,
}

/// What one submitter may ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmitterSettings {
    /// Job types allowed. In an environment variable: a JSON array in a string.
    #[serde(deserialize_with = "list_or_json")]
    pub job_types: Vec<JobType>,
    /// Regular expressions a `command` job's every command must match as a whole (they
    /// are anchored: `show .*` does not match `reload`). In an environment variable: a JSON
    /// array in a string.
    #[serde(deserialize_with = "list_or_json")]
    pub command_patterns: Vec<String>,
    /// The weakest host-key policy the submitter's jobs may ask for.
    pub weakest_host_key_policy: HostKeyPolicy,
}

impl Default for SubmitterSettings {
    /// What every submitter may do: the default permissions.
    fn default() -> Self {
        SubmitterSettings {
            job_types: vec![JobType::ConfigBackup, JobType::Reachability],
            command_patterns: Vec::new(),
            weakest_host_key_policy: HostKeyPolicy::AcceptNew,
        }
    }
}

/// A list, or (from an environment variable) a string holding a JSON array.
fn list_or_json<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        List(Vec<T>),
        Json(String),
    }
    match Either::<T>::deserialize(d)? {
        Either::List(v) => Ok(v),
        Either::Json(s) => serde_json::from_str(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "expected a list, or a JSON array in a string such as [\"show .*\"]: {e}"
            ))
        }),
    }
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        DispatcherSettings {
            metrics_addr: "127.0.0.1:9464".into(),
            prefetch: 16,
            max_credentials_per_device: 5,
            default_device_deadline_ms: 120_000,
            default_job_deadline_ms: 3_600_000,
            default_host_key_policy: HostKeyPolicy::AcceptNew,
            submitters: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    pub metrics_addr: String,
    /// Devices handled at once by this worker (also the broker prefetch). A device that
    /// waits (a silent or slow one, until its timeout) holds its place, so this is set by
    /// what a waiting device costs — its connection, ~75 KiB — not by the largest output
    /// one may send, which `output_allowance_bytes` and `large_outputs` bound.
    pub max_in_flight: u16,
    pub connect_timeout_ms: u64,
    pub handshake_timeout_ms: u64,
    pub auth_timeout_ms: u64,
    /// A command fails when no output arrives for this long.
    pub command_idle_timeout_ms: u64,
    /// Credential counters and attempts are written at most this often.
    pub flush_interval_ms: u64,
    /// On SIGTERM, in-flight devices get this long to finish before they are returned.
    pub shutdown_grace_ms: u64,
    /// Most output read from one device for one task (all its commands together); past it
    /// the device fails (`COMMAND_FAILED`, "output exceeded N bytes") and reading stops. It
    /// bounds what a device that streams without end costs the fleet: every byte read is
    /// decrypted and parsed on the worker's cores.
    pub max_output_bytes: usize,
    /// Output every device may hold without a large-output turn (never more than
    /// `max_output_bytes`: a smaller limit is the allowance).
    pub output_allowance_bytes: usize,
    /// Devices that may hold more than `output_allowance_bytes` of output at once; the others
    /// wait for a turn, reading nothing, within their deadline. A worker's output memory is
    /// at most `max_in_flight × (output_allowance_bytes + 128 KiB) + large_outputs ×
    /// max_output_bytes` (the 128 KiB: the packets russh holds for a reader that waits;
    /// 512 MiB with the defaults), plus each shell's banner (≤ 64 KiB).
    pub large_outputs: u32,
    /// Redact secret-bearing lines from stored configurations.
    pub redact_secrets: bool,
    /// A folder of extra platform profiles (`*.toml`); built-ins are always loaded.
    pub profiles_dir: Option<PathBuf>,
    /// Logins one credential may have in progress at once on this worker (0: no cap).
    pub max_concurrent_logins_per_credential: u32,
    /// Logins per second one credential may start on this worker (0: no cap).
    pub max_logins_per_second_per_credential: u32,
    /// How often the worker looks at `secrets.key_file` and reloads the ring when the file
    /// changed (a read of a small file; a Kubernetes Secret update counts).
    pub key_file_poll_interval_ms: u64,
    /// How often the worker reports the key ids it holds to Postgres (also at start and
    /// after each reload). A worker not heard from for three intervals is not counted as
    /// running by `netraven secrets reseal`.
    pub key_report_interval_ms: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            metrics_addr: "127.0.0.1:9465".into(),
            max_in_flight: 1024,
            connect_timeout_ms: 5_000,
            handshake_timeout_ms: 10_000,
            auth_timeout_ms: 10_000,
            command_idle_timeout_ms: 30_000,
            flush_interval_ms: 100,
            shutdown_grace_ms: 30_000,
            max_output_bytes: 4 * 1024 * 1024,
            output_allowance_bytes: 256 * 1024,
            large_outputs: 32,
            redact_secrets: true,
            profiles_dir: None,
            max_concurrent_logins_per_credential: 128,
            max_logins_per_second_per_credential: 0,
            key_file_poll_interval_ms: 2_000,
            key_report_interval_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregatorSettings {
    pub metrics_addr: String,
    /// Results recorded in one transaction at most.
    pub batch_size: u16,
    /// How long a partial batch waits for more results.
    pub batch_linger_ms: u64,
    /// How often overdue jobs are looked for.
    pub sweep_interval_ms: u64,
    /// Jobs, their results, logs, command outputs and login attempts older than this are
    /// pruned, as are superseded config snapshots (the latest per device is always kept).
    pub retention_days: u32,
    /// How often the aggregator prunes.
    pub prune_interval_ms: u64,
    /// Rows deleted per statement while pruning, so that no prune holds locks for long.
    pub prune_batch_size: u32,
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        AggregatorSettings {
            metrics_addr: "127.0.0.1:9466".into(),
            batch_size: 500,
            batch_linger_ms: 20,
            sweep_interval_ms: 5_000,
            retention_days: 90,
            prune_interval_ms: 3_600_000,
            prune_batch_size: 10_000,
        }
    }
}

fn mask_secret<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("********"),
        None => s.serialize_none(),
    }
}

/// A command pattern as it is matched: anchored at both ends, so that it must match the
/// whole command. The pattern must be a regular expression on its own first: one that
/// only compiles inside the anchors' group (`show version)|(.*`) would break out of them.
pub fn anchored(pattern: &str) -> std::result::Result<regex::Regex, regex::Error> {
    regex::Regex::new(pattern)?;
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

/// What a masked secret shows.
const MASK: &str = "********";

/// Masks every password in a connection string, in each form our clients accept:
///
/// - a URL's userinfo, `scheme://user:password@host` (`postgres`, `amqp`, `amqps`, …),
///   multi-host (`postgres://u:p@h1,h2/db`), percent-encoded or not. The password is
///   masked up to the first `@` (where tokio-postgres ends it) or the last `@` of the
///   authority (where a URL parser ends it), whichever is later, so that no parser's
///   reading of it is left visible;
/// - parameters naming a password (`password`, `sslpassword`, …, also percent-encoded):
///   URL queries (`?password=…&…`) and libpq `key=value` strings
///   (`host=db password='it\'s secret'`), quoted values whole.
///
/// Everything else stays, so the masked string still says where it connects.
pub fn mask_url(url: &str) -> String {
    mask_params(&mask_userinfo(url))
}

fn mask_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    // This URL ends at the first white space: a second URL after it is masked on its own.
    let url_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let this = &rest[..url_end];
    let authority_end = this.find(['/', '?', '#']).unwrap_or(this.len());
    let end = this.find('@').max(this[..authority_end].rfind('@'));
    let masked = match end.and_then(|end| this[..end].find(':').map(|colon| (colon, end))) {
        Some((colon, end)) => format!("{}:{MASK}{}", &this[..colon], &this[end..]),
        None => this.to_string(),
    };
    format!(
        "{}{masked}{}",
        &url[..scheme_end],
        mask_userinfo(&rest[url_end..])
    )
}

/// A connection parameter whose value is a password.
fn is_password_param(name: &str) -> bool {
    let name = percent_decode_lossy(name).to_ascii_lowercase();
    ["password", "passwd", "pwd", "secret", "token"]
        .iter()
        .any(|w| name.contains(w))
}

fn percent_decode_lossy(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Masks the values of `name=value` parameters that name a password, where a parameter
/// starts the string or follows whitespace, `?`, `&` or `;`.
fn mask_params(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        // libpq starts a parameter after white space or a quoted value's closing quote; a
        // URL query after `?` or `&`.
        let starts =
            i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'?' | b'&' | b';' | b'\'');
        let name_len = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'%' | b'.'))
            .count();
        if !starts || name_len == 0 {
            i += 1;
            continue;
        }
        let name = &s[i..i + name_len];
        let mut j = i + name_len;
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        if j >= b.len() || b[j] != b'=' || !is_password_param(name) {
            i += name_len.max(1);
            continue;
        }
        j += 1;
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        let (start, end) = if b.get(j) == Some(&b'\'') {
            // libpq: a quoted value, `\'` and `\\` escaped; masked up to its closing quote
            // (to the end when it has none).
            let mut k = j + 1;
            while k < b.len() && b[k] != b'\'' {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            (j + 1, k.min(b.len()))
        } else {
            // Unquoted: a URL query's value ends at `&` (not at `#`: tokio-postgres reads
            // on); a key=value string's at white space that no backslash escapes.
            let in_query = i > 0 && matches!(b[i - 1], b'?' | b'&');
            let mut k = j;
            while k < b.len() && !b[k].is_ascii_whitespace() && !(in_query && b[k] == b'&') {
                k += if b[k] == b'\\' && !in_query { 2 } else { 1 };
            }
            (j, k.min(b.len()))
        };
        if end > start {
            out.push_str(&s[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        i = end.max(j).max(i + 1);
    }
    out.push_str(&s[copied..]);
    out
}

/// A setting whose value is secret material whatever it looks like: inline keys,
/// passwords and tokens. Paths to such material end in `_file` and are shown.
fn is_secret_setting(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["key", "password", "passphrase", "secret", "token"].contains(&name.as_str())
        || ["_key", "_password", "_passphrase", "_secret", "_token"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// Masks, in place, every secret in a settings tree: secret settings by name, inline PEM
/// private keys anywhere, and passwords inside every string ([`mask_url`]).
fn mask_tree(name: Option<&str>, v: &mut toml::Value) {
    match v {
        toml::Value::String(s) => {
            if (!s.is_empty() && name.is_some_and(is_secret_setting)) || s.contains("PRIVATE KEY") {
                *s = MASK.to_string();
            } else {
                *s = mask_url(s);
            }
        }
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                mask_tree(Some(k), v);
            }
        }
        toml::Value::Array(a) => {
            for v in a.iter_mut() {
                mask_tree(name, v);
            }
        }
        _ => {}
    }
}

impl Settings {
    /// Loads defaults, then `file` (or the file named by `NETRAVEN_CONFIG`), then the
    /// environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Settings> {
        let env_file = std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from);
        let file = file.map(Path::to_path_buf).or(env_file);
        Self::load_from(file.as_deref(), std::env::vars())
    }

    /// [`Settings::load`] with an explicit environment, for tests and embedding.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings> {
        let defaults = config::Config::try_from(&Settings::default())
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut builder = config::Config::builder().add_source(defaults);
        if let Some(path) = file {
            if !path.exists() {
                return Err(Error::Config(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("NETRAVEN__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| Error::Config(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every value a type cannot check; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let fail = |key: &str, why: &str| Err(Error::Config(format!("{key}: {why}")));
        let ns = &self.amqp.namespace;
        if ns.is_empty()
            || ns.len() > 64
            || !ns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return fail(
                "amqp.namespace",
                "must be 1 to 64 characters of letters, digits, '-', '_' or '.'",
            );
        }
        for (key, url, schemes) in [
            (
                "database.url",
                &self.database.url,
                &["postgres", "postgresql"][..],
            ),
            ("amqp.url", &self.amqp.url, &["amqp", "amqps"][..]),
        ] {
            let ok = url
                .split_once("://")
                .is_some_and(|(s, rest)| schemes.contains(&s) && !rest.is_empty());
            if !ok {
                return fail(key, &format!("must be a {}:// URL", schemes[0]));
            }
        }
        self.validate_tls()?;
        let positive = [
            ("database.pool_size", self.database.pool_size as u64),
            ("database.pool_timeout_ms", self.database.pool_timeout_ms),
            (
                "database.connect_timeout_ms",
                self.database.connect_timeout_ms,
            ),
            ("amqp.delivery_limit", u64::from(self.amqp.delivery_limit)),
            ("amqp.publish_window", self.amqp.publish_window as u64),
            ("dispatcher.prefetch", u64::from(self.dispatcher.prefetch)),
            (
                "dispatcher.max_credentials_per_device",
                u64::from(self.dispatcher.max_credentials_per_device),
            ),
            (
                "dispatcher.default_device_deadline_ms",
                self.dispatcher.default_device_deadline_ms,
            ),
            (
                "dispatcher.default_job_deadline_ms",
                self.dispatcher.default_job_deadline_ms,
            ),
            ("worker.max_in_flight", u64::from(self.worker.max_in_flight)),
            ("worker.connect_timeout_ms", self.worker.connect_timeout_ms),
            (
                "worker.handshake_timeout_ms",
                self.worker.handshake_timeout_ms,
            ),
            ("worker.auth_timeout_ms", self.worker.auth_timeout_ms),
            (
                "worker.command_idle_timeout_ms",
                self.worker.command_idle_timeout_ms,
            ),
            ("worker.flush_interval_ms", self.worker.flush_interval_ms),
            (
                "worker.max_output_bytes",
                self.worker.max_output_bytes as u64,
            ),
            (
                "worker.output_allowance_bytes",
                self.worker.output_allowance_bytes as u64,
            ),
            ("worker.large_outputs", u64::from(self.worker.large_outputs)),
            (
                "worker.key_file_poll_interval_ms",
                self.worker.key_file_poll_interval_ms,
            ),
            (
                "worker.key_report_interval_ms",
                self.worker.key_report_interval_ms,
            ),
            (
                "aggregator.batch_size",
                u64::from(self.aggregator.batch_size),
            ),
            (
                "aggregator.sweep_interval_ms",
                self.aggregator.sweep_interval_ms,
            ),
            (
                "aggregator.retention_days",
                u64::from(self.aggregator.retention_days),
            ),
            (
                "aggregator.prune_interval_ms",
                self.aggregator.prune_interval_ms,
            ),
            (
                "aggregator.prune_batch_size",
                u64::from(self.aggregator.prune_batch_size),
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return fail(key, "must be greater than 0");
            }
        }
        for (key, addr) in [
            ("dispatcher.metrics_addr", &self.dispatcher.metrics_addr),
            ("worker.metrics_addr", &self.worker.metrics_addr),
            ("aggregator.metrics_addr", &self.aggregator.metrics_addr),
        ] {
            if !addr.is_empty() && addr.parse::<std::net::SocketAddr>().is_err() {
                return fail(
                    key,
                    "must be host:port (e.g. 127.0.0.1:9464), or empty to disable",
                );
            }
        }
        // Postgres keeps milliseconds; a week between reports is no longer "running".
        if self.worker.key_report_interval_ms > 7 * 24 * 3_600_000 {
            return fail(
                "worker.key_report_interval_ms",
                "must be at most 604800000 (a week)",
            );
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return fail("log.format", "must be \"text\" or \"json\"");
        }
        for (name, submitter) in &self.dispatcher.submitters {
            let key = format!("dispatcher.submitters.{name}");
            if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
                return fail(
                    &key,
                    "a submitter is a broker user name: 1 to 255 characters",
                );
            }
            if submitter.job_types.contains(&JobType::Command)
                == submitter.command_patterns.is_empty()
            {
                return fail(
                    &format!("{key}.command_patterns"),
                    "must list at least one pattern when job_types has \"command\", and none otherwise",
                );
            }
            for (i, pattern) in submitter.command_patterns.iter().enumerate() {
                if let Err(e) = anchored(pattern) {
                    return fail(&format!("{key}.command_patterns[{i}]"), &e.to_string());
                }
            }
        }
        Ok(())
    }

    /// The TLS settings of both links: what an `amqps://` URL needs, no TLS file set for a
    /// plain link (it would be ignored), every file present, libpq's TLS parameters in
    /// `database.url` valid.
    fn validate_tls(&self) -> Result<()> {
        let fail = |key: &str, why: String| Err(Error::Config(format!("{key}: {why}")));
        let amqp = &self.amqp;
        let tls_keys = [
            ("amqp.tls_ca_file", amqp.tls_ca_file.is_some()),
            ("amqp.tls_cert_file", amqp.tls_cert_file.is_some()),
            ("amqp.tls_key_file", amqp.tls_key_file.is_some()),
            ("amqp.tls_server_name", amqp.tls_server_name.is_some()),
        ];
        if amqp.url.starts_with("amqps://") {
            if amqp.tls_ca_file.is_none() {
                return fail(
                    "amqp.tls_ca_file",
                    "must be set for an amqps:// URL: the PEM file of the CA that signed \
                     the broker's certificate (for a public CA, the system bundle such as \
                     /etc/ssl/certs/ca-certificates.crt)"
                        .into(),
                );
            }
        } else if let Some((key, _)) = tls_keys.iter().find(|(_, set)| *set) {
            return fail(
                key,
                "is set but amqp.url is a plain amqp:// URL: use amqps:// for TLS".into(),
            );
        }
        match (&amqp.tls_cert_file, &amqp.tls_key_file) {
            (Some(_), None) => {
                return fail(
                    "amqp.tls_key_file",
                    "must be set with amqp.tls_cert_file".into(),
                )
            }
            (None, Some(_)) => {
                return fail(
                    "amqp.tls_cert_file",
                    "must be set with amqp.tls_key_file".into(),
                )
            }
            _ => {}
        }
        for (key, file) in [
            ("amqp.tls_ca_file", &amqp.tls_ca_file),
            ("amqp.tls_cert_file", &amqp.tls_cert_file),
            ("amqp.tls_key_file", &amqp.tls_key_file),
        ] {
            if let Some(path) = file {
                if !path.is_file() {
                    return fail(key, format!("{} does not exist", path.display()));
                }
            }
        }
        if let Some(name) = &amqp.tls_server_name {
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                return fail(
                    "amqp.tls_server_name",
                    format!("{name:?} is not a DNS name or IP address"),
                );
            }
        }
        let (_, pg) = crate::libpq::split_tls(&self.database.url)
            .map_err(|e| Error::Config(format!("database.url: {e}")))?;
        pg.validate()
            .map_err(|e| Error::Config(format!("database.url: {e}")))
    }

    /// The effective settings as TOML, every secret and every password in a string masked
    /// (by setting name, inline private keys, and [`mask_url`] on every other string).
    pub fn show(&self) -> Result<String> {
        // Every string of the tree, so that a setting added later is masked too.
        let mut tree = toml::Value::try_from(self).map_err(|e| Error::Config(e.to_string()))?;
        mask_tree(None, &mut tree);
        // Back through the typed settings, so they print in their usual order (a tree's
        // tables are sorted); the tree itself when a masked value does not fit its type.
        let shown = match Settings::deserialize(tree.clone()) {
            Ok(masked) => toml::to_string_pretty(&masked),
            Err(_) => toml::to_string_pretty(&tree),
        };
        shown.map_err(|e| Error::Config(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_file_overrides_defaults() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(
            f,
            "[worker]\nmax_in_flight = 64\nconnect_timeout_ms = 1234\n[amqp]\nnamespace = \"file\""
        )
        .expect("write");
        let s = Settings::load_from(
            Some(f.path()),
            env(&[
                ("NETRAVEN__WORKER__MAX_IN_FLIGHT", "32"),
                ("UNRELATED", "x"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.worker.max_in_flight, 32);
        assert_eq!(s.worker.connect_timeout_ms, 1234);
        assert_eq!(s.amqp.namespace, "file");
        assert_eq!(s.aggregator.batch_size, 500);
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let err = Settings::load_from(None, env(&[("NETRAVEN__WORKER__PREFETCHH", "1")]))
            .expect_err("unknown key");
        assert!(err.to_string().contains("prefetchh"), "{err}");
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(f, "[databse]\nurl = \"postgres://x/y\"").expect("write");
        let err = Settings::load_from(Some(f.path()), env(&[])).expect_err("unknown section");
        assert!(err.to_string().contains("databse"), "{err}");
    }

    #[test]
    fn invalid_values_are_errors_that_name_the_key() {
        let err = Settings::load_from(None, env(&[("NETRAVEN__WORKER__MAX_IN_FLIGHT", "0")]))
            .expect_err("zero");
        assert!(err.to_string().contains("worker.max_in_flight"), "{err}");
        let err = Settings::load_from(None, env(&[("NETRAVEN__AMQP__NAMESPACE", "a b")]))
            .expect_err("bad namespace");
        assert!(err.to_string().contains("amqp.namespace"), "{err}");
        let err = Settings::load_from(None, env(&[("NETRAVEN__WORKER__AUTH_TIMEOUT_MS", "soon")]))
            .expect_err("not a number");
        assert!(err.to_string().contains("auth_timeout_ms"), "{err}");
    }

    #[test]
    fn retention_defaults_to_90_days_and_must_be_positive() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(s.aggregator.retention_days, 90);
        assert_eq!(s.aggregator.prune_batch_size, 10_000);
        for key in ["RETENTION_DAYS", "PRUNE_INTERVAL_MS", "PRUNE_BATCH_SIZE"] {
            let var = format!("NETRAVEN__AGGREGATOR__{key}");
            let err = Settings::load_from(None, env(&[(var.as_str(), "0")])).expect_err("zero");
            let name = format!("aggregator.{}", key.to_lowercase());
            assert!(err.to_string().contains(&name), "{err}");
        }
    }

    #[test]
    fn submitters_read_from_toml_and_environment() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(
            f,
            "[dispatcher.submitters.noc-bot]\n\
             job_types = [\"config_backup\", \"command\"]\n\
             command_patterns = [\"show .*\", \"ping [0-9.]+\"]\n\
             weakest_host_key_policy = \"off\"\n\
             [dispatcher.submitters.backup]\n\
             weakest_host_key_policy = \"strict\""
        )
        .expect("write");
        let s = Settings::load_from(
            Some(f.path()),
            env(&[
                (
                    "NETRAVEN__DISPATCHER__SUBMITTERS__ALICE__JOB_TYPES",
                    r#"["command"]"#,
                ),
                (
                    "NETRAVEN__DISPATCHER__SUBMITTERS__ALICE__COMMAND_PATTERNS",
                    r#"["show version", "show ip .*"]"#,
                ),
            ]),
        )
        .expect("loads");
        let subs = &s.dispatcher.submitters;
        let bot = &subs["noc-bot"];
        assert_eq!(bot.job_types, vec![JobType::ConfigBackup, JobType::Command]);
        assert_eq!(bot.weakest_host_key_policy, HostKeyPolicy::Off);
        assert_eq!(
            subs["backup"],
            SubmitterSettings {
                weakest_host_key_policy: HostKeyPolicy::Strict,
                ..SubmitterSettings::default()
            }
        );
        let alice = &subs["alice"];
        assert_eq!(alice.job_types, vec![JobType::Command]);
        assert_eq!(alice.command_patterns, vec!["show version", "show ip .*"]);
        assert_eq!(alice.weakest_host_key_policy, HostKeyPolicy::AcceptNew);
    }

    #[test]
    fn submitter_names_keep_their_case_in_the_file() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(
            f,
            "[dispatcher.submitters.NocBot]\nweakest_host_key_policy = \"strict\""
        )
        .expect("write");
        let s = Settings::load_from(Some(f.path()), env(&[])).expect("loads");
        let names: Vec<&String> = s.dispatcher.submitters.keys().collect();
        assert_eq!(names, vec!["NocBot"]);
    }

    #[test]
    fn bad_submitter_settings_name_the_key() {
        for (var, value, key) in [
            (
                "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__COMMAND_PATTERNS",
                r#"["show (unclosed"]"#,
                "dispatcher.submitters.bob.command_patterns",
            ),
            (
                "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__JOB_TYPES",
                r#"["reboot"]"#,
                "job_types",
            ),
            (
                "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__JOB_TYPES",
                "command",
                "job_types",
            ),
            (
                "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__WEAKEST_HOST_KEY_POLICY",
                "none",
                "weakest_host_key_policy",
            ),
        ] {
            let mut vars = vec![(var, value)];
            if !var.ends_with("JOB_TYPES") {
                vars.push((
                    "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__JOB_TYPES",
                    r#"["command"]"#,
                ));
            }
            let err = Settings::load_from(None, env(&vars)).expect_err("refused");
            assert!(err.to_string().contains(key), "{var}={value}: {err}");
        }
        let err = Settings::load_from(
            None,
            env(&[(
                "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__JOB_TYPES",
                r#"["command"]"#,
            )]),
        )
        .expect_err("command without patterns");
        assert!(
            err.to_string()
                .contains("dispatcher.submitters.bob.command_patterns"),
            "{err}"
        );
    }

    #[test]
    fn command_patterns_match_whole_commands() {
        let show = anchored("show .*").expect("compiles");
        assert!(show.is_match("show running-config"));
        assert!(!show.is_match("reload"));
        assert!(!show.is_match("x; show version"));
        let either = anchored("show version|ping .*").expect("compiles");
        assert!(!either.is_match("show version; reload"));
        assert!(either.is_match("ping 10.0.0.1"));
        // Balanced only inside the anchors' group: it would match anything.
        assert!(anchored("show version)|(.*").is_err());
    }

    #[test]
    fn show_masks_every_secret() {
        let s = Settings::load_from(
            None,
            env(&[
                ("NETRAVEN__SECRETS__KEY", "k1 c2VjcmV0LWtleS1tYXRlcmlhbA=="),
                (
                    "NETRAVEN__DATABASE__URL",
                    "postgres://app:hunter2@db:5432/netraven",
                ),
            ]),
        )
        .expect("loads");
        let shown = s.show().expect("shows");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(!shown.contains("guest:guest"), "{shown}");
        assert!(shown.contains("app:********@db"), "{shown}");
        assert!(shown.contains("metrics_addr"), "{shown}");
    }

    /// `mask_url` hides `secret` and keeps `kept`.
    fn masks(input: &str, secret: &str, kept: &str) {
        let masked = mask_url(input);
        assert!(!masked.contains(secret), "{input} -> {masked}");
        assert!(masked.contains(kept), "{input} -> {masked}: lost {kept}");
        assert!(masked.contains(MASK), "{input} -> {masked}");
    }

    #[test]
    fn mask_url_hides_a_userinfo_password() {
        masks(
            "postgres://app:hunter2@db:5432/netraven",
            "hunter2",
            "postgres://app:********@db:5432/netraven",
        );
        masks(
            "amqp://worker:s3cret@mq:5672/%2f",
            "s3cret",
            "amqp://worker:********@mq:5672/%2f",
        );
        masks(
            "amqps://worker:s3cret@mq.example.net:5671/prod",
            "s3cret",
            "amqps://worker:********@mq.example.net:5671/prod",
        );
    }

    #[test]
    fn mask_url_hides_a_multi_host_password() {
        masks(
            "postgres://app:hunter2@db1:5432,db2:5433/netraven?target_session_attrs=read-write",
            "hunter2",
            "@db1:5432,db2:5433/netraven?target_session_attrs=read-write",
        );
    }

    #[test]
    fn mask_url_hides_percent_encoded_and_awkward_passwords() {
        masks(
            "postgres://app:p%40ss%3Aw0rd@db/netraven",
            "w0rd",
            "app:********@db/netraven",
        );
        masks(
            "postgres://app:p%40ss@db/netraven",
            "p%40ss",
            "@db/netraven",
        );
        // Unencoded `@`, `/` and `?` in a password: every parser's reading is masked.
        masks("postgres://app:p@ss@db/netraven", "ss@db/n", "@db/netraven");
        masks("postgres://app:pa@ss@db/netraven", "pa", "@db/netraven");
        masks("postgres://app:pa/ss@db/netraven", "pa/ss", "@db/netraven");
        masks("amqp://app:pa?ss@mq/%2f", "pa?ss", "@mq/%2f");
    }

    #[test]
    fn mask_url_hides_password_query_parameters() {
        masks(
            "postgres://db/netraven?user=app&password=hunter2&sslmode=verify-full",
            "hunter2",
            "&sslmode=verify-full",
        );
        masks(
            "postgres://db/netraven?password=hunter2",
            "hunter2",
            "postgres://db/netraven?password=",
        );
        masks(
            "postgres://db/netraven?sslpassword=keypass&user=app",
            "keypass",
            "&user=app",
        );
        masks(
            "postgres://db/netraven?pass%77ord=hunter2",
            "hunter2",
            "?pass%77ord=",
        );
        masks("postgres://u:p1@db/n?password=p2", "p2", "u:********@db/n");
        assert!(!mask_url("postgres://u:p1@db/n?password=p2").contains("p1"));
    }

    #[test]
    fn mask_url_hides_libpq_key_value_passwords() {
        masks(
            "host=db user=app password=hunter2 dbname=netraven",
            "hunter2",
            "host=db user=app password=******** dbname=netraven",
        );
        masks(
            "host=db password = hunter2 dbname=netraven",
            "hunter2",
            "dbname=netraven",
        );
        masks(
            "host=db password='two words' dbname=netraven",
            "two words",
            "password='********' dbname=netraven",
        );
        masks(
            r"host=db password='it\'s here' dbname=netraven",
            "s here",
            "dbname=netraven",
        );
        masks("password=hunter2", "hunter2", "password=");
        masks("host=db sslpassword=keypass", "keypass", "host=db");
    }

    #[test]
    fn mask_url_follows_where_libpq_and_tokio_postgres_end_a_password() {
        for (text, secret) in [
            ("host='db'password=hunter2", "hunter2"),
            ("host=db password=ab&cd dbname=n", "cd"),
            ("host=db password=ab\\ cd dbname=n", "cd"),
            ("postgres://db/n?password=ab#cd", "cd"),
            ("amqp://a:one@h1 amqp://b:two@h2", "two"),
        ] {
            let shown = mask_url(text);
            assert!(!shown.contains(secret), "{text} -> {shown}");
        }
        assert_eq!(
            mask_url("amqp://a:one@h1 amqp://b:two@h2"),
            "amqp://a:********@h1 amqp://b:********@h2"
        );
    }

    #[test]
    fn mask_url_leaves_what_has_no_password() {
        for s in [
            "postgres://postgres@127.0.0.1:5432/netraven",
            "amqp://127.0.0.1:5672/%2f",
            "host=db user=app dbname=netraven sslmode=verify-full",
            "/etc/netraven/key/secret.key",
            "info,netraven_worker=debug",
        ] {
            assert_eq!(mask_url(s), s);
        }
    }

    #[test]
    fn show_masks_passwords_in_every_url_and_inline_key() {
        // An amqps:// URL needs a CA file that exists (validated at start-up).
        let ca = tempfile::NamedTempFile::new().expect("temp file");
        let ca_path = ca.path().display().to_string();
        let s = Settings::load_from(
            None,
            env(&[
                ("NETRAVEN__AMQP__TLS_CA_FILE", ca_path.as_str()),
                (
                    "NETRAVEN__DATABASE__URL",
                    "postgres://app@db1,db2/n?sslmode=require&password=p%20g",
                ),
                (
                    "NETRAVEN__AMQP__URL",
                    "amqps://dispatcher:b%40nny@mq1:5671/prod?heartbeat=10",
                ),
                ("NETRAVEN__SECRETS__KEY", "k1 c2VjcmV0LWtleS1tYXRlcmlhbA=="),
            ]),
        )
        .expect("loads");
        let shown = s.show().expect("shows");
        for secret in ["p%20g", "b%40nny", "c2VjcmV0"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("amqps://dispatcher:********@mq1:5671/prod?heartbeat=10"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://app@db1,db2/n?sslmode=require&password=********"),
            "{shown}"
        );
        // Still TOML, every section there, in the settings' order.
        assert!(shown.starts_with("[database]"), "{shown}");
        let back: toml::Table = toml::from_str(&shown).expect("TOML");
        for section in [
            "database",
            "amqp",
            "secrets",
            "dispatcher",
            "worker",
            "aggregator",
        ] {
            assert!(back.contains_key(section), "no {section} in {shown}");
        }
    }

    #[test]
    fn mask_tree_hides_settings_named_as_secrets_and_inline_private_keys() {
        let mut tree: toml::Value = toml::from_str(
            "[tls]\nclient_key = \"MC4CAQAwBQYDK2VwBCIEI\"\nclient_key_file = \"/etc/k.pem\"\n\
             ca = \"-----BEGIN PRIVATE KEY-----\\nMC4C\\n-----END PRIVATE KEY-----\"\n\
             [x]\ntoken = \"t0k\"\nbroker_password = \"pw\"\nurls = [\"amqp://u:pw2@h/\"]\n",
        )
        .expect("TOML");
        mask_tree(None, &mut tree);
        let shown = toml::to_string(&tree).expect("TOML");
        for secret in ["MC4C", "t0k", "\"pw\"", "pw2"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("/etc/k.pem"), "{shown}");
        assert!(shown.contains("amqp://u:********@h/"), "{shown}");
    }
}
