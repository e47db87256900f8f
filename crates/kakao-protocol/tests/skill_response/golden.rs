//! Each of Kakao's documented examples (tests/fixtures/kakao_examples), built
//! with our builders, must serialize to exactly that JSON; read back, it must
//! pass validation and serialize unchanged.

use kakao_protocol::skill::{
    SkillResponse,
    components::{
        BasicCard, ButtonLayout, Carousel, CarouselHeader, CarouselItems, CommerceCard, ImageTitle,
        ItemCard, ItemListAlignment, Link, ListCard, ListItem, Profile, SimpleImage, SimpleText,
        TextCard, Thumbnail,
    },
    response::{Button, ContextValue, QuickReply},
};
use serde_json::Value;

const IMG: &str = "https://t1.kakaocdn.net/openbuilder/sample/lj3JUcmrzC53YIjNDkqbWK.jpg";
const PROFILE_IMG: &str = "https://encrypted-tbn0.gstatic.com/images?q=tbn:ANd9GcT4BJ9LU4Ikr_EvZLmijfcjzQKMRCJ2bO3A8SVKNuQ78zu2KOqM";
const STORE: &str = "https://store.kakaofriends.com/kr/products/1542";

fn example(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/kakao_examples/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists"))
        .expect("fixture is JSON")
}

/// The builder output equals the example, and the example round-trips.
fn assert_matches_example(name: &str, built: SkillResponse) {
    assert_matches_example_except(name, built, &[]);
}

/// Like [`assert_matches_example`] for the examples of Kakao's guide that break
/// the guide's own limits: validation reports exactly `broken` (paths).
fn assert_matches_example_except(name: &str, built: SkillResponse, broken: &[&str]) {
    let expected = example(name);
    assert_eq!(
        serde_json::to_value(&built).unwrap(),
        expected,
        "builder output differs from Kakao's {name} example"
    );
    let parsed: SkillResponse = serde_json::from_value(expected.clone()).unwrap();
    let found: Vec<String> = parsed
        .validate()
        .err()
        .map(|v| v.0.into_iter().map(|v| v.path).collect())
        .unwrap_or_default();
    assert_eq!(found, broken, "violations in Kakao's {name} example");
    assert_eq!(serde_json::to_value(&parsed).unwrap(), expected);
}

fn treasure(n: &str) -> BasicCard {
    BasicCard::new(Thumbnail::new(IMG))
        .title(format!("보물상자{n}"))
        .description(format!("보물상자{n} 안에는 뭐가 있을까"))
        .button(Button::message("열어보기", "짜잔! 우리가 찾던 보물입니다"))
        .button(Button::web_link(
            "구경하기",
            "https://e.kakao.com/t/hello-ryan",
        ))
}

fn commerce_buttons(card: CommerceCard) -> CommerceCard {
    card.button(Button::web_link("구매하기", STORE))
        .button(Button::phone("전화하기", "354-86-00070"))
        .button(Button::share("공유하기"))
}

fn welcome_text_card() -> TextCard {
    TextCard::new()
        .title("챗봇 관리자센터에 오신 것을 환영합니다.")
        .description("챗봇 관리자센터로 챗봇을 제작해 보세요. \n카카오톡 채널과 연결하여, 이용자에게 챗봇 서비스를 제공할 수 있습니다.")
        .button(Button::web_link("소개 보러가기", "https://chatbot.kakao.com/docs/getting-started-overview/"))
        .button(Button::web_link("챗봇 만들러 가기", "https://chatbot.kakao.com/"))
}

fn menu_quick_replies(response: SkillResponse) -> SkillResponse {
    ["인기 메뉴", "최근 주문", "장바구니"]
        .into_iter()
        .fold(response, |r, m| r.quick_reply(QuickReply::message(m, m)))
}

#[test]
fn simple_text() {
    assert_matches_example(
        "simple_text",
        SkillResponse::text("간단한 텍스트 요소입니다."),
    );
}

#[test]
fn simple_image() {
    let image = SimpleImage::new(IMG).alt_text("보물상자가 모래사장 위에 놓여 있습니다");
    assert_matches_example("simple_image", SkillResponse::new().output(image));
}

#[test]
fn text_card_and_button_layout() {
    assert_matches_example(
        "text_card",
        SkillResponse::new().output(welcome_text_card()),
    );
    // "챗봇 만들러 가기" is 9 characters; side by side a label gets 8.
    let horizontal = welcome_text_card().button_layout(ButtonLayout::Horizontal);
    assert_matches_example_except(
        "button_layout",
        SkillResponse::new().output(horizontal),
        &["template.outputs[0].textCard.buttons[1].label"],
    );
}

#[test]
fn basic_card_and_forwardable() {
    assert_matches_example("basic_card", SkillResponse::new().output(treasure("")));
    let card = BasicCard::new(Thumbnail::new(IMG))
        .title("보물상자")
        .description("보물상자 안에는 뭐가 있을까")
        .profile(Profile::new("보물상자").image_url(PROFILE_IMG))
        .forwardable(true);
    assert_matches_example("forwardable", SkillResponse::new().output(card));
}

#[test]
fn commerce_card() {
    let card = commerce_buttons(
        CommerceCard::new(10_000, Thumbnail::new(IMG).link(Link::web(STORE)))
            .title("빈티지 목재 보물 상자 (Medium size)")
            .description("이 보물 상자 안에는 무엇이 들어있을까요?")
            .discount(1000)
            .profile(Profile::new("라이언 스토어").image_url(PROFILE_IMG)),
    );
    assert_matches_example("commerce_card", SkillResponse::new().output(card));
}

#[test]
fn list_card() {
    let block = "62654c249ac8ed78441532de";
    let card = ListCard::new("챗봇 관리자센터를 소개합니다.")
        .item(
            ListItem::new("챗봇 관리자센터")
                .description("새로운 AI의 내일과 일상의 변화")
                .image_url("https://t1.kakaocdn.net/openbuilder/sample/img_001.jpg")
                .link(Link::web("https://namu.wiki/w/%EB%9D%BC%EC%9D%B4%EC%96%B8(%EC%B9%B4%EC%B9%B4%EC%98%A4%ED%94%84%EB%A0%8C%EC%A6%88)")),
        )
        .item(
            ListItem::new("챗봇 관리자센터")
                .description("카카오톡 채널 챗봇 만들기")
                .image_url("https://t1.kakaocdn.net/openbuilder/sample/img_002.jpg")
                .on_press_block(block)
                .extra("key1", "value1")
                .extra("key2", "value2"),
        )
        .item(
            ListItem::new("Kakao i Voice Service")
                .description("보이스봇 / KVS 제휴 신청하기")
                .image_url("https://t1.kakaocdn.net/openbuilder/sample/img_003.jpg")
                .on_press_message("Kakao i Voice Service")
                .extra("key1", "value1")
                .extra("key2", "value2"),
        )
        .button(
            Button::block("구경가기", block)
                .extra("key1", "value1")
                .extra("key2", "value2"),
        );
    assert_matches_example("list_card", SkillResponse::new().output(card));
}

#[test]
fn item_card() {
    let entries = [
        ("Flight", "KE0605"),
        ("Boards", "8:50 AM"),
        ("Departs", "9:50 AM"),
        ("Terminal", "1"),
        ("Gate", "C24"),
    ];
    let card = entries
        .into_iter()
        .fold(ItemCard::new(), |card, (t, d)| card.item(t, d))
        .image_title(ImageTitle::new("DOFQTK").description("Boarding Number"))
        .title("")
        .description("")
        .thumbnail(
            Thumbnail::new("http://dev-mk.kakao.com/dn/bot/scripts/with_barcode_blue_1x1.png")
                .size(800, 800),
        )
        .profile(
            "AA Airline",
            Some("https://t1.kakaocdn.net/openbuilder/docs_image/aaairline.jpg".into()),
        )
        .alignment(ItemListAlignment::Right)
        .summary("Total", "$4,032.54")
        .button(Button::web_link(
            "View Boarding Pass",
            "https://namu.wiki/w/%EB%82%98%EC%97%B0(TWICE)",
        ))
        .button_layout(ButtonLayout::Vertical);
    // Item titles take 6 characters ("Departs" 7, "Terminal" 8), labels 14
    // ("View Boarding Pass" 18).
    assert_matches_example_except(
        "item_card",
        SkillResponse::new().output(card),
        &[
            "template.outputs[0].itemCard.itemList[2].title",
            "template.outputs[0].itemCard.itemList[3].title",
            "template.outputs[0].itemCard.buttons[0].label",
        ],
    );
}

#[test]
fn carousel_of_basic_cards() {
    let carousel = Carousel::new(CarouselItems::BasicCard(vec![
        treasure(""),
        treasure("2"),
        treasure("3"),
    ]));
    assert_matches_example("carousel_basic_card", SkillResponse::new().output(carousel));
}

#[test]
fn carousel_of_list_cards() {
    let menu = |header: &str, rows: [(&str, &str, u8); 4], more: &str| {
        rows.into_iter()
            .fold(ListCard::new(header), |card, (title, price, n)| {
                card.item(ListItem::new(title).description(price).image_url(format!(
                    "https://t1.kakaocdn.net/openbuilder/docs_image/02_img_0{n}.jpg"
                )))
            })
            .button(Button::message("더보기", more))
    };
    let carousel = Carousel::new(CarouselItems::ListCard(vec![
        menu(
            "샌드위치",
            [
                ("햄치즈", "4,500원", 1),
                ("베이컨 아보카도", "5,500원", 2),
                ("에그 포테이토", "5,300원", 3),
                ("갈릭 베이컨 토마토", "5,800원", 4),
            ],
            "샌드위치 더보기",
        ),
        menu(
            "커피",
            [
                ("아메리카노", "1,800원", 5),
                ("카페라떼", "2,000원", 6),
                ("카페모카", "2,500원", 7),
                ("소이라떼", "2,200원", 8),
            ],
            "커피 더보기",
        ),
    ]));
    let response = menu_quick_replies(SkillResponse::new().output(carousel));
    assert_matches_example("carousel_list_card", response);
}

#[test]
fn carousel_of_item_cards() {
    let reservation = |status: &str, image: &str, rows: [&str; 4], buttons: [&str; 2]| {
        let titles = ["매장명", "예약 일시", "예약 인원", "예약금"];
        let card = titles
            .into_iter()
            .zip(rows)
            .fold(ItemCard::new(), |card, (t, d)| card.item(t, d))
            .image_title(ImageTitle::new(status).image_url(image))
            .alignment(ItemListAlignment::Left);
        buttons
            .into_iter()
            .fold(card, |card, b| card.button(Button::message(b, b)))
    };
    let carousel = Carousel::new(CarouselItems::ItemCard(vec![
        reservation(
            "예약 완료",
            "https://t1.kakaocdn.net/openbuilder/docs_image/wine.jpg",
            [
                "판교 A스퀘어점",
                "2022.12.25, 19:30",
                "4명",
                "40,000원 (결제 완료)",
            ],
            ["예약 정보", "예약 취소"],
        ),
        reservation(
            "결제 대기",
            "https://t1.kakaocdn.net/openbuilder/docs_image/pizza.jpg",
            [
                "정자역점",
                "2022.12.25, 19:25",
                "3명",
                "30,000원 (결제 대기)",
            ],
            ["예약 취소", "결제"],
        ),
    ]));
    let response = SkillResponse::new()
        .output(SimpleText::new(
            "총 2개의 예약 내역이 있습니다. 취소할 예약을 선택해 주세요.",
        ))
        .output(carousel);
    assert_matches_example("carousel_item_card", menu_quick_replies(response));
}

#[test]
fn carousel_with_header() {
    let item = || {
        commerce_buttons(
            CommerceCard::new(10_000, Thumbnail::new(IMG).link(Link::web(STORE)))
                .description("따끈따끈한 보물 상자 팝니다")
                .discount(1000)
                .profile(Profile::new("보물상자 팝니다").image_url(PROFILE_IMG)),
        )
    };
    let carousel =
        Carousel::new(CarouselItems::CommerceCard(vec![item(), item()])).header(CarouselHeader {
            title: "커머스 카드\n케로셀 헤드 예제".into(),
            description: "케로셀 헤드 예제입니다.".into(),
            thumbnail: Thumbnail::new(IMG),
        });
    assert_matches_example("carousel_header", SkillResponse::new().output(carousel));
}

#[test]
fn context_values() {
    let response = SkillResponse::new()
        .context(
            ContextValue::new("abc", 10)
                .ttl(60)
                .param("key1", "val1")
                .param("key2", "val2"),
        )
        .context(
            ContextValue::new("def", 5)
                .param("key3", "1")
                .param("key4", "true")
                .param("key5", r#"{"jsonKey": "jsonVal"}"#),
        )
        .context(ContextValue::new("ghi", 0));
    assert_matches_example("context", response);
}

#[test]
fn callback_acknowledgement_has_kakaos_shape() {
    let ack = SkillResponse::callback_pending("생각하고 있는 중이에요");
    assert_eq!(
        serde_json::to_value(&ack).unwrap(),
        serde_json::json!({"version": "2.0", "useCallback": true, "data": {"text": "생각하고 있는 중이에요"}})
    );
    ack.validate().unwrap();
}
