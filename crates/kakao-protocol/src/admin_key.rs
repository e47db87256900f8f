//! The webhooks Kakao authenticates with the app's admin key
//! (`Authorization: KakaoAK <admin key>`): Kakao Login unlink, Kakao Talk
//! Channel add/block and Kakao Talk Share. Kakao sends their parameters as a
//! GET's query, or a POST's form or JSON body; [`parameters`] reads any of
//! them, and [`Unlink`], [`ChannelChange`] and [`ShareDelivery`] read the
//! fields each webhook must carry.
//!
//! ```
//! use kakao_protocol::admin_key::{Unlink, parameters};
//!
//! let params = parameters(false, Some("app_id=1&user_id=42&referrer_type=UNLINK_FROM_APPS"), false, b"")?;
//! let unlink = Unlink::read(&params)?;
//! assert_eq!(unlink.user_id.as_str(), "42");
//! # Ok::<(), kakao_protocol::admin_key::FormError>(())
//! ```

use std::collections::BTreeMap;

use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::ids::{ChannelPublicId, InvalidId, UserId};

/// A webhook's parameters, by name.
pub type Params = BTreeMap<String, String>;

/// Why a webhook's parameters cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the body is not a JSON object: {0}")]
    NotAnObject(String),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    #[error("{0}")]
    Invalid(String),
}

/// The parameters of one delivery: a POST's non-empty body (JSON when
/// `json`, else a form), otherwise the query. JSON values that are not
/// strings keep their JSON text.
pub fn parameters(
    post: bool,
    query: Option<&str>,
    json: bool,
    body: &[u8],
) -> Result<Params, FormError> {
    if post && !body.is_empty() {
        if json {
            let object: serde_json::Map<String, Value> = serde_json::from_slice(body)
                .map_err(|err| FormError::NotAnObject(err.to_string()))?;
            return Ok(object
                .into_iter()
                .map(|(key, value)| match value {
                    Value::String(text) => (key, text),
                    other => (key, other.to_string()),
                })
                .collect());
        }
        return Ok(form_urlencoded::parse(body).into_owned().collect());
    }
    Ok(form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect())
}

/// A required, non-empty parameter, trimmed.
pub fn required<'a>(params: &'a Params, name: &'static str) -> Result<&'a str, FormError> {
    params
        .get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .ok_or(FormError::Missing(name))
}

/// An optional parameter: absent and empty are the same.
fn optional(params: &Params, name: &str) -> Option<String> {
    params.get(name).filter(|value| !value.is_empty()).cloned()
}

/// Kakao Login's unlink callback: a user unlinked the app outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlink {
    pub app_id: String,
    pub user_id: UserId,
    /// Why (`UNLINK_FROM_APPS`, `UNLINK_FROM_ADMIN`, …); Kakao adds reasons
    /// over time, so any value is kept as sent.
    pub referrer_type: String,
    pub group_user_token: Option<String>,
}

impl Unlink {
    pub fn read(params: &Params) -> Result<Self, FormError> {
        Ok(Self {
            app_id: required(params, "app_id")?.to_owned(),
            user_id: UserId::parse(required(params, "user_id")?)?,
            referrer_type: required(params, "referrer_type")?.to_owned(),
            group_user_token: optional(params, "group_user_token"),
        })
    }
}

/// A user's relation with a Kakao Talk Channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    Added,
    Blocked,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Added => "added",
            Relation::Blocked => "blocked",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "added" => Some(Relation::Added),
            "blocked" => Some(Relation::Blocked),
            _ => None,
        }
    }
}

impl std::fmt::Display for Relation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kakao Talk Channel's webhook: a user added or blocked the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelChange {
    pub relation: Relation,
    pub user_id: UserId,
    /// What `user_id` is (`app_user_id`, …).
    pub id_type: String,
    pub channel_public_id: ChannelPublicId,
    pub channel_uuid: Option<String>,
    /// `updated_at` (Unix ms), when sent.
    pub updated_at: Option<i64>,
}

impl ChannelChange {
    pub fn read(params: &Params) -> Result<Self, FormError> {
        let event = required(params, "event")?;
        let relation = Relation::parse(event).ok_or_else(|| {
            FormError::Invalid(format!(
                "event must be \"added\" or \"blocked\", not {event:?}"
            ))
        })?;
        let user_id = UserId::parse(required(params, "id")?)?;
        let id_type = required(params, "id_type")?.to_owned();
        // The plus_friend_* names are deprecated (2021) but still sent.
        let channel_public_id = required(params, "channel_public_id")
            .or_else(|_| required(params, "plus_friend_public_id"))
            .map_err(|_| FormError::Missing("channel_public_id"))?;
        let updated_at = match optional(params, "updated_at") {
            Some(text) => Some(unix_millis(&text)?),
            None => None,
        };
        Ok(Self {
            relation,
            user_id,
            id_type,
            channel_public_id: ChannelPublicId::parse(channel_public_id)?,
            channel_uuid: optional(params, "channel_uuid")
                .or_else(|| optional(params, "plus_friend_uuid")),
            updated_at,
        })
    }
}

/// `updated_at` as Unix milliseconds; Kakao sends RFC 3339 (`2020-01-01T00:00:00Z`).
fn unix_millis(text: &str) -> Result<i64, FormError> {
    let time = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| FormError::Invalid(format!("updated_at {text:?} is not an RFC 3339 time")))?;
    Ok(i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

/// Kakao Talk Share's webhook: a shared message was delivered. Every
/// parameter is the app's own (`SHARE_PARAMS`) but these two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareDelivery {
    pub chat_type: String,
    pub hash_chat_id: String,
}

impl ShareDelivery {
    pub fn read(params: &Params) -> Result<Self, FormError> {
        Ok(Self {
            chat_type: required(params, "CHAT_TYPE")?.to_owned(),
            hash_chat_id: required(params, "HASH_CHAT_ID")?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_body_keeps_non_string_values_as_json_text() {
        let params = parameters(true, None, true, br#"{"id":42,"event":"added"}"#).unwrap();
        assert_eq!(params["id"], "42");
        assert_eq!(params["event"], "added");
        assert!(matches!(
            parameters(true, None, true, b"[1]"),
            Err(FormError::NotAnObject(_))
        ));
    }

    #[test]
    fn the_channel_webhook_reads_the_deprecated_names_too() {
        let params = parameters(
            true,
            None,
            false,
            b"event=blocked&id=7&id_type=app_user_id&plus_friend_public_id=_abc&plus_friend_uuid=u&updated_at=2020-01-01T00:00:01Z",
        )
        .unwrap();
        let change = ChannelChange::read(&params).unwrap();
        assert_eq!(change.relation, Relation::Blocked);
        assert_eq!(change.channel_public_id.as_str(), "_abc");
        assert_eq!(change.channel_uuid.as_deref(), Some("u"));
        assert_eq!(change.updated_at, Some(1_577_836_801_000));
    }

    #[test]
    fn a_get_or_an_empty_post_reads_the_query_and_a_post_its_body() {
        let query = Some("user_id=1&referrer_type=Q");
        for (post, body) in [(false, &b"user_id=2"[..]), (true, &b""[..])] {
            let params = parameters(post, query, false, body).unwrap();
            assert_eq!(params["user_id"], "1", "post {post}, body {body:?}");
        }
        let params = parameters(true, query, false, b"user_id=2").unwrap();
        assert_eq!(params["user_id"], "2");
        assert!(!params.contains_key("referrer_type"));
    }

    #[test]
    fn a_relation_reads_and_prints_as_kakao_spells_it() {
        for (text, relation) in [("added", Relation::Added), ("blocked", Relation::Blocked)] {
            assert_eq!(Relation::parse(text), Some(relation));
            assert_eq!(relation.as_str(), text);
            assert_eq!(relation.to_string(), text);
        }
        assert_eq!(Relation::parse("Added"), None);
        assert_eq!(Relation::parse(""), None);
    }

    #[test]
    fn a_missing_field_is_named() {
        let params = parameters(false, Some("app_id=1&user_id=42"), false, b"").unwrap();
        assert_eq!(
            Unlink::read(&params).unwrap_err().to_string(),
            "missing referrer_type"
        );
    }
}
