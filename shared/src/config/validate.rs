//! The checks no type can make: ranges, URL schemes, TLS files, submitter rules.

use super::aggregator::MAX_RETENTION_DAYS;
use super::deadlines::DeadlineFit;
use super::dispatcher::anchored;
use super::settings::Settings;
use crate::domain::JobType;
use crate::{Error, Result};

impl Settings {
    /// Checks every value a type cannot check; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let fail = |key: &str, why: &str| Err(Error::setting(key, why));
        self.health.validate()?;
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
        self.validate_broker_addresses()?;
        self.validate_api()?;
        self.validate_tls()?;
        let positive = [
            ("database.pool_size", self.database.pool_size as u64),
            ("database.pool_timeout_ms", self.database.pool_timeout_ms),
            (
                "database.connect_timeout_ms",
                self.database.connect_timeout_ms,
            ),
            (
                "database.response_timeout_ms",
                self.database.response_timeout_ms,
            ),
            ("amqp.delivery_limit", u64::from(self.amqp.delivery_limit)),
            ("amqp.publish_window", self.amqp.publish_window as u64),
            ("amqp.confirm_timeout_ms", self.amqp.confirm_timeout_ms),
            ("amqp.consumer_timeout_ms", self.amqp.consumer_timeout_ms),
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
            (
                "dispatcher.schedule_poll_ms",
                self.dispatcher.schedule_poll_ms,
            ),
            (
                "dispatcher.retry_backoff_ms",
                self.dispatcher.retry_backoff_ms,
            ),
            ("dispatcher.retry_poll_ms", self.dispatcher.retry_poll_ms),
            (
                "api.default_page_size",
                u64::from(self.api.default_page_size),
            ),
            ("api.reply_timeout_ms", self.api.reply_timeout_ms),
            ("worker.max_in_flight", u64::from(self.worker.max_in_flight)),
            (
                "worker.interactive_in_flight",
                u64::from(self.worker.interactive_in_flight),
            ),
            (
                "dispatcher.max_high_priority_devices",
                u64::from(self.dispatcher.max_high_priority_devices),
            ),
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
                "aggregator.config_retention_versions",
                u64::from(self.aggregator.config_retention_versions),
            ),
            (
                "aggregator.config_retention_days",
                u64::from(self.aggregator.config_retention_days),
            ),
            (
                "aggregator.prune_interval_ms",
                self.aggregator.prune_interval_ms,
            ),
            (
                "aggregator.prune_batch_size",
                u64::from(self.aggregator.prune_batch_size),
            ),
            (
                "aggregator.freshness_interval_ms",
                self.aggregator.freshness_interval_ms,
            ),
            (
                "aggregator.backup_stale_after_ms",
                self.aggregator.backup_stale_after_ms,
            ),
            (
                "aggregator.freshness_max_tags",
                u64::from(self.aggregator.freshness_max_tags),
            ),
            (
                "aggregator.freshness_max_schedules",
                u64::from(self.aggregator.freshness_max_schedules),
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return fail(key, "must be greater than 0");
            }
        }
        if self.dispatcher.max_retries > crate::messages::MAX_RETRIES {
            return fail(
                "dispatcher.max_retries",
                &format!("must be 0 to {}", crate::messages::MAX_RETRIES),
            );
        }
        for (key, days) in [
            ("aggregator.retention_days", self.aggregator.retention_days),
            (
                "aggregator.config_retention_days",
                self.aggregator.config_retention_days,
            ),
        ] {
            if days > MAX_RETENTION_DAYS {
                return fail(
                    key,
                    &format!("must be at most {MAX_RETENTION_DAYS} (100 years)"),
                );
            }
        }
        // Past this the stale cutoff leaves the calendar Postgres can store.
        let max_stale_ms = u64::from(MAX_RETENTION_DAYS) * 86_400_000;
        if self.aggregator.backup_stale_after_ms > max_stale_ms {
            return fail(
                "aggregator.backup_stale_after_ms",
                &format!("must be at most {max_stale_ms} (100 years)"),
            );
        }
        // The interactive lane takes small jobs only: a size cap above the cap of high
        // jobs would make it a second bulk lane.
        if self.dispatcher.interactive_max_devices > self.dispatcher.max_high_priority_devices {
            return fail(
                "dispatcher.interactive_max_devices",
                "must be at most dispatcher.max_high_priority_devices",
            );
        }
        let db = &self.database;
        if db.statement_timeout_ms != 0 && db.response_timeout_ms <= db.statement_timeout_ms {
            return fail(
                "database.response_timeout_ms",
                "must be above database.statement_timeout_ms (a slow statement is the server's to cancel)",
            );
        }
        // A default deadline past the broker's consumer timeout would make every job that
        // does not set its own refused: better to say so at start.
        if let Err(why) = DeadlineFit::of(self).check(self.dispatcher.default_device_deadline_ms) {
            return fail("dispatcher.default_device_deadline_ms", &why);
        }
        for (key, addr) in [
            ("dispatcher.metrics_addr", &self.dispatcher.metrics_addr),
            ("worker.metrics_addr", &self.worker.metrics_addr),
            ("aggregator.metrics_addr", &self.aggregator.metrics_addr),
            ("api.metrics_addr", &self.api.metrics_addr),
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

    /// `amqp.urls`: nodes of the cluster `amqp.url` names, reached the same way (scheme)
    /// as the same user in the same virtual host, or roles would change identity (the
    /// `user_id` of what they publish) with the node they reach.
    fn validate_broker_addresses(&self) -> Result<()> {
        let parse = |u: &str| u.parse::<lapin::uri::AMQPUri>();
        let first = parse(&self.amqp.url).map_err(|e| Error::setting("amqp.url", e))?;
        let scheme = self.amqp.url.split_once("://").map(|(s, _)| s);
        for url in &self.amqp.urls {
            let masked = super::mask_url(url);
            let other =
                parse(url).map_err(|e| Error::setting("amqp.urls", format!("{masked}: {e}")))?;
            if url.split_once("://").map(|(s, _)| s) != scheme
                || other.authority.userinfo.username != first.authority.userinfo.username
                || other.vhost != first.vhost
            {
                return Err(Error::setting(
                    "amqp.urls",
                    format!("{masked}: must have amqp.url's scheme, user and virtual host"),
                ));
            }
        }
        Ok(())
    }

    /// The TLS settings of both links: what an `amqps://` URL needs, no TLS file set for a
    /// plain link (it would be ignored), every file present, libpq's TLS parameters in
    /// `database.url` valid.
    fn validate_tls(&self) -> Result<()> {
        let fail = |key: &str, why: String| Err(Error::setting(key, why));
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
            .map_err(|e| Error::setting("database.url", e))?;
        pg.validate().map_err(|e| Error::setting("database.url", e))
    }
}

impl Settings {
    /// `[api]`: a page limit that holds the default page, and native TLS only as a pair.
    fn validate_api(&self) -> Result<()> {
        let api = &self.api;
        if api.max_page_size < api.default_page_size {
            return Err(Error::setting(
                "api.max_page_size",
                "must be at least api.default_page_size",
            ));
        }
        if api.tls_cert_file.is_some() != api.tls_key_file.is_some() {
            return Err(Error::setting(
                "api.tls_cert_file",
                "native TLS needs both api.tls_cert_file and api.tls_key_file (or neither, \
                 for TLS terminated in front of the role)",
            ));
        }
        Ok(())
    }
}
