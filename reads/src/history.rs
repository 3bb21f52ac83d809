//! The SQL of the configuration history and command outputs: `device configs`, `device
//! config`, `device diff`, `config grep`, `job outputs` and `job show`'s change counts.

use anyhow::{Context, Result};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use deadpool_postgres::tokio_postgres::error::SqlState;
use deadpool_postgres::tokio_postgres::Row;
use serde::Serialize;
use uuid::Uuid;

type Client = deadpool_postgres::Client;

/// A version that is not there: no version N, none at a time, no configuration at all.
/// `netraven` exits with [`crate::exit::Exit::Missing`] for it.
#[derive(Debug)]
pub struct Missing(pub String);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Missing {}

/// Which version of a device: a number, the latest, or the one the device had at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    Number(i32),
    Latest,
    At(DateTime<Utc>),
}

impl VersionRef {
    /// `7`, `latest`, or an RFC 3339 time.
    pub fn parse(s: &str) -> Result<VersionRef, String> {
        if s.eq_ignore_ascii_case("latest") {
            return Ok(VersionRef::Latest);
        }
        match s.parse::<i32>() {
            Ok(n) if n > 0 => Ok(VersionRef::Number(n)),
            Ok(_) => Err("versions are numbered from 1".into()),
            Err(_) => parse_time(s)
                .map(VersionRef::At)
                .map_err(|e| format!("neither a version number nor a time: {e}")),
        }
    }
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionRef::Number(n) => write!(f, "version {n}"),
            VersionRef::Latest => f.write_str("latest version"),
            VersionRef::At(t) => write!(f, "version at {}", t.to_rfc3339()),
        }
    }
}

/// An RFC 3339 time (`2026-11-30T22:00:00Z`, `2026-11-30 23:00:00+01:00`).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time (2026-11-30T22:00:00Z): {e}"))
}

/// One configuration version, without its text.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub version: i32,
    pub sha256: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The job that stored it.
    pub first_job_id: Option<Uuid>,
    /// The last job that found it unchanged (or stored it).
    pub last_job_id: Option<Uuid>,
    pub size_bytes: i32,
    /// Against the version before; `null` for the device's first version.
    pub lines_added: Option<i32>,
    pub lines_removed: Option<i32>,
}

const VERSION_COLUMNS: &str = "version, sha256, first_seen_at, last_seen_at, first_job_id, \
     last_job_id, size_bytes, lines_added, lines_removed";

impl Version {
    fn from_row(r: &Row) -> Version {
        Version {
            version: r.get("version"),
            sha256: r.get("sha256"),
            first_seen_at: r.get("first_seen_at"),
            last_seen_at: r.get("last_seen_at"),
            first_job_id: r.get("first_job_id"),
            last_job_id: r.get("last_job_id"),
            size_bytes: r.get("size_bytes"),
            lines_added: r.get("lines_added"),
            lines_removed: r.get("lines_removed"),
        }
    }
}

/// `netraven device configs --json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeviceVersions {
    pub device: String,
    /// Newest first.
    pub versions: Vec<Version>,
}

/// One version with its text: `netraven device config --json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionText {
    pub device: String,
    #[serde(flatten)]
    pub meta: Version,
    /// The configuration as text; where the device sent a NUL or bytes that are not UTF-8,
    /// U+FFFD stands in, and `content_base64` holds the exact bytes.
    pub content: String,
    #[serde(serialize_with = "as_base64")]
    #[schema(value_type = Option<String>, format = Byte)]
    pub content_base64: Option<Vec<u8>>,
}

impl VersionText {
    /// The exact bytes the device sent.
    pub fn bytes(&self) -> &[u8] {
        self.content_base64
            .as_deref()
            .unwrap_or(self.content.as_bytes())
    }
}

fn as_base64<S: serde::Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
        None => s.serialize_none(),
    }
}

/// The device's id, or an error naming it.
pub async fn device_id(client: &Client, name: &str) -> Result<i64> {
    client
        .query_opt("SELECT id FROM devices WHERE name = $1", &[&name])
        .await
        .context("cannot read the device")?
        .map(|r| r.get(0))
        .ok_or_else(|| crate::NotFound(format!("no device named {name:?}")).into())
}

/// Every version of the device, newest first.
pub async fn versions(client: &Client, name: &str) -> Result<DeviceVersions> {
    let id = device_id(client, name).await?;
    let rows = client
        .query(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM device_configs WHERE device_id = $1
                 ORDER BY version DESC"
            ),
            &[&id],
        )
        .await
        .context("cannot read the device's configuration versions")?;
    Ok(DeviceVersions {
        device: name.to_string(),
        versions: rows.iter().map(Version::from_row).collect(),
    })
}

/// One version of the named device, with its text.
pub async fn version(client: &Client, name: &str, which: VersionRef) -> Result<VersionText> {
    let id = device_id(client, name).await?;
    version_of(client, id, name, which).await
}

/// One version of the device `id` (called `name`), with its text.
pub async fn version_of(
    client: &Client,
    id: i64,
    name: &str,
    which: VersionRef,
) -> Result<VersionText> {
    let select = format!("SELECT {VERSION_COLUMNS}, content, content_bytes FROM device_configs");
    let row = match which {
        VersionRef::Number(n) => {
            let sql = format!("{select} WHERE device_id = $1 AND version = $2");
            client.query_opt(&sql, &[&id, &n]).await
        }
        VersionRef::Latest => {
            let sql = format!("{select} WHERE device_id = $1 ORDER BY version DESC LIMIT 1");
            client.query_opt(&sql, &[&id]).await
        }
        VersionRef::At(t) => {
            let sql = format!(
                "{select} WHERE device_id = $1 AND first_seen_at <= $2
                 ORDER BY version DESC LIMIT 1"
            );
            client.query_opt(&sql, &[&id, &t]).await
        }
    }
    .context("cannot read the configuration version")?;
    let row = row.ok_or_else(|| {
        Missing(match which {
            VersionRef::Latest => format!("{name:?} has no configuration stored yet"),
            other => format!("{name:?} has no {other}"),
        })
    })?;
    Ok(VersionText {
        device: name.to_string(),
        meta: Version::from_row(&row),
        content: row.get("content"),
        content_base64: row.get("content_bytes"),
    })
}

/// The device's newest version numbered below `n`, if any.
pub async fn version_before(client: &Client, id: i64, n: i32) -> Result<Option<i32>> {
    Ok(client
        .query_one(
            "SELECT max(version) FROM device_configs WHERE device_id = $1 AND version < $2",
            &[&id, &n],
        )
        .await
        .context("cannot read the device's configuration versions")?
        .get(0))
}

/// A device whose latest configuration matched, with its matching lines.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrepDevice {
    pub device: String,
    pub version: i32,
    pub sha256: String,
    pub lines: Vec<GrepLine>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrepLine {
    /// From 1.
    pub number: i64,
    pub text: String,
}

/// The devices (with any of `tags`, or all when none) whose latest configuration has a
/// line matching `pattern`, by name. Postgres matches, newline-sensitive (`^` and `$` at
/// each line's ends, `.` never a newline), so only the matching lines leave the server.
pub async fn grep(
    client: &Client,
    pattern: &str,
    tags: &[String],
    ignore_case: bool,
) -> Result<Vec<GrepDevice>> {
    let flags = if ignore_case { "ni" } else { "n" };
    let rows = client
        .query(
            "SELECT d.name, c.version, c.sha256, l.n, l.line
             FROM devices d
             CROSS JOIN LATERAL (
                 SELECT version, sha256, content FROM device_configs
                 WHERE device_id = d.id ORDER BY version DESC LIMIT 1
             ) c
             CROSS JOIN LATERAL regexp_split_to_table(c.content, E'\\n')
                 WITH ORDINALITY AS l(line, n)
             WHERE (cardinality($2::text[]) = 0 OR EXISTS (
                       SELECT 1 FROM device_tags dt JOIN tags t ON t.id = dt.tag_id
                       WHERE dt.device_id = d.id AND t.name = ANY($2)))
               AND regexp_like(c.content, $1, $3)
               AND regexp_like(l.line, $1, $3)
             ORDER BY d.name, l.n",
            &[&pattern, &tags, &flags],
        )
        .await
        .map_err(|e| match e.code() {
            Some(c) if *c == SqlState::INVALID_REGULAR_EXPRESSION => anyhow::anyhow!(
                "not a regular expression Postgres accepts: {pattern:?}: {}",
                e.as_db_error()
                    .map_or(String::new(), |d| d.message().into())
            ),
            _ => anyhow::Error::new(e).context("cannot search the configurations"),
        })?;
    let mut out: Vec<GrepDevice> = Vec::new();
    for r in &rows {
        let name: String = r.get(0);
        if out.last().is_none_or(|d| d.device != name) {
            out.push(GrepDevice {
                device: name,
                version: r.get(1),
                sha256: r.get(2),
                lines: Vec::new(),
            });
        }
        if let Some(d) = out.last_mut() {
            d.lines.push(GrepLine {
                number: r.get(3),
                text: r.get(4),
            });
        }
    }
    Ok(out)
}

/// What one device answered to one command of a `command` job.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommandOutput {
    pub device: String,
    /// From 0, in the order the commands ran.
    pub seq: i16,
    pub command: String,
    pub exit_status: Option<i32>,
    /// The output as text; U+FFFD where the device sent a NUL or bytes that are not
    /// UTF-8, and then `output_base64` holds the exact bytes.
    pub output: String,
    #[serde(serialize_with = "as_base64")]
    pub output_base64: Option<Vec<u8>>,
    pub recorded_at: DateTime<Utc>,
}

/// The job's command outputs (of one device when named), by device and command order.
pub async fn command_outputs(
    client: &Client,
    job_id: Uuid,
    device: Option<&str>,
) -> Result<Vec<CommandOutput>> {
    let job = client
        .query_opt("SELECT 1 FROM jobs WHERE id = $1", &[&job_id])
        .await
        .context("cannot read the job")?;
    if job.is_none() {
        return Err(crate::NotFound(format!("no job {job_id}")).into());
    }
    let rows = client
        .query(
            "SELECT coalesce(r.device_name, d.name, '#' || o.device_id) AS device, o.seq,
                    o.command, o.exit_status, o.output, o.output_bytes, o.recorded_at
             FROM command_outputs o
             LEFT JOIN job_results r ON r.job_id = o.job_id AND r.device_id = o.device_id
             LEFT JOIN devices d ON d.id = o.device_id
             WHERE o.job_id = $1
               AND ($2::text IS NULL OR coalesce(r.device_name, d.name) = $2)
             ORDER BY 1, o.seq",
            &[&job_id, &device],
        )
        .await
        .context("cannot read the job's command outputs")?;
    Ok(rows
        .iter()
        .map(|r| CommandOutput {
            device: r.get("device"),
            seq: r.get("seq"),
            command: r.get("command"),
            exit_status: r.get("exit_status"),
            output: r.get("output"),
            output_base64: r.get("output_bytes"),
            recorded_at: r.get("recorded_at"),
        })
        .collect())
}

/// Whether device `name` is one of job `job_id`'s (it has a result, or a task sent).
pub async fn job_has_device(client: &Client, job_id: Uuid, name: &str) -> Result<bool> {
    let row = client
        .query_opt(
            "SELECT 1 FROM job_results WHERE job_id = $1 AND device_name = $2",
            &[&job_id, &name],
        )
        .await
        .context("cannot read the job's devices")?;
    Ok(row.is_some())
}

/// What a job's backups did to the devices' histories.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ConfigChanges {
    /// A device's first version.
    pub new: i64,
    /// A new version.
    pub changed: i64,
    /// The latest version seen again.
    pub unchanged: i64,
}

/// Devices per `job_results.config_change` of the job.
pub async fn config_changes(client: &Client, job_id: Uuid) -> Result<ConfigChanges> {
    let rows = client
        .query(
            "SELECT config_change, count(*) FROM job_results
             WHERE job_id = $1 AND config_change IS NOT NULL GROUP BY config_change",
            &[&job_id],
        )
        .await
        .context("cannot count the job's configuration changes")?;
    let mut c = ConfigChanges::default();
    for r in &rows {
        let n: i64 = r.get(1);
        match r.get::<_, &str>(0) {
            "NEW" => c.new = n,
            "CHANGED" => c.changed = n,
            _ => c.unchanged = n,
        }
    }
    Ok(c)
}
