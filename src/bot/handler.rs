//! The `BotHandler` trait Rust bots implement, and the Bot API's own rules
//! for a reply on top of OpenBuilder's limits.

use std::future::Future;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::event::BotEvent;
use crate::skill::{
    SkillResponse,
    limits::{Rule, Violation, Violations},
    response::Component,
};

/// Answers chatroom events. `Ok(None)`: no reply. An error, a panic, a
/// handler still running at `KAKAO_BOT_HANDLER_DEADLINE_MS` or a reply that
/// breaks Kakao's limits is logged and the fallback text goes instead.
///
/// The reply is sent through a durable job, so a crash after the event was
/// acknowledged does not lose it: the job runs again when the service is
/// back. The handler may therefore run more than once for one event (when the
/// crash came after it ran and before its reply was sent): make it safe to
/// repeat, or cheap.
#[async_trait]
pub trait BotHandler: Send + Sync + 'static {
    async fn handle(&self, event: BotEvent) -> anyhow::Result<Option<SkillResponse>>;

    /// The event with the frame it came in: `t` and `d` as stored (`d.id`
    /// exact; the callback token left out). A handler that forwards events
    /// as they came overrides this; the default calls [`BotHandler::handle`].
    async fn handle_frame(
        &self,
        t: &str,
        d: &Map<String, Value>,
        event: BotEvent,
    ) -> anyhow::Result<Option<SkillResponse>> {
        let _ = (t, d);
        self.handle(event).await
    }
}

/// Any `async fn(BotEvent) -> anyhow::Result<Option<SkillResponse>>` is a handler.
#[async_trait]
impl<F, Fut> BotHandler for F
where
    F: Fn(BotEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Option<SkillResponse>>> + Send + 'static,
{
    async fn handle(&self, event: BotEvent) -> anyhow::Result<Option<SkillResponse>> {
        self(event).await
    }
}

/// Most mentions in one reply.
pub const MAX_MENTIONS: usize = 15;

/// Where a reply goes: the Bot API renders some components only in some rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// A channel (1:1) chat.
    Channel,
    /// A group, open or team chat.
    Group,
}

/// Checks `response` for `room`: OpenBuilder's limits, then the Bot API's
/// (carousels only in channel chats; mentions only in group rooms, at most 15,
/// each placeholder mapped). Quick replies in a group room are not a
/// violation but Kakao does not show them: a warning.
pub fn check_reply(response: &SkillResponse, room: Room) -> (Result<(), Violations>, Vec<String>) {
    let mut violations = response.validate().err().map(|v| v.0).unwrap_or_default();
    let mut warnings = Vec::new();
    let outputs = response
        .template
        .as_ref()
        .map(|t| t.outputs.as_slice())
        .unwrap_or_default();
    let mentions = response
        .extra
        .as_ref()
        .and_then(|extra| extra.get("mentions"))
        .and_then(Value::as_object);
    let fail = |path: String, rule: Rule| Violation { path, rule };
    for (i, output) in outputs.iter().enumerate() {
        match output {
            Component::Carousel(_) if room == Room::Group => violations.push(fail(
                format!("template.outputs[{i}].carousel"),
                Rule::Invalid("a carousel is shown only in channel chats"),
            )),
            Component::SimpleText(text) => {
                let path = format!("template.outputs[{i}].simpleText.text");
                for key in mention_keys(&text.text) {
                    if room == Room::Channel {
                        violations.push(fail(
                            path.clone(),
                            Rule::Invalid("mentions are not supported in channel chats"),
                        ));
                        break;
                    }
                    if !mentions.is_some_and(|m| m.contains_key(key)) {
                        violations.push(fail(
                            path.clone(),
                            Rule::Invalid("names a mention key that extra.mentions does not map"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(mentions) = mentions {
        if room == Room::Channel && !mentions.is_empty() {
            violations.push(fail(
                "extra.mentions".into(),
                Rule::Invalid("mentions are not supported in channel chats"),
            ));
        }
        if mentions.len() > MAX_MENTIONS {
            violations.push(fail(
                "extra.mentions".into(),
                Rule::TooMany {
                    max: MAX_MENTIONS,
                    actual: mentions.len(),
                },
            ));
        }
    }
    let quick_replies = response
        .template
        .as_ref()
        .map_or(0, |t| t.quick_replies.len());
    if room == Room::Group && quick_replies > 0 {
        warnings.push("quick replies are not shown in group rooms; use card buttons".into());
    }
    let result = if violations.is_empty() {
        Ok(())
    } else {
        Err(Violations(violations))
    };
    (result, warnings)
}

/// The keys of `{{#mentions.key}}` placeholders in `text`.
fn mention_keys(text: &str) -> impl Iterator<Item = &str> {
    text.split("{{#mentions.")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}").map(|(key, _)| key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skill::components::{Carousel, CarouselItems, TextCard};
    use crate::skill::response::QuickReply;

    #[test]
    fn a_carousel_is_refused_outside_channel_chats() {
        let response = SkillResponse::new().output(Carousel::new(CarouselItems::TextCard(vec![
            TextCard::new().title("a"),
        ])));
        assert!(check_reply(&response, Room::Channel).0.is_ok());
        let err = check_reply(&response, Room::Group).0.unwrap_err();
        assert_eq!(err.0[0].path, "template.outputs[0].carousel");
    }

    #[test]
    fn mentions_need_a_mapping_a_group_room_and_at_most_fifteen() {
        let mapped = SkillResponse::text("{{#mentions.u1}} 안녕").mention("u1", "key1");
        assert!(check_reply(&mapped, Room::Group).0.is_ok());
        assert!(check_reply(&mapped, Room::Channel).0.is_err());
        let unmapped = SkillResponse::text("{{#mentions.u2}} 안녕").mention("u1", "key1");
        assert!(check_reply(&unmapped, Room::Group).0.is_err());
        let many = (0..16).fold(SkillResponse::text("hi"), |r, n| {
            r.mention(format!("u{n}"), "k")
        });
        let err = check_reply(&many, Room::Group).0.unwrap_err();
        assert!(err.0.iter().any(|v| v.path == "extra.mentions"));
    }

    #[test]
    fn quick_replies_in_a_group_room_only_warn() {
        let response = SkillResponse::text("x").quick_reply(QuickReply::message("a", "a"));
        let (result, warnings) = check_reply(&response, Room::Group);
        assert!(result.is_ok());
        assert_eq!(warnings.len(), 1);
        assert!(check_reply(&response, Room::Channel).1.is_empty());
    }
}
