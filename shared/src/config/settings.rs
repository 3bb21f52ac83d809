//! The whole settings tree and how it loads: defaults → a TOML file → `NETRAVEN__*` variables.

use super::aggregator::AggregatorSettings;
use super::amqp::AmqpSettings;
use super::api::ApiSettings;
use super::database::DatabaseSettings;
use super::dispatcher::DispatcherSettings;
use super::health::HealthSettings;
use super::logging::LogSettings;
use super::mask::mask_tree;
use super::secrets::{SecretSettings, SigningSettings};
use super::worker::WorkerSettings;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
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
    pub api: ApiSettings,
    pub health: HealthSettings,
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
        let defaults = config::Config::try_from(&Settings::default())?;
        let mut builder = config::Config::builder().add_source(defaults);
        if let Some(path) = file {
            if !path.exists() {
                return Err(Error::ConfigFileMissing(path.to_path_buf()));
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
        let settings: Settings = builder.build().and_then(|c| c.try_deserialize())?;
        settings.validate()?;
        Ok(settings)
    }

    /// The effective settings as TOML, every secret and every password in a string masked
    /// (by setting name, inline private keys, and [`mask_url`](super::mask_url) on every other string).
    pub fn show(&self) -> Result<String> {
        // Every string of the tree, so that a setting added later is masked too.
        let mut tree = toml::Value::try_from(self)?;
        mask_tree(None, &mut tree);
        // Back through the typed settings, so they print in their usual order (a tree's
        // tables are sorted); the tree itself when a masked value does not fit its type.
        let shown = match Settings::deserialize(tree.clone()) {
            Ok(masked) => toml::to_string_pretty(&masked),
            Err(_) => toml::to_string_pretty(&tree),
        };
        Ok(shown?)
    }
}
