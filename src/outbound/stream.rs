//! Publishing notifications into the team's broker (`EVENT_STREAM_URL`):
//! NATS JetStream (each publish waits for the stream's ack; `Nats-Msg-Id`
//! lets JetStream dedupe), RabbitMQ (persistent, publisher confirms,
//! `message_id`), Redis Streams (`XADD` with an approximate `MAXLEN`).
//! The notifier calls [`Publisher::publish`] for each claimed row, so the
//! broker gets what the outbox holds, at least once.
//!
//! A broker that is down at start does not stop the service (Kakao's
//! deliveries never wait on it): the connection is made again on the next
//! publish. A broker that answers but cannot take the messages (no stream
//! for the subjects) stops start-up, saying what to set.

use std::time::Duration;

use tokio::sync::Mutex;

use crate::config::StreamUrl;

/// Bounds connecting and each publish.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The JetStream stream `EVENT_STREAM_CREATE` makes for `prefix`:
/// `KAKAO_WEBHOOKS_<PREFIX>`, one per prefix.
fn nats_stream(prefix: &str) -> String {
    let name: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("KAKAO_WEBHOOKS_{name}")
}

pub struct Publisher {
    url: StreamUrl,
    create: bool,
    maxlen: u64,
    connection: Mutex<Option<Connection>>,
}

enum Connection {
    Nats(async_nats::jetstream::Context),
    Amqp(lapin::Channel),
    Redis(redis::aio::MultiplexedConnection),
}

impl Publisher {
    pub fn new(url: StreamUrl, create: bool, maxlen: u64) -> Self {
        Self {
            url,
            create,
            maxlen,
            connection: Mutex::new(None),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.url.kind()
    }

    /// Connects at start. `Err` only for a broker that answered and cannot
    /// take the messages; one that does not answer is logged and retried.
    pub async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(TIMEOUT, self.connect()).await {
            Ok(Ok(connection)) => {
                *self.connection.lock().await = Some(connection);
                tracing::info!(broker = self.kind(), "EVENT_STREAM_URL connected");
                Ok(())
            }
            Ok(Err(Refused::Misconfigured(why))) => Err(why),
            Ok(Err(Refused::Unreachable(why))) => {
                tracing::warn!(broker = self.kind(), error = %why, "EVENT_STREAM_URL does not answer yet; notifications wait in the outbox");
                Ok(())
            }
            Err(_) => {
                tracing::warn!(
                    broker = self.kind(),
                    "EVENT_STREAM_URL did not answer within 10 s; notifications wait in the outbox"
                );
                Ok(())
            }
        }
    }

    /// Publishes one notification; `Ok` once the broker has it.
    pub async fn publish(&self, id: &str, kind: &str, body: &[u8]) -> Result<(), String> {
        let mut connection = self.connection.lock().await;
        if connection.is_none() {
            let made = tokio::time::timeout(TIMEOUT, self.connect())
                .await
                .map_err(|_| "cannot connect within 10 s".to_owned())?
                .map_err(|refused| refused.to_string())?;
            *connection = Some(made);
        }
        let published = tokio::time::timeout(
            TIMEOUT,
            self.send(
                connection.as_mut().expect("connected above"),
                id,
                kind,
                body,
            ),
        )
        .await
        .unwrap_or_else(|_| Err("no acknowledgement within 10 s".into()));
        if published.is_err() {
            // A fresh connection next time (the client may not recover by itself).
            *connection = None;
        }
        published
    }

    async fn connect(&self) -> Result<Connection, Refused> {
        match &self.url {
            StreamUrl::Nats { server, prefix } => {
                let client = async_nats::connect(server.as_str())
                    .await
                    .map_err(|err| Refused::Unreachable(err.to_string()))?;
                let jetstream = async_nats::jetstream::new(client);
                let subjects = format!("{prefix}.>");
                if self.create {
                    let name = nats_stream(prefix);
                    jetstream
                        .get_or_create_stream(async_nats::jetstream::stream::Config {
                            name: name.clone(),
                            subjects: vec![subjects.clone()],
                            ..Default::default()
                        })
                        .await
                        .map_err(|err| {
                            Refused::Misconfigured(format!(
                                "cannot create the JetStream stream {name} for {subjects}: {err}"
                            ))
                        })?;
                } else {
                    let probe = format!("{prefix}.user.unlinked");
                    jetstream.stream_by_subject(&probe).await.map_err(|err| {
                        Refused::Misconfigured(format!(
                            "no JetStream stream covers {subjects} ({err}): add one (nats stream add --subjects '{subjects}'), or set EVENT_STREAM_CREATE=true"
                        ))
                    })?;
                }
                Ok(Connection::Nats(jetstream))
            }
            StreamUrl::Amqp { uri, exchange } => {
                let connection =
                    lapin::Connection::connect(uri, lapin::ConnectionProperties::default())
                        .await
                        .map_err(|err| Refused::Unreachable(err.to_string()))?;
                let channel = connection
                    .create_channel()
                    .await
                    .map_err(|err| Refused::Unreachable(err.to_string()))?;
                channel
                    .confirm_select(lapin::options::ConfirmSelectOptions::default())
                    .await
                    .map_err(|err| Refused::Unreachable(err.to_string()))?;
                let options = lapin::options::ExchangeDeclareOptions {
                    durable: true,
                    passive: !self.create,
                    ..Default::default()
                };
                channel
                    .exchange_declare(
                        exchange.as_str().into(),
                        lapin::ExchangeKind::Topic,
                        options,
                        lapin::types::FieldTable::default(),
                    )
                    .await
                    .map_err(|err| {
                        Refused::Misconfigured(format!(
                            "the RabbitMQ exchange {exchange:?} cannot be used ({err}): declare it (durable, topic), or set EVENT_STREAM_CREATE=true"
                        ))
                    })?;
                Ok(Connection::Amqp(channel))
            }
            StreamUrl::Redis { url, .. } => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|err| Refused::Misconfigured(format!("EVENT_STREAM_URL: {err}")))?;
                let connection = client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|err| Refused::Unreachable(err.to_string()))?;
                Ok(Connection::Redis(connection))
            }
        }
    }

    async fn send(
        &self,
        connection: &mut Connection,
        id: &str,
        kind: &str,
        body: &[u8],
    ) -> Result<(), String> {
        match (connection, &self.url) {
            (Connection::Nats(jetstream), StreamUrl::Nats { prefix, .. }) => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", id);
                jetstream
                    .publish_with_headers(format!("{prefix}.{kind}"), headers, body.to_vec().into())
                    .await
                    .map_err(|err| err.to_string())?
                    .await
                    .map_err(|err| format!("JetStream did not store it: {err}"))?;
                Ok(())
            }
            (Connection::Amqp(channel), StreamUrl::Amqp { exchange, .. }) => {
                let properties = lapin::BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_message_id(id.into())
                    .with_content_type("application/json".into());
                let confirm = channel
                    .basic_publish(
                        exchange.as_str().into(),
                        kind.into(),
                        lapin::options::BasicPublishOptions::default(),
                        body,
                        properties,
                    )
                    .await
                    .map_err(|err| err.to_string())?
                    .await
                    .map_err(|err| err.to_string())?;
                if confirm.is_nack() {
                    return Err("RabbitMQ did not take it (nack)".into());
                }
                Ok(())
            }
            (Connection::Redis(redis), StreamUrl::Redis { key, .. }) => {
                redis::cmd("XADD")
                    .arg(key)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.maxlen)
                    .arg("*")
                    .arg("id")
                    .arg(id)
                    .arg("type")
                    .arg(kind)
                    .arg("body")
                    .arg(body)
                    .query_async::<String>(redis)
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(())
            }
            _ => unreachable!("a connection is made for its own URL"),
        }
    }
}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
enum Refused {
    /// Down, or not reachable: retried.
    #[error("{0}")]
    Unreachable(String),
    /// Answers, but cannot take the messages as set up.
    #[error("{0}")]
    Misconfigured(String),
}
