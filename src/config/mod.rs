//! Settings: `config/default.toml` (built in), then an optional `--config` file,
//! then environment variables named after each key in upper case.
//!
//! Every value is parsed into its type here, so the rest of the service never
//! sees a malformed address, URL or duration. Secrets are `SecretString`s: their
//! `Debug` output is redacted, so `Settings` can be logged whole.

use std::{fmt, net::SocketAddr, path::Path, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// The documented defaults; also the list of keys environment variables may set.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub bind_addr: SocketAddr,
    #[serde(deserialize_with = "optional_socket_addr")]
    pub internal_bind_addr: Option<SocketAddr>,
    pub log_format: LogFormat,
    pub request_body_limit_bytes: usize,
    #[serde(deserialize_with = "millis")]
    pub request_timeout_ms: Duration,
    #[serde(deserialize_with = "millis")]
    pub header_read_timeout_ms: Duration,
    #[serde(deserialize_with = "millis")]
    pub keep_alive_timeout_ms: Duration,
    pub max_connections: usize,
    pub max_requests_in_flight: usize,
    #[serde(deserialize_with = "millis")]
    pub shutdown_grace_ms: Duration,
    pub dev_dir: std::path::PathBuf,
    pub spool_dir: std::path::PathBuf,
    pub spool_max_bytes: u64,

    #[serde(deserialize_with = "domain_list")]
    pub tls_domains: Vec<String>,
    #[serde(deserialize_with = "optional_text")]
    pub acme_email: Option<String>,
    #[serde(deserialize_with = "https_url")]
    pub acme_directory_url: Url,
    #[serde(deserialize_with = "optional_path")]
    pub acme_ca_file: Option<std::path::PathBuf>,
    pub acme_challenge: AcmeChallenge,
    #[serde(deserialize_with = "optional_path")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    #[serde(deserialize_with = "optional_path")]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// Opened only with HTTPS on.
    #[serde(deserialize_with = "optional_socket_addr")]
    pub http_bind_addr: Option<SocketAddr>,
    pub tls_reload_seconds: u64,

    pub database_url: DatabaseUrl,
    pub event_retention_days: u32,
    pub event_row_retention_days: u32,
    pub auto_migrate: bool,

    #[serde(deserialize_with = "optional_digits")]
    pub kakao_app_id: Option<String>,
    #[serde(deserialize_with = "optional_secret")]
    pub kakao_rest_api_key: Option<SecretString>,
    #[serde(deserialize_with = "optional_secret")]
    pub kakao_admin_key: Option<SecretString>,
    #[serde(deserialize_with = "optional_secret")]
    pub kakao_admin_key_previous: Option<SecretString>,
    #[serde(deserialize_with = "kakao_url")]
    pub kakao_issuer: Url,
    #[serde(deserialize_with = "optional_kakao_url")]
    pub kakao_jwks_url: Option<Url>,
    #[serde(deserialize_with = "millis")]
    pub kakao_jwks_timeout_ms: Duration,
    #[serde(deserialize_with = "millis")]
    pub kakao_jwks_refetch_cooldown_ms: Duration,
    pub kakao_profile_refresh: bool,
    #[serde(deserialize_with = "kakao_url")]
    pub kakao_api_base_url: Url,
    #[serde(deserialize_with = "optional_secret")]
    pub internal_api_token: Option<SecretString>,
    #[serde(deserialize_with = "optional_secret")]
    pub internal_api_token_previous: Option<SecretString>,
    pub internal_api_public: bool,
    #[serde(deserialize_with = "time_zone")]
    pub console_time_zone: jiff::tz::TimeZone,
    #[serde(deserialize_with = "ip_networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    #[serde(deserialize_with = "source_ips")]
    pub kakao_source_ips: SourceIps,
    pub auth_failures_per_minute: u32,
    pub auth_lockout_seconds: u64,

    #[serde(deserialize_with = "optional_secret")]
    pub kakao_bot_token: Option<SecretString>,
    #[serde(deserialize_with = "header_name")]
    pub kakao_bot_webhook_header: axum::http::HeaderName,
    #[serde(deserialize_with = "optional_secret")]
    pub kakao_bot_webhook_secret: Option<SecretString>,
    #[serde(deserialize_with = "optional_secret")]
    pub kakao_bot_webhook_secret_previous: Option<SecretString>,
    #[serde(deserialize_with = "millis")]
    pub kakao_bot_handler_deadline_ms: Duration,
    #[serde(deserialize_with = "bot_commands")]
    pub kakao_bot_commands: Vec<BotCommand>,
    pub kakao_bot_gateway: bool,
    pub kakao_bot_allow_any_caller: bool,
    #[serde(deserialize_with = "gateway_url")]
    pub kakao_bot_gateway_url: Url,

    #[serde(deserialize_with = "optional_secret")]
    pub skill_secret: Option<SecretString>,
    #[serde(deserialize_with = "optional_secret")]
    pub skill_secret_previous: Option<SecretString>,
    #[serde(deserialize_with = "header_name")]
    pub skill_secret_header: axum::http::HeaderName,
    pub skill_allow_any_caller: bool,
    pub skill_max_in_flight: usize,
    #[serde(deserialize_with = "millis")]
    pub skill_sync_budget_ms: Duration,
    #[serde(deserialize_with = "required_text")]
    pub skill_fallback_text: String,
    #[serde(deserialize_with = "required_text")]
    pub skill_callback_waiting_text: String,
    #[serde(deserialize_with = "millis")]
    pub skill_callback_deadline_ms: Duration,
    #[serde(deserialize_with = "millis")]
    pub skill_callback_timeout_ms: Duration,
    #[serde(deserialize_with = "millis_or_zero")]
    pub skill_callback_min_delay_ms: Duration,
    #[serde(deserialize_with = "host_patterns")]
    pub skill_callback_hosts: Vec<HostPattern>,
    pub skill_callback_allow_http: bool,

    #[serde(deserialize_with = "optional_signing_secret")]
    pub app_signing_secret: Option<crate::config::SigningSecret>,
    #[serde(deserialize_with = "optional_app_url")]
    pub app_notify_url: Option<Url>,
    #[serde(deserialize_with = "millis")]
    pub app_notify_timeout_ms: Duration,
    #[serde(deserialize_with = "millis_list")]
    pub app_notify_retry_schedule_ms: Vec<Duration>,
    pub app_notify_pause_after_seconds: u64,
    pub app_notify_max_per_second: u32,
    #[serde(deserialize_with = "optional_stream_url")]
    pub event_stream_url: Option<StreamUrl>,
    pub event_stream_create: bool,
    pub event_stream_maxlen: u64,
    #[serde(deserialize_with = "optional_app_url")]
    pub skill_upstream_url: Option<Url>,
    #[serde(deserialize_with = "optional_app_url")]
    pub kakao_bot_upstream_url: Option<Url>,

    #[serde(deserialize_with = "optional_app_url")]
    pub alert_webhook_url: Option<Url>,
    pub alert_failure_ratio: f64,
    pub alert_window_seconds: u64,
    pub alert_min_deliveries: u64,

    /// One line for each environment variable with our prefixes that is not
    /// a setting: logged as a warning at start-up.
    #[serde(skip)]
    pub environment_warnings: Vec<String>,
}

/// A setting that could not be read; its `Display` is the one line printed at start-up.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct ConfigError {
    /// The environment variable's name, which is also the key in upper case.
    pub setting: String,
    pub reason: String,
}

impl ConfigError {
    fn new(setting: &str, reason: impl fmt::Display) -> Self {
        Self {
            setting: setting.to_ascii_uppercase(),
            reason: reason.to_string(),
        }
    }
}

impl Settings {
    /// Reads defaults, the optional file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        let warnings = environment::check(names.iter().map(String::as_str), &known_keys())?;
        let mut settings = Self::from_figment(Self::figment(file, Env::raw()))?;
        settings.environment_warnings = warnings;
        Ok(settings)
    }

    /// Like [`Settings::load`] with `vars` in place of the process environment
    /// (for tests and embedding).
    pub fn from_vars<'a>(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let vars: Vec<(&str, &str)> = vars.into_iter().collect();
        let warnings = environment::check(vars.iter().map(|(key, _)| *key), &known_keys())?;
        let mut figment = Self::figment(file, Env::raw().only(&[] as &[&str]));
        for (key, value) in vars {
            let key = key.to_ascii_lowercase();
            if default_keys().any(|known| known == key) {
                // Parsed as `Env` parses values, so both paths behave alike.
                let value: figment::value::Value = value.parse().expect("infallible");
                figment = figment.merge((key, value));
            }
        }
        let mut settings = Self::from_figment(figment)?;
        settings.environment_warnings = warnings;
        Ok(settings)
    }

    fn figment(file: Option<&Path>, env: Env) -> Figment {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only keys the defaults document: PATH or HOME must never become settings.
        let known: Vec<String> = default_keys().map(str::to_owned).collect();
        figment.merge(env.filter(move |key| known.iter().any(|k| key == k.as_str())))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let mut settings: Settings = figment.extract().map_err(|err| {
            let setting = err.path.last().cloned().unwrap_or_else(|| "config".into());
            ConfigError::new(&setting, err.kind)
        })?;
        // With HTTPS on, an unset BIND_ADDR means the HTTPS port.
        if settings.tls_enabled() && !is_set(&figment, "bind_addr") {
            settings.bind_addr = SocketAddr::from(([0, 0, 0, 0], 443));
        }
        if !settings.tls_enabled() && is_set(&figment, "http_bind_addr") {
            return Err(ConfigError::new(
                "http_bind_addr",
                "is only opened with HTTPS on: set TLS_DOMAINS or TLS_CERT_FILE, or unset HTTP_BIND_ADDR",
            ));
        }
        settings.validate()?;
        settings.validate_tls()?;
        settings.validate_notify()?;
        Ok(settings)
    }

    /// Whether the service serves HTTPS (ACME or its own certificate).
    pub fn tls_enabled(&self) -> bool {
        !self.tls_domains.is_empty() || self.tls_cert_file.is_some()
    }

    /// The buckets deliveries are tallied in for the alerts: the widest of
    /// 1, 2, 5, 10, 15, 20, 30 or 60 s that fits ten times in the window, so
    /// a window is judged to a tenth and a minute holds whole buckets.
    pub fn tally_bucket(&self) -> Duration {
        let tenth = self.alert_window_seconds / 10;
        let secs = [60, 30, 20, 15, 10, 5, 2]
            .into_iter()
            .find(|width| *width <= tenth)
            .unwrap_or(1);
        Duration::from_secs(secs)
    }

    pub fn event_retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.event_retention_days) * 24 * 60 * 60)
    }

    pub fn event_row_retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.event_row_retention_days) * 24 * 60 * 60)
    }

    /// Every admin key Kakao's webhooks may carry: the current one, then the previous.
    pub fn admin_keys(&self) -> SecretPair<'_> {
        SecretPair::of(&self.kakao_admin_key, &self.kakao_admin_key_previous)
    }

    /// The bearer tokens `/api` accepts; empty when the API is off.
    pub fn api_tokens(&self) -> SecretPair<'_> {
        SecretPair::of(&self.internal_api_token, &self.internal_api_token_previous)
    }

    /// The values the skill secret header may carry; empty when unchecked.
    pub fn skill_secrets(&self) -> SecretPair<'_> {
        SecretPair::of(&self.skill_secret, &self.skill_secret_previous)
    }

    /// The values the bot webhook's header may carry; empty when unchecked.
    pub fn bot_webhook_secrets(&self) -> SecretPair<'_> {
        SecretPair::of(
            &self.kakao_bot_webhook_secret,
            &self.kakao_bot_webhook_secret_previous,
        )
    }
}

/// A secret and, during a rotation, the one before it. Borrowed from the
/// settings: comparing against it allocates nothing. The settings refuse a
/// previous one without a current one, so "empty" means "unset".
#[derive(Debug, Clone, Copy)]
pub struct SecretPair<'a> {
    current: Option<&'a str>,
    previous: Option<&'a str>,
}

impl<'a> SecretPair<'a> {
    fn of(current: &'a Option<SecretString>, previous: &'a Option<SecretString>) -> Self {
        Self {
            current: current.as_ref().map(|s| s.expose_secret()),
            previous: previous.as_ref().map(|s| s.expose_secret()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_none()
    }

    /// The value to sign with (the current one).
    pub fn current(&self) -> Option<&'a str> {
        self.current
    }
}

impl<'a> IntoIterator for SecretPair<'a> {
    type Item = &'a str;
    type IntoIter = std::iter::Flatten<std::array::IntoIter<Option<&'a str>, 2>>;

    fn into_iter(self) -> Self::IntoIter {
        [self.current, self.previous].into_iter().flatten()
    }
}

/// Whether `key` was given by a file or the environment, not the built-in defaults.
fn is_set(figment: &Figment, key: &str) -> bool {
    figment
        .find_metadata(key)
        .is_some_and(|metadata| metadata.name != DEFAULTS_NAME)
}

/// How figment names the built-in defaults' provider.
const DEFAULTS_NAME: &str = "TOML source string";

/// Every setting's environment name (`DATABASE_URL`, …), as documented in
/// `config/default.toml`: for tools, and the settings fuzz target.
pub fn setting_names() -> Vec<String> {
    default_keys().map(str::to_ascii_uppercase).collect()
}

fn known_keys() -> Vec<&'static str> {
    default_keys().collect()
}

/// Top-level keys of `config/default.toml`.
fn default_keys() -> impl Iterator<Item = &'static str> {
    DEFAULT_TOML.lines().filter_map(|line| {
        let (key, _) = line.split_once('=')?;
        let key = key.trim();
        (!key.is_empty() && !key.starts_with('#')).then_some(key)
    })
}

mod checks;
mod environment;
mod exposure;
mod network;
mod signing_secret;
mod values;

pub use self::signing_secret::SigningSecret;

pub use self::network::{AcmeChallenge, SourceIps, StreamUrl};
use self::network::{domain_list, https_url, optional_path, optional_stream_url, source_ips};
pub use self::values::*;
use self::values::{
    bot_commands, gateway_url, header_name, host_patterns, ip_networks, kakao_url, millis,
    millis_list, millis_or_zero, optional_app_url, optional_digits, optional_kakao_url,
    optional_secret, optional_signing_secret, optional_socket_addr, optional_text, required_text,
    time_zone, validate_commands,
};

#[cfg(test)]
mod tests;
