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
    #[serde(deserialize_with = "millis")]
    pub shutdown_grace_ms: Duration,
    pub dev_dir: std::path::PathBuf,

    pub database_url: DatabaseUrl,
    pub event_retention_days: u32,
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
    #[serde(deserialize_with = "gateway_url")]
    pub kakao_bot_gateway_url: Url,

    #[serde(deserialize_with = "optional_secret")]
    pub skill_secret: Option<SecretString>,
    #[serde(deserialize_with = "optional_secret")]
    pub skill_secret_previous: Option<SecretString>,
    #[serde(deserialize_with = "header_name")]
    pub skill_secret_header: axum::http::HeaderName,
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
    pub app_signing_secret: Option<crate::upstream::SigningSecret>,
    #[serde(deserialize_with = "optional_app_url")]
    pub app_notify_url: Option<Url>,
    #[serde(deserialize_with = "millis")]
    pub app_notify_timeout_ms: Duration,
    #[serde(deserialize_with = "millis_list")]
    pub app_notify_retry_schedule_ms: Vec<Duration>,
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
        let settings: Settings = figment.extract().map_err(|err| {
            let setting = err.path.last().cloned().unwrap_or_else(|| "config".into());
            ConfigError::new(&setting, err.kind)
        })?;
        settings.validate()?;
        Ok(settings)
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
mod values;

pub use self::values::*;
use self::values::{
    bot_commands, gateway_url, header_name, host_patterns, kakao_url, millis, millis_list,
    millis_or_zero, optional_app_url, optional_digits, optional_kakao_url, optional_secret,
    optional_signing_secret, optional_socket_addr, required_text, validate_commands,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_memory_sqlite_database_is_refused_naming_the_setting() {
        for url in ["sqlite::memory:", "sqlite://events.db?mode=memory"] {
            let err = Settings::from_vars(None, [("DATABASE_URL", url)]).unwrap_err();
            assert!(err.to_string().contains("DATABASE_URL"), "{err}");
            assert!(err.to_string().contains("in-memory"), "{err}");
        }
        assert!(Settings::from_vars(None, [("DATABASE_URL", "sqlite://memory.db")]).is_ok());
    }

    #[test]
    // Every field is required and unknown keys are refused, so loading the
    // defaults alone proves default.toml documents exactly the settings.
    fn defaults_load_and_every_key_is_documented() {
        let settings = Settings::from_vars(None, []).expect("defaults are valid");
        assert_eq!(settings.bind_addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(settings.database_url.kind(), DatabaseKind::Sqlite);
        assert_eq!(settings.kakao_issuer.as_str(), "https://kauth.kakao.com/");
        assert!(settings.kakao_admin_key.is_none());
    }

    #[test]
    fn a_previous_secret_without_its_current_one_is_refused_naming_it() {
        for name in [
            "KAKAO_ADMIN_KEY_PREVIOUS",
            "INTERNAL_API_TOKEN_PREVIOUS",
            "SKILL_SECRET_PREVIOUS",
            "KAKAO_BOT_WEBHOOK_SECRET_PREVIOUS",
        ] {
            let err = Settings::from_vars(None, [(name, "old")]).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            let current = name.trim_end_matches("_PREVIOUS");
            assert!(Settings::from_vars(None, [(name, "old"), (current, "new")]).is_ok());
        }
    }

    #[test]
    fn the_readme_documents_every_setting() {
        let readme = include_str!("../../README.md");
        for key in default_keys() {
            let row = format!("| `{}` |", key.to_ascii_uppercase());
            assert!(readme.contains(&row), "README.md has no row for {row}");
        }
    }

    #[test]
    fn environment_overrides_and_numeric_ids_stay_text() {
        let settings = Settings::from_vars(
            None,
            [("KAKAO_APP_ID", "123456"), ("BIND_ADDR", "0.0.0.0:9")],
        )
        .unwrap();
        assert_eq!(settings.kakao_app_id.as_deref(), Some("123456"));
        assert_eq!(settings.bind_addr.port(), 9);
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        let err = Settings::from_vars(None, [("BIND_ADDR", "nowhere")]).unwrap_err();
        assert_eq!(err.setting, "BIND_ADDR");
        let err = Settings::from_vars(None, [("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(err.setting, "DATABASE_URL");
        let err = Settings::from_vars(None, [("SKILL_SYNC_BUDGET_MS", "5000")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid setting SKILL_SYNC_BUDGET_MS:")
        );
    }

    #[test]
    fn kakao_urls_must_be_https_except_on_loopback() {
        for key in ["KAKAO_ISSUER", "KAKAO_JWKS_URL", "KAKAO_API_BASE_URL"] {
            let err = Settings::from_vars(None, [(key, "http://kauth.example.com")]).unwrap_err();
            assert_eq!(err.setting, key);
            assert!(err.to_string().contains("https"), "{err}");
            for local in [
                "http://127.0.0.1:9000",
                "http://localhost:9000",
                "http://[::1]:9000",
            ] {
                assert!(
                    Settings::from_vars(None, [(key, local)]).is_ok(),
                    "{key}={local}"
                );
            }
            assert!(Settings::from_vars(None, [(key, "https://kauth.example.com")]).is_ok());
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let settings = Settings::from_vars(
            None,
            [
                ("KAKAO_ADMIN_KEY", "admin-secret-value"),
                ("DATABASE_URL", "postgres://u:pw-secret@h/db"),
            ],
        )
        .unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("admin-secret-value"));
        assert!(!debug.contains("pw-secret"));
    }

    #[test]
    fn an_app_id_that_is_not_digits_is_refused_naming_it() {
        let err = Settings::from_vars(None, [("KAKAO_APP_ID", "abc")]).unwrap_err();
        assert_eq!(err.setting, "KAKAO_APP_ID");
        assert!(err.to_string().contains("not digits"), "{err}");
        assert!(Settings::from_vars(None, [("KAKAO_APP_ID", " 123456 ")]).is_ok());
    }

    #[test]
    fn a_half_configured_family_is_refused_naming_what_is_missing() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                &[("KAKAO_ADMIN_KEY", "k")],
                "KAKAO_ADMIN_KEY",
                "KAKAO_APP_ID",
            ),
            (&[("KAKAO_APP_ID", "1")], "KAKAO_APP_ID", "KAKAO_ADMIN_KEY"),
            (
                &[("KAKAO_BOT_GATEWAY", "true")],
                "KAKAO_BOT_GATEWAY",
                "KAKAO_BOT_TOKEN",
            ),
            (
                &[("KAKAO_BOT_WEBHOOK_SECRET", "s")],
                "KAKAO_BOT_WEBHOOK_SECRET",
                "KAKAO_BOT_TOKEN",
            ),
            (
                &[("KAKAO_JWKS_URL", "https://kauth.kakao.com/jwks")],
                "KAKAO_JWKS_URL",
                "KAKAO_REST_API_KEY",
            ),
        ];
        for (vars, setting, missing) in cases {
            let settings = Settings::from_vars(None, vars.iter().copied()).unwrap();
            let err = settings.check_families().unwrap_err();
            assert_eq!(err.setting, *setting);
            assert!(err.to_string().contains(missing), "{err}");
        }
        let whole = Settings::from_vars(None, [("KAKAO_ADMIN_KEY", "k"), ("KAKAO_APP_ID", "1")]);
        assert!(whole.unwrap().check_families().is_ok());
        assert!(
            Settings::from_vars(None, [])
                .unwrap()
                .check_families()
                .is_ok()
        );
    }

    #[test]
    fn bot_commands_come_from_the_environment_as_json() {
        let settings = Settings::from_vars(
            None,
            [(
                "KAKAO_BOT_COMMANDS",
                r#"[{"button_name":"메뉴","description":"무엇을 할 수 있는지"},{"button_name":"도움말"}]"#,
            )],
        )
        .unwrap();
        let names: Vec<_> = settings
            .kakao_bot_commands
            .iter()
            .map(|c| c.button_name.as_str())
            .collect();
        assert_eq!(names, ["메뉴", "도움말"]);
        let err =
            Settings::from_vars(None, [("KAKAO_BOT_COMMANDS", "[{\"name\":1}]")]).unwrap_err();
        assert_eq!(err.setting, "KAKAO_BOT_COMMANDS");
    }

    #[test]
    fn a_mistyped_variable_is_refused_and_unknown_ones_warned_of() {
        let err = Settings::from_vars(None, [("KAKAO_ADMINKEY", "k")]).unwrap_err();
        assert!(
            err.to_string().contains("did you mean KAKAO_ADMIN_KEY?"),
            "{err}"
        );
        let settings = Settings::from_vars(None, [("SKILL_SOMETHING", "x")]).unwrap();
        assert_eq!(settings.environment_warnings.len(), 1);
    }

    #[test]
    fn host_patterns_match_subdomains_only() {
        let pattern = HostPattern::parse("*.kakao.com").unwrap();
        assert!(pattern.matches("bot-api.kakao.com"));
        assert!(pattern.matches("a.b.KAKAO.com"));
        assert!(!pattern.matches("kakao.com"));
        assert!(!pattern.matches("evilkakao.com"));
        assert!(!pattern.matches("kakao.com.evil.net"));
        assert!(
            HostPattern::parse("127.0.0.1")
                .unwrap()
                .matches("127.0.0.1")
        );
        assert!(HostPattern::parse("bad host/").is_err());
    }
}
