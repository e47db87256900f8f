//! The skill request OpenBuilder POSTs (SkillPayload), parsed tolerantly.
//!
//! Kakao adds fields without notice and real payloads differ from the guide:
//! `clientExtra` may be `null`, `detailParams` values may be strings or objects,
//! system entities arrive as JSON inside strings, `lang` is "ko", "kr" or null,
//! and `user.properties` repeats keys in snake_case. Unknown fields are ignored;
//! only `userRequest` is required.
//!
//! Only `userRequest`'s own fields are built here; the parts many handlers
//! never read (`intent`, `bot`, `action` with its entities, `flow`,
//! `contexts`, `userRequest.user` and `userRequest.params`) are checked as
//! JSON here but built on first use ([`LazyJson`]); one of the wrong type
//! reads as empty.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};

pub use super::lazy_json::LazyJson;

/// A parsed skill request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillRequest {
    #[serde(default)]
    pub intent: LazyJson<Intent>,
    pub user_request: UserRequest,
    #[serde(default)]
    pub bot: LazyJson<Bot>,
    #[serde(default)]
    pub action: LazyJson<Action>,
    /// Not documented in the current guide; usually `[]`.
    #[serde(default)]
    pub contexts: LazyJson<Vec<Value>>,
    #[serde(default)]
    pub flow: LazyJson<Flow>,
    /// The body exactly as OpenBuilder sent it (forwarded as is upstream).
    #[serde(skip)]
    raw: bytes::Bytes,
}

impl SkillRequest {
    /// Parses a request body, saying what is wrong when it cannot.
    pub fn from_slice(body: &[u8]) -> Result<Self, SkillRequestError> {
        Self::from_bytes(bytes::Bytes::copy_from_slice(body))
    }

    /// [`SkillRequest::from_slice`], keeping `body` without a copy.
    pub fn from_bytes(body: bytes::Bytes) -> Result<Self, SkillRequestError> {
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            None => return Err(SkillRequestError::EmptyBody),
            Some(b'{') => {}
            Some(_) => return Err(SkillRequestError::NotAnObject),
        }
        // Checked as UTF-8 once here, so that the parser need not check
        // each string again (that was 9% of a skill POST's instructions).
        // simdutf8 (SIMD, chosen at run time): the standard library's check
        // leaves its fast path at every Korean character (3,900 → 900
        // instructions for the 1.7 KB payload; BENCHMARKS.md).
        let text = simdutf8::compat::from_utf8(&body)
            .map_err(|err| SkillRequestError::Malformed(format!("the body is not UTF-8: {err}")))?;
        let mut request: Self = serde_json::from_str(text)
            .map_err(|err| SkillRequestError::Malformed(err.to_string()))?;
        request.raw = body;
        Ok(request)
    }

    /// The body exactly as OpenBuilder sent it.
    pub fn raw_body(&self) -> &bytes::Bytes {
        &self.raw
    }

    /// The block that matched: `userRequest.block`, else the intent (same id and name).
    pub fn block(&self) -> BlockRef {
        self.user_request.block.clone().unwrap_or_else(|| BlockRef {
            id: self.intent.id.clone(),
            name: self.intent.name.clone(),
        })
    }

    /// The callback URL on callback-enabled blocks (AI chatbot callback).
    pub fn callback_url(&self) -> Option<&str> {
        self.user_request
            .callback_url
            .as_deref()
            .filter(|url| !url.is_empty())
    }

    /// True for requests from OpenBuilder's bot tester (`surface: BuilderBotTest`).
    pub fn is_bot_test(&self) -> bool {
        self.user_request
            .params
            .get("surface")
            .and_then(Value::as_str)
            == Some("BuilderBotTest")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SkillRequestError {
    #[error("the request body is empty; OpenBuilder sends a JSON skill payload")]
    EmptyBody,
    #[error("the request body is not a JSON object; OpenBuilder sends a JSON skill payload")]
    NotAnObject,
    #[error("the request body is not a skill payload: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// `reason`, `knowledge` (for 지식+ matches) and whatever Kakao adds.
    #[serde(default)]
    pub extra: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BlockRef {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRequest {
    #[serde(default)]
    pub timezone: Option<String>,
    /// `surface` ("Kakaotalk.plusfriend" live, "BuilderBotTest" in the tester), `ignoreMe`, …
    #[serde(default)]
    pub params: LazyJson<Map<String, Value>>,
    #[serde(default)]
    pub block: Option<BlockRef>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub utterance: String,
    /// As sent: "ko", "kr" (older) or absent. See [`UserRequest::language`].
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub user: LazyJson<User>,
    #[serde(default)]
    pub callback_url: Option<String>,
}

impl UserRequest {
    /// The language with Kakao's legacy "kr" read as "ko"; "ko" when absent.
    pub fn language(&self) -> &str {
        match self.lang.as_deref() {
            None | Some("" | "kr" | "ko") => "ko",
            Some(other) => other,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct User {
    /// botUserKey: differs per bot, at most 70 characters.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub properties: LazyJson<UserProperties>,
}

/// `user.properties`: camelCase keys win over their snake_case duplicates.
#[derive(Debug, Clone, Default)]
pub struct UserProperties {
    pub plusfriend_user_key: Option<String>,
    /// The Kakao Login user id, when an app key is set on the bot.
    pub app_user_id: Option<String>,
    pub bot_user_key: Option<String>,
    pub app_user_status: Option<String>,
    /// Sent only when true: absent means not a friend (or blocked).
    pub is_friend: bool,
    /// Every property as received.
    pub raw: Map<String, Value>,
}

impl<'de> Deserialize<'de> for UserProperties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Map::<String, Value>::deserialize(deserializer)?;
        let text = |camel: &str, snake: &str| {
            [camel, snake]
                .iter()
                .find_map(|key| raw.get(*key).and_then(scalar_text))
        };
        Ok(Self {
            plusfriend_user_key: text("plusfriendUserKey", "plusfriend_user_key"),
            app_user_id: text("appUserId", "app_user_id"),
            bot_user_key: text("botUserKey", "bot_user_key"),
            app_user_status: text("appUserStatus", "app_user_status"),
            is_friend: matches!(
                raw.get("isFriend").or_else(|| raw.get("is_friend")),
                Some(Value::Bool(true))
            ) || text("isFriend", "is_friend").as_deref() == Some("true"),
            raw,
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Bot {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Entity values; documented as strings, kept as received.
    #[serde(default)]
    pub params: LazyJson<Map<String, Value>>,
    #[serde(default)]
    pub detail_params: LazyJson<HashMap<String, DetailParam>>,
    /// `extra` of the button, quick reply or list item the user pressed.
    /// Arrives as `{}`, `null`, or (legacy guide) the string `"null"`.
    #[serde(default)]
    pub client_extra: LazyJson<Map<String, Value>>,
}

impl Action {
    /// A parameter as text: `params[name]`, else `detailParams[name].value`.
    pub fn param(&self, name: &str) -> Option<String> {
        self.params.get(name).and_then(scalar_text).or_else(|| {
            self.detail_params
                .get(name)
                .and_then(|p| scalar_text(&p.value))
        })
    }

    /// A system entity (sys_date, sys_location, …) whose value is JSON, whether
    /// sent as an object or, as Kakao usually does, as JSON inside a string.
    pub fn entity<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let value = self
            .detail_params
            .get(name)
            .map(|p| &p.value)
            .or_else(|| self.params.get(name))?;
        match value {
            Value::String(text) => serde_json::from_str(text).ok(),
            other => T::deserialize(other).ok(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailParam {
    #[serde(default)]
    pub origin: Option<String>,
    /// Usually a string (JSON inside it for system entities), sometimes an object.
    #[serde(default)]
    pub value: Value,
    #[serde(default)]
    pub group_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    #[serde(default)]
    pub trigger: Option<Trigger>,
    #[serde(default)]
    pub last_block: Option<BlockRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// TEXT_INPUT, CARD_BUTTON_MESSAGE, QUICKREPLY_BUTTON_BLOCK, … kept as text:
    /// Kakao adds kinds.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub referrer_block: Option<BlockRef>,
}

/// `null` where a default is wanted (Kakao sends `"clientExtra": null`).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string as itself, a number or boolean as its text; nothing for the rest.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
