//! The settings about the network: who may call Kakao's routes
//! (`KAKAO_SOURCE_IPS`), the names and CA for HTTPS (`TLS_DOMAINS`,
//! `ACME_*`), and the broker notifications go to (`EVENT_STREAM_URL`).

use std::fmt;

use serde::{Deserialize, Deserializer, de};
use url::Url;

use super::values::{ip_networks, list_items, optional_text, required_text};

/// `kakao_source_ips`: who may call Kakao's routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceIps {
    /// Anyone (the default).
    Off,
    /// The callback addresses Kakao publishes, fetched and kept in the database.
    Auto,
    /// These networks.
    Listed(Vec<ipnet::IpNet>),
}

impl SourceIps {
    pub fn is_on(&self) -> bool {
        !matches!(self, Self::Off)
    }
}

/// `kakao_source_ips`: `off` (or empty), `auto`, or Kakao's addresses as CIDRs.
pub(super) fn source_ips<'de, D: Deserializer<'de>>(d: D) -> Result<SourceIps, D::Error> {
    let text = String::deserialize(d)?;
    match text.trim() {
        "" | "off" => Ok(SourceIps::Off),
        "auto" => Ok(SourceIps::Auto),
        list => {
            let networks = ip_networks(serde::de::value::StrDeserializer::<D::Error>::new(list))?;
            if networks.is_empty() {
                return Ok(SourceIps::Off);
            }
            Ok(SourceIps::Listed(networks))
        }
    }
}

/// `acme_challenge`: how the CA checks that the domains are ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AcmeChallenge {
    /// A certificate served on BIND_ADDR to the `acme-tls/1` protocol.
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// A file served on HTTP_BIND_ADDR under `/.well-known/acme-challenge/`.
    #[serde(rename = "http-01")]
    Http01,
}

/// `tls_domains`: DNS names, comma-separated, each a plain host name (no
/// wildcard: the challenges offered here cannot prove one).
pub(super) fn domain_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list_items(d)?
        .into_iter()
        .map(|item| {
            let name = item.trim().trim_end_matches('.').to_ascii_lowercase();
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
                && name.parse::<std::net::IpAddr>().is_err();
            if valid {
                Ok(name)
            } else {
                Err(de::Error::custom(format!(
                    "{item:?} is not a DNS name like bot.example.com (no wildcard, no address; comma-separated)"
                )))
            }
        })
        .collect()
}

/// An https URL (the ACME directory).
pub(super) fn https_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let text = required_text(d)?;
    let url = Url::parse(&text)
        .map_err(|err| de::Error::custom(format!("{text:?} is not a URL: {err}")))?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(de::Error::custom(format!(
            "{text:?} must be an https URL (ACME is spoken over HTTPS only)"
        )));
    }
    Ok(url)
}

pub(super) fn optional_path<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::path::PathBuf>, D::Error> {
    Ok(optional_text(d)?.map(std::path::PathBuf::from))
}

/// `event_stream_url`: the broker notifications are published to.
#[derive(Clone, PartialEq, Eq)]
pub enum StreamUrl {
    /// NATS JetStream: subjects `<prefix>.<type>`.
    Nats { server: String, prefix: String },
    /// RabbitMQ: a topic exchange, routing key `<type>`.
    Amqp { uri: String, exchange: String },
    /// Redis Streams: `XADD <key>`.
    Redis { url: String, key: String },
}

impl StreamUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|err| format!("is not a URL: {err}"))?;
        let param = |name: &str| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
                .filter(|value| !value.is_empty())
        };
        // The URL without our own query parameter, as the client takes it.
        let without = |name: &str| {
            let mut bare = url.clone();
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(key, _)| key != name)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            bare.set_query(None);
            if !kept.is_empty() {
                bare.query_pairs_mut().extend_pairs(kept);
            }
            bare.to_string()
        };
        match url.scheme() {
            "nats" | "tls" => {
                let prefix = url.path().trim_matches('/');
                let prefix = if prefix.is_empty() { "kakao" } else { prefix };
                let valid = prefix
                    .split('.')
                    .all(|token| !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
                if !valid {
                    return Err(format!("{prefix:?} is not a NATS subject prefix like kakao or acme.kakao"));
                }
                let mut server = url.clone();
                server.set_path("");
                server.set_query(None);
                Ok(Self::Nats {
                    server: server.to_string().trim_end_matches('/').to_owned(),
                    prefix: prefix.to_owned(),
                })
            }
            "amqp" | "amqps" => {
                let exchange = param("exchange").ok_or(
                    "needs ?exchange=<name>: amqp://user:pass@host:5672/<vhost>?exchange=kakao",
                )?;
                Ok(Self::Amqp { uri: without("exchange"), exchange })
            }
            "redis" | "rediss" => {
                let key = param("stream")
                    .ok_or("needs ?stream=<key>: redis://host:6379/0?stream=kakao-webhooks")?;
                Ok(Self::Redis { url: without("stream"), key })
            }
            "kafka" => Err("Kafka is not offered yet: there is no Kafka broker here to test against, and a client we cannot test is not one we ship. Use nats://, amqp:// or redis://".into()),
            other => Err(format!("{other}:// is not a broker we publish to: use nats://, amqp:// or redis://")),
        }
    }

    /// The broker's kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Nats { .. } => "nats",
            Self::Amqp { .. } => "amqp",
            Self::Redis { .. } => "redis",
        }
    }
}

/// Without credentials: the URL may carry a password.
impl fmt::Debug for StreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamUrl({}://…)", self.kind())
    }
}

pub(super) fn optional_stream_url<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<StreamUrl>, D::Error> {
    optional_text(d)?
        .map(|text| StreamUrl::parse(&text))
        .transpose()
        .map_err(de::Error::custom)
}
