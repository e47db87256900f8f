//! The demo bot the binary ships: an echo, a card menu for `메뉴`, and a
//! greeting when let into a room. Replace it with your own [`BotHandler`].

use super::{event::BotEvent, handler::BotHandler};
use crate::skill::{
    SkillResponse,
    components::{ListCard, ListItem},
    response::Button,
};

pub fn demo_bot() -> impl BotHandler {
    |event: BotEvent| async move { Ok(reply(&event)) }
}

fn reply(event: &BotEvent) -> Option<SkillResponse> {
    match event {
        BotEvent::MessageCreate(message) => Some(match message.content.trim() {
            "메뉴" | "menu" => menu(),
            "" => SkillResponse::text("무엇이든 말씀해 주세요."),
            // The text verbatim (cut to Kakao's limit): what a user expects of an echo.
            _ => SkillResponse::long_text(&format!("말씀하신 내용: {}", message.content)),
        }),
        BotEvent::Entrance(entrance) if entrance.callback_token.is_some() => Some(
            SkillResponse::text("안녕하세요! 저를 불러 주셔서 고마워요. '메뉴'라고 말씀해 보세요."),
        ),
        _ => None,
    }
}

/// A list card: its item titles double as commands, since Kakao sends a
/// tapped item's title (not its messageText) to the bot.
fn menu() -> SkillResponse {
    SkillResponse::new().output(
        ListCard::new("무엇을 도와드릴까요?")
            .item(
                ListItem::new("메뉴")
                    .description("이 목록을 다시 보여드려요")
                    .on_press_message("메뉴"),
            )
            .item(
                ListItem::new("안녕하세요")
                    .description("보내신 말을 그대로 돌려드려요")
                    .on_press_message("안녕하세요"),
            )
            .button(Button::web_link(
                "봇 API 안내",
                "https://developers.kakao.com/docs/latest/ko/kakaotalk-bot/common",
            )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::handler::{Room, check_reply};

    #[test]
    fn every_demo_reply_is_valid_in_every_room() {
        for response in [menu(), SkillResponse::text("x")] {
            for room in [Room::Group, Room::Channel] {
                let (result, warnings) = check_reply(&response, room);
                result.expect("demo replies respect the Bot API's rules");
                assert!(warnings.is_empty());
            }
        }
    }
}
