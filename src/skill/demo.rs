//! The demo bot the binary ships: an echo, and a menu that shows the main
//! components. Replace it with your own [`SkillHandler`](super::SkillHandler); see `examples/`.

use super::{
    components::{
        BasicCard, Carousel, CarouselItems, CommerceCard, ItemCard, Link, ListCard, ListItem,
        Thumbnail,
    },
    handler::SkillRouter,
    request::SkillRequest,
    response::{Button, QuickReply, SkillResponse},
};

const IMAGE: &str = "https://t1.kakaocdn.net/openbuilder/sample/img_001.jpg";

/// Routes "메뉴"/"menu" to the menu, block "카드" to a card carousel,
/// and everything else to the echo.
pub fn demo_bot() -> SkillRouter {
    SkillRouter::new()
        .block_name("메뉴", |_req: SkillRequest| async { Ok(menu()) })
        .block_name("카드", |_req: SkillRequest| async { Ok(cards()) })
        .fallback(|req: SkillRequest| async move { Ok(echo(&req)) })
}

fn echo(request: &SkillRequest) -> SkillResponse {
    let utterance = request.user_request.utterance.trim();
    match utterance {
        "메뉴" | "menu" => menu(),
        "카드" | "cards" => cards(),
        "" => SkillResponse::text("무엇이든 말씀해 주세요."),
        text => SkillResponse::long_text(&format!("말씀하신 내용: {text}"))
            .quick_reply(QuickReply::message("메뉴", "메뉴")),
    }
}

fn menu() -> SkillResponse {
    SkillResponse::new()
        .output(
            ListCard::new("무엇을 도와드릴까요?")
                .item(
                    ListItem::new("카드 보기")
                        .description("여러 카드를 캐러셀로 보여드려요")
                        .on_press_message("카드"),
                )
                .item(
                    ListItem::new("따라 말하기")
                        .description("보내신 말을 그대로 돌려드려요")
                        .on_press_message("안녕하세요"),
                )
                .item(
                    ListItem::new("카카오 i 오픈빌더")
                        .description("스킬 응답 형식 안내")
                        .link(Link::web(
                            "https://kakaobusiness.gitbook.io/main/tool/chatbot",
                        )),
                ),
        )
        .quick_reply(QuickReply::message("카드", "카드"))
}

fn cards() -> SkillResponse {
    let basic = |n: u32| {
        BasicCard::new(Thumbnail::new(IMAGE).alt_text(format!("예시 이미지 {n}")))
            .title(format!("기본 카드 {n}"))
            .description("제목, 설명, 썸네일과 버튼")
            .button(Button::message("선택", format!("{n}번 선택")))
            .button(Button::web_link("자세히", "https://www.kakao.com"))
    };
    SkillResponse::new()
        .output(Carousel::new(CarouselItems::BasicCard(vec![
            basic(1),
            basic(2),
        ])))
        .output(
            CommerceCard::new(10_000, Thumbnail::new(IMAGE))
                .title("상품")
                .description("할인 중")
                .discount_rate(10, 9_000)
                .button(Button::web_link("구매하기", "https://www.kakao.com")),
        )
        .output(
            ItemCard::new()
                .head("주문 내역")
                .item("상품", "예시 상품")
                .item("수량", "1개")
                .summary("합계", "9,000원"),
        )
        .quick_reply(QuickReply::message("메뉴", "메뉴"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_response_is_valid() {
        for response in [menu(), cards(), SkillResponse::text("x")] {
            response
                .validate()
                .expect("demo responses respect Kakao's limits");
        }
    }
}
