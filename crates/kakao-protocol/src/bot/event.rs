//! Bot events as a handler sees them, read from a stored event's `t` and `d`.
//!
//! Only what Kakao was seen to send is typed; every field Kakao has not
//! confirmed is optional, and a type we do not know arrives as
//! [`BotEvent::Unknown`] with its payload, so nothing Kakao adds can fail to map.

use serde::Deserialize;
use serde_json::{Map, Value};

/// One chatroom event.
#[derive(Debug, Clone, PartialEq)]
pub enum BotEvent {
    MessageCreate(MessageCreate),
    /// The bot was let into a room.
    Entrance(Entrance),
    /// A user joined a room the bot is in (payload unconfirmed).
    ChatJoin(ChatJoin),
    /// The bot left or was removed from a room.
    Leave(Leave),
    /// An ad reward (meaning and payload unconfirmed): the payload as sent.
    AdReward {
        d: Map<String, Value>,
        callback_token: Option<String>,
    },
    Unknown {
        t: String,
        d: Map<String, Value>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageCreate {
    /// The message id: a 64-bit number (above 2^53), kept exact.
    #[serde(deserialize_with = "exact_id")]
    pub id: u64,
    /// The text; in group rooms the leading bot mention is already removed.
    #[serde(default)]
    pub content: String,
    /// A channel (1:1) chat, where carousels work and mentions do not.
    #[serde(default)]
    pub is_channel_chatroom: bool,
    #[serde(default)]
    pub bot_group_key: String,
    /// The sender, stable across the bot's rooms.
    #[serde(default)]
    pub bot_user_key: String,
    /// RFC 3339 with nanoseconds, as Kakao sent it.
    #[serde(default)]
    pub timestamp: String,
    pub callback_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entrance {
    #[serde(default)]
    pub bot_group_key: String,
    /// Who invited the bot (`inviter.botUserKey`), when Kakao says.
    #[serde(default, deserialize_with = "inviter")]
    pub inviter: Option<String>,
    #[serde(default)]
    pub timestamp: String,
    pub callback_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatJoin {
    #[serde(default)]
    pub bot_group_key: String,
    pub bot_user_key: Option<String>,
    #[serde(default)]
    pub timestamp: String,
    pub callback_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leave {
    #[serde(default)]
    pub bot_group_key: String,
    #[serde(default)]
    pub timestamp: String,
}

/// A payload that does not have its type's shape.
#[derive(Debug, thiserror::Error)]
#[error("a {t} payload that does not have its shape: {source}")]
pub struct EventShapeError {
    t: String,
    #[source]
    source: serde_json::Error,
}

impl BotEvent {
    /// Reads `d` for its type `t`; the callback token is set apart from the
    /// stored payload (it is not kept in the events log).
    pub fn from_parts(
        t: &str,
        mut d: Map<String, Value>,
        callback_token: Option<String>,
    ) -> Result<Self, EventShapeError> {
        if let Some(token) = callback_token {
            d.insert("callbackToken".into(), Value::String(token));
        }
        let shape = |source| EventShapeError {
            t: t.to_owned(),
            source,
        };
        let typed = |d: Map<String, Value>| Value::Object(d);
        Ok(match t {
            "MESSAGE_CREATE" => {
                Self::MessageCreate(serde_json::from_value(typed(d)).map_err(shape)?)
            }
            "ENTRANCE" => Self::Entrance(serde_json::from_value(typed(d)).map_err(shape)?),
            "CHAT_JOIN" => Self::ChatJoin(serde_json::from_value(typed(d)).map_err(shape)?),
            "LEAVE" => Self::Leave(serde_json::from_value(typed(d)).map_err(shape)?),
            "AD_REWARD" => {
                let callback_token = d
                    .remove("callbackToken")
                    .and_then(|token| token.as_str().map(str::to_owned));
                Self::AdReward { d, callback_token }
            }
            _ => {
                d.remove("callbackToken");
                Self::Unknown { t: t.to_owned(), d }
            }
        })
    }

    /// Whether the room is a channel (1:1) chat; only a message says so.
    pub fn is_channel_chatroom(&self) -> bool {
        matches!(self, Self::MessageCreate(m) if m.is_channel_chatroom)
    }
}

/// A JSON integer (or a string of digits) as `u64`, never through a double.
fn exact_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(u64),
        Text(String),
    }
    match Id::deserialize(d)? {
        Id::Number(n) => Ok(n),
        Id::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

fn inviter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(match value {
        Some(Value::Object(inviter)) => inviter
            .get("botUserKey")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Some(Value::String(key)) => Some(key),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_message_keeps_its_id_exact_and_gets_its_token_back() {
        let d = object(serde_json::from_str(
            r#"{"id":869509512613945331,"isChannelChatroom":true,"botGroupKey":"g","botUserKey":"u","content":"안녕","timestamp":"t","type":"MESSAGE_CREATE"}"#,
        ).unwrap());
        let event = BotEvent::from_parts("MESSAGE_CREATE", d, Some("tok".into())).unwrap();
        let BotEvent::MessageCreate(message) = event else {
            panic!("a message")
        };
        assert_eq!(message.id, 869_509_512_613_945_331);
        assert_eq!(message.content, "안녕");
        assert!(message.is_channel_chatroom);
        assert_eq!(message.callback_token.as_deref(), Some("tok"));
    }

    #[test]
    fn an_entrance_names_its_inviter_and_an_unknown_type_keeps_its_payload() {
        let d = object(
            serde_json::json!({"botGroupKey":"g","inviter":{"botUserKey":"u1"},"params":{}}),
        );
        let event = BotEvent::from_parts("ENTRANCE", d, None).unwrap();
        assert!(
            matches!(event, BotEvent::Entrance(Entrance { inviter: Some(ref u), .. }) if u == "u1")
        );
        let d = object(serde_json::json!({"x": 1}));
        let event = BotEvent::from_parts("SOMETHING_NEW", d.clone(), Some("t".into())).unwrap();
        assert_eq!(
            event,
            BotEvent::Unknown {
                t: "SOMETHING_NEW".into(),
                d
            }
        );
    }
}
