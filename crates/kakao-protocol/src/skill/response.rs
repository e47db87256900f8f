//! SkillResponse v2.0: the envelope, quick replies, buttons and context values.
//! The card components are in [`super::components`]; Kakao's limits are checked
//! by [`SkillResponse::validate`] in [`super::limits`].
//!
//! Field names are exactly Kakao's (camelCase); absent options are omitted.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::components::{
    BasicCard, Carousel, CommerceCard, ItemCard, ListCard, SimpleImage, SimpleText, TextCard,
};

/// The only version OpenBuilder accepts; without it a reply is read as legacy v1.
pub const VERSION: &str = "2.0";

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillResponse {
    pub version: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub use_callback: bool,
    pub template: Option<SkillTemplate>,
    pub context: Option<ContextControl>,
    /// Values the block's own bubbles read as `webhook.<key>`.
    pub data: Option<Map<String, Value>>,
    /// Top-level extras; the KakaoTalk Bot API reads mentions from
    /// `extra.mentions` (see [`SkillResponse::mention`]).
    pub extra: Option<Map<String, Value>>,
}

impl Default for SkillResponse {
    fn default() -> Self {
        Self {
            version: VERSION.to_owned(),
            use_callback: false,
            template: None,
            context: None,
            data: None,
            extra: None,
        }
    }
}

impl SkillResponse {
    /// A KakaoTalk Bot API mention: write `{{#mentions.<key>}}` in a
    /// simpleText, and this maps `key` to the user (group, open and team
    /// chats only; at most 15).
    pub fn mention(mut self, key: impl Into<String>, bot_user_key: impl Into<String>) -> Self {
        let mentions = self
            .extra
            .get_or_insert_with(Map::new)
            .entry("mentions")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(mentions) = mentions {
            mentions.insert(
                key.into(),
                serde_json::json!({"type": "botUserKey", "id": bot_user_key.into()}),
            );
        }
        self
    }

    /// An empty v2.0 response; add outputs, quick replies, context or data.
    pub fn new() -> Self {
        Self::default()
    }

    /// One simpleText bubble.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new().output(SimpleText::new(text))
    }

    /// Long text as up to three simpleText bubbles split on line or sentence
    /// boundaries (see [`super::text::split_text`]).
    pub fn long_text(text: &str) -> Self {
        super::text::split_text(text)
            .into_iter()
            .fold(Self::new(), |response, part| {
                response.output(SimpleText::new(part))
            })
    }

    /// The immediate answer in callback mode: `useCallback` with the waiting
    /// text as `data.text` (bind `webhook.text` in the block's waiting message).
    pub fn callback_pending(waiting_text: impl Into<String>) -> Self {
        Self {
            use_callback: true,
            ..Self::new()
        }
        .data("text", waiting_text.into())
    }

    pub fn output(mut self, component: impl Into<Component>) -> Self {
        self.template_mut().outputs.push(component.into());
        self
    }

    pub fn quick_reply(mut self, quick_reply: QuickReply) -> Self {
        self.template_mut().quick_replies.push(quick_reply);
        self
    }

    pub fn context(mut self, value: ContextValue) -> Self {
        self.context
            .get_or_insert_with(ContextControl::default)
            .values
            .push(value);
        self
    }

    pub fn data(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.data
            .get_or_insert_with(Map::new)
            .insert(key.into(), value.into());
        self
    }

    fn template_mut(&mut self) -> &mut SkillTemplate {
        self.template.get_or_insert_with(SkillTemplate::default)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillTemplate {
    #[serde(default)]
    pub outputs: Vec<Component>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quick_replies: Vec<QuickReply>,
}

/// One output bubble: serialized as an object with exactly one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Component {
    SimpleText(SimpleText),
    SimpleImage(SimpleImage),
    TextCard(TextCard),
    BasicCard(BasicCard),
    CommerceCard(CommerceCard),
    ListCard(ListCard),
    ItemCard(ItemCard),
    Carousel(Carousel),
}

macro_rules! into_component {
    ($($kind:ident),*) => {$(
        impl From<$kind> for Component {
            fn from(component: $kind) -> Self {
                Component::$kind(component)
            }
        }
    )*};
}
into_component!(
    SimpleText,
    SimpleImage,
    TextCard,
    BasicCard,
    CommerceCard,
    ListCard,
    ItemCard,
    Carousel
);

/// Generates `fn field(self, value: impl Into<String>) -> Self` setters for
/// `Option<String>` fields.
macro_rules! text_setters {
    ($($field:ident),* $(,)?) => {$(
        pub fn $field(mut self, value: impl Into<String>) -> Self {
            self.$field = Some(value.into());
            self
        }
    )*};
}
pub(crate) use text_setters;

/// What a button does. OpenBuilder's six, the Bot API's own, and any other
/// Kakao adds later, kept as sent ([`ButtonAction::Other`]): reading a
/// response never fails on an action this version does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonAction {
    WebLink,
    Message,
    Phone,
    Block,
    Share,
    /// Hands the chat to a human (상담톡 plugin).
    Operator,
    /// Bot API: invites friends to the chat.
    Invite,
    /// Bot API: invites members.
    InviteMember,
    /// Bot API: fills the bot's mention into the input box.
    Mention,
    /// Bot API: opens the chat's settings.
    Settings,
    /// Bot API: opens the bot's guide.
    Guide,
    /// An action this version does not know, as sent.
    Other(String),
}

impl ButtonAction {
    const KNOWN: [(&'static str, ButtonAction); 11] = [
        ("webLink", ButtonAction::WebLink),
        ("message", ButtonAction::Message),
        ("phone", ButtonAction::Phone),
        ("block", ButtonAction::Block),
        ("share", ButtonAction::Share),
        ("operator", ButtonAction::Operator),
        ("invite", ButtonAction::Invite),
        ("inviteMember", ButtonAction::InviteMember),
        ("mention", ButtonAction::Mention),
        ("settings", ButtonAction::Settings),
        ("guide", ButtonAction::Guide),
    ];

    /// The action's name on the wire (`webLink`, …).
    pub fn as_str(&self) -> &str {
        match self {
            ButtonAction::Other(name) => name,
            known => Self::KNOWN
                .iter()
                .find(|(_, action)| action == known)
                .map_or("", |(name, _)| name),
        }
    }

    pub fn parse(name: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|(known, _)| *known == name)
            .map_or_else(
                || ButtonAction::Other(name.to_owned()),
                |(_, action)| action.clone(),
            )
    }
}

impl Serialize for ButtonAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ButtonAction {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(Self::parse(&name))
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Button {
    pub label: String,
    pub action: ButtonAction,
    pub web_link_url: Option<String>,
    pub message_text: Option<String>,
    pub phone_number: Option<String>,
    pub block_id: Option<String>,
    /// Reaches the next skill request as `action.clientExtra`.
    pub extra: Option<Map<String, Value>>,
}

impl Button {
    fn new(label: impl Into<String>, action: ButtonAction) -> Self {
        Self {
            label: label.into(),
            action,
            web_link_url: None,
            message_text: None,
            phone_number: None,
            block_id: None,
            extra: None,
        }
    }

    pub fn web_link(label: impl Into<String>, url: impl Into<String>) -> Self {
        Self::new(label, ButtonAction::WebLink).web_link_url(url)
    }

    /// Sends `text` as the user's utterance.
    pub fn message(label: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(label, ButtonAction::Message).message_text(text)
    }

    pub fn phone(label: impl Into<String>, number: impl Into<String>) -> Self {
        Self::new(label, ButtonAction::Phone).phone_number(number)
    }

    /// Runs the block; `message_text` (or the label) shows as the utterance.
    pub fn block(label: impl Into<String>, block_id: impl Into<String>) -> Self {
        Self::new(label, ButtonAction::Block).block_id(block_id)
    }

    pub fn share(label: impl Into<String>) -> Self {
        Self::new(label, ButtonAction::Share)
    }

    pub fn operator(label: impl Into<String>) -> Self {
        Self::new(label, ButtonAction::Operator)
    }

    text_setters!(web_link_url, message_text, phone_number, block_id);

    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra
            .get_or_insert_with(Map::new)
            .insert(key.into(), value.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum QuickReplyAction {
    Message,
    Block,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuickReply {
    pub label: String,
    pub action: QuickReplyAction,
    pub message_text: Option<String>,
    pub block_id: Option<String>,
    pub extra: Option<Map<String, Value>>,
}

impl QuickReply {
    /// Sends `text` as the utterance (entities are not extracted from quick replies).
    pub fn message(label: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            action: QuickReplyAction::Message,
            message_text: Some(text.into()),
            block_id: None,
            extra: None,
        }
    }

    /// Always runs the block, skipping slot filling.
    pub fn block(label: impl Into<String>, block_id: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            action: QuickReplyAction::Block,
            message_text: None,
            block_id: Some(block_id.into()),
            extra: None,
        }
    }

    text_setters!(message_text);

    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra
            .get_or_insert_with(Map::new)
            .insert(key.into(), value.into());
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextControl {
    pub values: Vec<ContextValue>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextValue {
    pub name: String,
    /// How many block runs the context lives; 0 deletes it.
    pub life_span: u32,
    pub ttl: Option<u32>,
    /// Kakao takes string values only.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub params: Map<String, Value>,
}

impl ContextValue {
    pub fn new(name: impl Into<String>, life_span: u32) -> Self {
        Self {
            name: name.into(),
            life_span,
            ttl: None,
            params: Map::new(),
        }
    }

    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = Some(seconds);
        self
    }

    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(key.into(), Value::String(value.into()));
        self
    }
}
