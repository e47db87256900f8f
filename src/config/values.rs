//! The value types settings parse into, and the serde helpers that turn one
//! raw value into its type or a clear reason.

use std::{fmt, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, de};
use url::Url;

pub use crate::telemetry::LogFormat;

/// Which backend a `DATABASE_URL` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// A database URL whose scheme is known. Redacted in `Debug` (it may hold a password).
#[derive(Clone)]
pub struct DatabaseUrl {
    kind: DatabaseKind,
    url: SecretString,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme);
        let kind = match scheme {
            Some("sqlite") => DatabaseKind::Sqlite,
            Some("postgres" | "postgresql") => DatabaseKind::Postgres,
            _ => {
                return Err(
                    "must start with sqlite:// or postgres:// (e.g. sqlite://data/kakao-webhooks.db)"
                        .into(),
                );
            }
        };
        // The event writer opens the file itself (storage/sqlite.rs), and
        // acknowledged events must outlive the process anyway.
        if kind == DatabaseKind::Sqlite && (url.contains(":memory:") || url.contains("mode=memory"))
        {
            return Err("an in-memory SQLite database cannot keep acknowledged events; give a file, e.g. sqlite://data/kakao-webhooks.db".into());
        }
        Ok(Self {
            kind,
            url: url.into(),
        })
    }

    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    pub fn expose(&self) -> &str {
        self.url.expose_secret()
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?}, [REDACTED])", self.kind)
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let url = String::deserialize(deserializer)?;
        Self::parse(&url).map_err(de::Error::custom)
    }
}

/// A callback host allowed by `skill_callback_hosts`: `example.com` or `*.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// Any subdomain of the stored domain (not the domain itself).
    Subdomains(String),
}

impl HostPattern {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let pattern = pattern.trim().to_ascii_lowercase();
        let (wildcard, host) = match pattern.strip_prefix("*.") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, pattern),
        };
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !valid {
            return Err(format!("{host:?} is not a host name or *.domain pattern"));
        }
        Ok(if wildcard {
            Self::Subdomains(host)
        } else {
            Self::Exact(host)
        })
    }

    pub fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        match self {
            Self::Exact(exact) => host == *exact,
            Self::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
        }
    }
}

// ---- serde helpers: each turns one raw value into its type or a clear reason.

/// Environment values that look like numbers arrive as numbers (KAKAO_APP_ID=123).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Int(n) => n.to_string(),
            Self::Float(n) => n.to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

pub(super) fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = Scalar::deserialize(d)?.into_string();
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// An id Kakao gives as a number (`KAKAO_APP_ID`): digits only, kept as text.
pub(super) fn optional_digits<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = optional_text(d)?;
    if let Some(text) = &text
        && !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(de::Error::custom(format!(
            "{:?} is not digits: use the numeric app id from Kakao Developers > App > App Keys",
            crate::telemetry::loggable(text)
        )));
    }
    Ok(text)
}

/// An IANA time zone name (`Asia/Seoul`), from the zone database compiled in.
pub(super) fn time_zone<'de, D: Deserializer<'de>>(d: D) -> Result<jiff::tz::TimeZone, D::Error> {
    let name = required_text(d)?;
    jiff::tz::TimeZone::get(name.trim()).map_err(|_| {
        de::Error::custom(format!(
            "{name:?} is not a time zone name; use an IANA name such as Asia/Seoul or UTC"
        ))
    })
}

pub(super) fn required_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    optional_text(d)?.ok_or_else(|| de::Error::custom("must not be empty"))
}

pub(super) fn optional_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SecretString>, D::Error> {
    Ok(optional_text(d)?.map(SecretString::from))
}

pub(super) fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match millis_or_zero(d)? {
        Duration::ZERO => Err(de::Error::custom(
            "must be a positive number of milliseconds",
        )),
        duration => Ok(duration),
    }
}

pub(super) fn millis_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = Scalar::deserialize(d)?.into_string();
    text.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| de::Error::custom(format!("{text:?} is not a whole number of milliseconds")))
}

/// One of Kakao's endpoints: https, or http on a loopback host.
fn parse_kakao_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| format!("{text:?} is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{text:?} must be an https URL with a host"));
    }
    crate::http::https_or_loopback(&url).map_err(|why| format!("{text:?}: {why}"))?;
    Ok(url)
}

pub(super) fn kakao_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let text = required_text(d)?;
    parse_kakao_url(&text).map_err(de::Error::custom)
}

pub(super) fn optional_kakao_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    optional_text(d)?
        .map(|text| parse_kakao_url(&text))
        .transpose()
        .map_err(de::Error::custom)
}

/// One of the app's endpoints: http or https, with a host (the app is often
/// on a private network, so http is allowed).
pub(super) fn optional_app_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    optional_text(d)?
        .map(|text| {
            let url = Url::parse(&text).map_err(|err| format!("{text:?} is not a URL: {err}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!("{text:?} must be an http or https URL with a host"));
            }
            Ok(url)
        })
        .transpose()
        .map_err(de::Error::custom)
}

/// The Bot API gateway: `wss`, or `ws` on a loopback host.
pub(super) fn gateway_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let text = required_text(d)?;
    let url = Url::parse(&text)
        .map_err(|err| de::Error::custom(format!("{text:?} is not a URL: {err}")))?;
    let loopback = crate::http::is_loopback(&url);
    match url.scheme() {
        "wss" if url.host_str().is_some() => Ok(url),
        "ws" if loopback => Ok(url),
        _ => Err(de::Error::custom(format!(
            "{text:?} must be a wss:// URL (ws:// only on a loopback host)"
        ))),
    }
}

pub(super) fn optional_signing_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::config::SigningSecret>, D::Error> {
    optional_text(d)?
        .map(|text| crate::config::SigningSecret::parse(&text))
        .transpose()
        .map_err(de::Error::custom)
}

/// Comma-separated milliseconds, each positive: `"5000,300000"`.
pub(super) fn millis_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let text = Scalar::deserialize(d)?.into_string();
    text.split(',')
        .map(|part| match part.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(de::Error::custom(format!(
                "{part:?} is not a positive number of milliseconds (the list is comma-separated)"
            ))),
        })
        .collect()
}

pub(super) fn optional_socket_addr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    optional_text(d)?
        .map(|text| {
            text.parse()
                .map_err(|_| format!("{text:?} is not an address and port like 127.0.0.1:9090"))
        })
        .transpose()
        .map_err(de::Error::custom)
}

pub(super) fn header_name<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<axum::http::HeaderName, D::Error> {
    let text = required_text(d)?;
    axum::http::HeaderName::try_from(text.as_str())
        .map_err(|_| de::Error::custom(format!("{text:?} is not a valid HTTP header name")))
}

/// The items of a comma-separated string (as environment variables carry
/// it) or a TOML array, trimmed, empty ones left out.
pub(super) fn list_items<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Joined(String),
        Items(Vec<String>),
    }
    let items = match List::deserialize(d)? {
        List::Joined(text) => text.split(',').map(str::to_owned).collect(),
        List::Items(items) => items,
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}

/// `skill_callback_hosts`: host patterns, as a list.
pub(super) fn host_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<HostPattern>, D::Error> {
    list_items(d)?
        .iter()
        .map(|item| HostPattern::parse(item).map_err(de::Error::custom))
        .collect()
}

/// `trusted_proxies`: addresses (`10.0.0.2`) and networks (`10.0.0.0/8`),
/// comma-separated or as a list.
pub(super) fn ip_networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    list_items(d)?
        .iter()
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    de::Error::custom(format!(
                        "{item:?} is not an address or a network (10.0.0.0/8)"
                    ))
                })
        })
        .collect()
}

/// One entry of the bot's command menu (`kakao_bot_commands`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotCommand {
    pub button_name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// The command menu as a config file's array, or as JSON text, which is
/// how an environment variable carries it:
/// `KAKAO_BOT_COMMANDS='[{"button_name":"메뉴"}]'`.
pub(super) fn bot_commands<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BotCommand>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Commands {
        Items(Vec<BotCommand>),
        Json(String),
    }
    match Commands::deserialize(d)? {
        Commands::Items(items) => Ok(items),
        Commands::Json(text) if text.trim().is_empty() => Ok(Vec::new()),
        Commands::Json(text) => serde_json::from_str(&text).map_err(|err| {
            de::Error::custom(format!(
                "is not a JSON array of {{\"button_name\", \"description\"}} objects: {err}"
            ))
        }),
    }
}

/// Kakao's limits for the command menu: at most 20 (its docs say 20 and its
/// error -874 says 30; the lower is safe), names present and unique (-875).
pub(super) fn validate_commands(commands: &[BotCommand]) -> Result<(), String> {
    if commands.len() > 20 {
        return Err(format!("{} commands; at most 20", commands.len()));
    }
    let mut seen = std::collections::HashSet::new();
    for command in commands {
        let name = command.button_name.trim();
        if name.is_empty() {
            return Err("a command has an empty button_name".into());
        }
        if !seen.insert(name) {
            return Err(format!("the command {name:?} appears twice"));
        }
    }
    Ok(())
}
