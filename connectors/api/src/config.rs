//! Connector account configuration: plain settings and secrets, resolved by the core.

use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

/// One connector account's configuration, as the core hands it to a [`crate::Factory`].
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// Connector account id, e.g. `vnpay-main`.
    pub id: String,
    /// Name shown to payers.
    pub display_name: String,
    /// Plain settings (merchant codes, base URLs).
    pub settings: BTreeMap<String, String>,
    /// Secrets (hash keys), already read from the environment or files. Redacted in Debug.
    pub secrets: BTreeMap<String, SecretString>,
}

/// A required setting is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("connector {connector}: missing setting `{key}`")]
    Missing { connector: String, key: String },
    #[error("connector {connector}: setting `{key}` is invalid: {reason}")]
    Invalid { connector: String, key: String, reason: String },
}

impl ConnectorConfig {
    /// A config with no settings, for tests.
    pub fn new(id: &str, display_name: &str) -> Self {
        Self { id: id.into(), display_name: display_name.into(), settings: BTreeMap::new(), secrets: BTreeMap::new() }
    }
    /// Adds a setting (builder style, for tests and the sandbox defaults).
    pub fn with_setting(mut self, key: &str, value: &str) -> Self {
        self.settings.insert(key.into(), value.into());
        self
    }
    /// Adds a secret (builder style).
    pub fn with_secret(mut self, key: &str, value: &str) -> Self {
        self.secrets.insert(key.into(), SecretString::from(value.to_owned()));
        self
    }
    /// A required plain setting.
    pub fn setting(&self, key: &str) -> Result<&str, ConfigError> {
        self.settings
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError::Missing { connector: self.id.clone(), key: key.into() })
    }
    /// An optional plain setting.
    pub fn setting_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.settings.get(key).map(String::as_str).unwrap_or(default)
    }
    /// A required secret's bytes; keep the result out of logs.
    pub fn secret(&self, key: &str) -> Result<SecretString, ConfigError> {
        self.secrets
            .get(key)
            .filter(|v| !v.expose_secret().is_empty())
            .cloned()
            .ok_or_else(|| ConfigError::Missing { connector: self.id.clone(), key: key.into() })
    }
    /// An invalid-setting error for `key`.
    pub fn invalid(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { connector: self.id.clone(), key: key.into(), reason: reason.into() }
    }
}
