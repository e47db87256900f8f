//! Each documented limit: the limit itself is accepted, one past it is
//! rejected with a violation naming the field and the rule.

use kakao_protocol::skill::{
    SkillResponse,
    components::{
        BasicCard, ButtonLayout, Carousel, CarouselHeader, CarouselItems, CommerceCard, ImageTitle,
        ItemCard, ListCard, ListItem, SimpleImage, SimpleText, TextCard, Thumbnail,
    },
    limits::{MAX_RESPONSE_BYTES, Rule, Violation},
    response::{Button, ContextValue, QuickReply},
};

const IMG: &str = "https://example.com/a.jpg";

/// What `validate` finds, checked to be what the serving path's
/// `to_checked_json` finds on the bytes it sends.
fn violations(response: &SkillResponse) -> Vec<Violation> {
    let found = response.validate().err().map(|v| v.0).unwrap_or_default();
    match response.to_checked_json() {
        Ok(json) => {
            assert!(found.is_empty(), "sent despite {found:?}");
            assert_eq!(json.bytes()[..], serde_json::to_vec(response).unwrap()[..]);
        }
        Err(sent) => assert_eq!(sent.0, found),
    }
    found
}

/// `build(limit)` validates; `build(limit + 1)` fails at `path` with `rule`.
fn boundary(
    limit: usize,
    path: &str,
    rule: impl Fn(usize) -> Rule,
    build: impl Fn(usize) -> SkillResponse,
) {
    let at_limit = violations(&build(limit));
    assert!(
        at_limit.is_empty(),
        "{path}: {limit} must be accepted, got {at_limit:?}"
    );
    let past = violations(&build(limit + 1));
    let expected = Violation {
        path: path.to_owned(),
        rule: rule(limit + 1),
    };
    assert_eq!(
        past,
        vec![expected],
        "{path}: {} must be rejected",
        limit + 1
    );
}

fn too_long(max: usize) -> impl Fn(usize) -> Rule {
    move |actual| Rule::TooLong { max, actual }
}

fn too_many(max: usize) -> impl Fn(usize) -> Rule {
    move |actual| Rule::TooMany { max, actual }
}

fn text(n: usize) -> String {
    "가".repeat(n)
}

fn single(component: impl Into<kakao_protocol::skill::response::Component>) -> SkillResponse {
    SkillResponse::new().output(component)
}

fn basic(n: usize) -> BasicCard {
    BasicCard::new(Thumbnail::new(IMG)).title(format!("카드 {n}"))
}

#[test]
fn outputs_and_quick_replies() {
    boundary(3, "template.outputs", too_many(3), |n| {
        (0..n).fold(SkillResponse::new(), |r, _| r.output(SimpleText::new("a")))
    });
    boundary(10, "template.quickReplies", too_many(10), |n| {
        (0..n).fold(SkillResponse::text("a"), |r, i| {
            r.quick_reply(QuickReply::message(format!("q{i}"), "q"))
        })
    });
    let mut empty = SkillResponse::text("a");
    empty.template.as_mut().unwrap().outputs.clear();
    assert_eq!(
        violations(&empty),
        vec![Violation {
            path: "template.outputs".into(),
            rule: Rule::TooFew { min: 1, actual: 0 }
        }]
    );
}

#[test]
fn simple_text_and_image() {
    boundary(
        1000,
        "template.outputs[0].simpleText.text",
        too_long(1000),
        |n| SkillResponse::text(text(n)),
    );
    boundary(
        50,
        "template.outputs[0].simpleImage.altText",
        too_long(50),
        |n| single(SimpleImage::new(IMG).alt_text(text(n))),
    );
    let bad_url = violations(&single(SimpleImage::new("ftp://example.com/a.jpg")));
    assert_eq!(bad_url[0].path, "template.outputs[0].simpleImage.imageUrl");
    assert_eq!(bad_url[0].rule, Rule::NotHttpUrl);
    assert_eq!(violations(&SkillResponse::text(""))[0].rule, Rule::Required);
}

#[test]
fn text_card() {
    boundary(
        50,
        "template.outputs[0].textCard.title",
        too_long(50),
        |n| single(TextCard::new().title(text(n))),
    );
    boundary(
        400,
        "template.outputs[0].textCard.description",
        too_long(400),
        |n| single(TextCard::new().description(text(n))),
    );
    boundary(
        128,
        "template.outputs[0].carousel.items[1].description",
        too_long(128),
        |n| {
            let cards = vec![
                TextCard::new().title("a"),
                TextCard::new().description(text(n)),
            ];
            single(Carousel::new(CarouselItems::TextCard(cards)))
        },
    );
    let empty = violations(&single(TextCard::new()));
    assert_eq!(empty[0].rule, Rule::Needs("title or description"));
}

#[test]
fn basic_card() {
    boundary(
        50,
        "template.outputs[0].basicCard.title",
        too_long(50),
        |n| single(basic(0).title(text(n))),
    );
    boundary(
        230,
        "template.outputs[0].basicCard.description",
        too_long(230),
        |n| single(basic(0).description(text(n))),
    );
    boundary(
        2,
        "template.outputs[0].carousel.items[0].description",
        |actual| Rule::TooManyLines { max: 2, actual },
        |n| {
            let lines = vec!["줄"; n].join("\n");
            single(Carousel::new(CarouselItems::BasicCard(vec![
                basic(0).description(lines),
            ])))
        },
    );
}

#[test]
fn commerce_card() {
    let card = || CommerceCard::new(1000, Thumbnail::new(IMG));
    boundary(
        30,
        "template.outputs[0].commerceCard.title",
        too_long(30),
        |n| single(card().title(text(n))),
    );
    boundary(
        40,
        "template.outputs[0].commerceCard.description",
        too_long(40),
        |n| single(card().description(text(n))),
    );
    boundary(
        1,
        "template.outputs[0].commerceCard.thumbnails",
        too_many(1),
        |n| {
            let mut c = card();
            c.thumbnails = vec![Thumbnail::new(IMG); n];
            single(c)
        },
    );
    let mut dollars = card();
    dollars.currency = Some("usd".into());
    assert_eq!(
        violations(&single(dollars))[0].path,
        "template.outputs[0].commerceCard.currency"
    );
    let mut rate_only = card();
    rate_only.discount_rate = Some(10);
    assert_eq!(
        violations(&single(rate_only))[0].rule,
        Rule::Needs("discountedPrice")
    );
}

#[test]
fn buttons_per_layout_and_labels() {
    let with_buttons = |n: usize, layout: Option<ButtonLayout>| {
        let mut card = TextCard::new().title("t");
        card.button_layout = layout;
        (0..n).fold(card, |c, i| c.button(Button::message(format!("b{i}"), "m")))
    };
    boundary(
        3,
        "template.outputs[0].textCard.buttons",
        too_many(3),
        |n| single(with_buttons(n, None)),
    );
    boundary(
        2,
        "template.outputs[0].textCard.buttons",
        too_many(2),
        |n| single(with_buttons(n, Some(ButtonLayout::Horizontal))),
    );
    // A square thumbnail lays buttons out side by side, unless buttonLayout says otherwise.
    boundary(
        2,
        "template.outputs[0].basicCard.buttons",
        too_many(2),
        |n| {
            let card = BasicCard::new(Thumbnail::new(IMG).fixed_ratio(true));
            single((0..n).fold(card, |c, _| c.button(Button::share("공유"))))
        },
    );
    boundary(
        14,
        "template.outputs[0].textCard.buttons[0].label",
        too_long(14),
        |n| single(TextCard::new().title("t").button(Button::share(text(n)))),
    );
    let required = |button: Button, field: &str| {
        let found = violations(&single(TextCard::new().title("t").button(button)));
        assert_eq!(
            found[0].path,
            format!("template.outputs[0].textCard.buttons[0].{field}")
        );
    };
    required(
        Button::web_link("열기", "javascript:alert(1)"),
        "webLinkUrl",
    );
    required(Button::phone("전화", ""), "phoneNumber");
    required(Button::block("이동", ""), "blockId");
}

#[test]
fn list_card() {
    let card = |n: usize| {
        (0..n).fold(ListCard::new("목록"), |c, i| {
            c.item(ListItem::new(format!("항목 {i}")))
        })
    };
    boundary(5, "template.outputs[0].listCard.items", too_many(5), |n| {
        single(card(n))
    });
    boundary(
        4,
        "template.outputs[0].carousel.items[0].items",
        too_many(4),
        |n| single(Carousel::new(CarouselItems::ListCard(vec![card(n)]))),
    );
    let empty = violations(&single(card(0)));
    assert_eq!(empty[0].rule, Rule::TooFew { min: 1, actual: 0 });
}

#[test]
fn carousels() {
    boundary(
        10,
        "template.outputs[0].carousel.items",
        too_many(10),
        |n| {
            single(Carousel::new(CarouselItems::BasicCard(
                (0..n).map(basic).collect(),
            )))
        },
    );
    boundary(5, "template.outputs[0].carousel.items", too_many(5), |n| {
        let card = ListCard::new("목록").item(ListItem::new("항목"));
        single(Carousel::new(CarouselItems::ListCard(vec![card; n])))
    });
    let mixed = Carousel::new(CarouselItems::BasicCard(vec![
        BasicCard::new(Thumbnail::new(IMG).fixed_ratio(true)),
        BasicCard::new(Thumbnail::new(IMG)),
    ]));
    assert_eq!(violations(&single(mixed))[0].rule, Rule::MixedImageRatios);
    let header = CarouselHeader {
        title: "제목".into(),
        description: "설명".into(),
        thumbnail: Thumbnail::new(IMG),
    };
    let text_with_header = Carousel::new(CarouselItems::TextCard(vec![TextCard::new().title("a")]))
        .header(header.clone());
    assert_eq!(
        violations(&single(text_with_header))[0].path,
        "template.outputs[0].carousel.header"
    );
    boundary(
        3,
        "template.outputs[0].carousel.header.description",
        |actual| Rule::TooManyLines { max: 3, actual },
        |n| {
            let header = CarouselHeader {
                description: vec!["줄"; n].join("\n"),
                ..header.clone()
            };
            single(Carousel::new(CarouselItems::BasicCard(vec![basic(0)])).header(header))
        },
    );
}

#[test]
fn item_card() {
    let card = |n: usize| (0..n).fold(ItemCard::new(), |c, i| c.item(format!("항목{i}"), "내용"));
    boundary(
        10,
        "template.outputs[0].itemCard.itemList",
        too_many(10),
        |n| single(card(n)),
    );
    boundary(
        5,
        "template.outputs[0].carousel.items[0].itemList",
        too_many(5),
        |n| single(Carousel::new(CarouselItems::ItemCard(vec![card(n)]))),
    );
    boundary(
        15,
        "template.outputs[0].itemCard.profile.title",
        too_long(15),
        |n| single(card(1).profile(text(n), None)),
    );
    boundary(
        200,
        "template.outputs[0].itemCard.title",
        too_long(200),
        |n| single(card(1).title(text(n / 2)).description(text(n - n / 2))),
    );
    boundary(
        100,
        "template.outputs[0].carousel.items[0].title",
        too_long(100),
        |n| {
            single(Carousel::new(CarouselItems::ItemCard(vec![
                card(1).title(text(n)),
            ])))
        },
    );
    boundary(
        14,
        "template.outputs[0].itemCard.itemListSummary.description",
        too_long(14),
        |n| single(card(1).summary("합계", "1".repeat(n))),
    );
    let one = |c: ItemCard| violations(&single(c));
    assert_eq!(
        one(card(1).head("헤드").profile("프로필", None))[0].rule,
        Rule::ExclusiveWith("profile")
    );
    assert_eq!(
        one(card(1).description("설명"))[0].rule,
        Rule::Needs("title")
    );
    assert_eq!(
        one(card(1).summary("합계", "3.141원")).len(),
        1,
        "two decimals at most"
    );
    assert_eq!(
        one(card(1).summary("합계", "abc")).len(),
        1,
        "currency characters only"
    );
    assert!(one(card(1).summary("합계", "₩12,345.67")).is_empty());
    assert_eq!(
        one(card(1).thumbnail(Thumbnail::new(IMG).size(800, 600))).len(),
        1
    );
    assert!(one(card(1).thumbnail(Thumbnail::new(IMG).size(800, 800))).is_empty());
    let square_in_carousel = Carousel::new(CarouselItems::ItemCard(vec![
        card(1).thumbnail(Thumbnail::new(IMG).size(800, 800)),
    ]));
    assert_eq!(
        violations(&single(square_in_carousel)).len(),
        1,
        "carousels take 2:1 only"
    );
    let uneven = Carousel::new(CarouselItems::ItemCard(vec![
        card(1).image_title(ImageTitle::new("제목")),
        card(1),
    ]));
    let found = violations(&single(uneven));
    assert_eq!(
        found[0].path,
        "template.outputs[0].carousel.items[*].imageTitle"
    );
    assert_eq!(found[0].rule, Rule::NotUniform);
}

#[test]
fn whole_response_size() {
    let base = SkillResponse::text("a").data("blob", "");
    let base_len = serde_json::to_vec(&base).unwrap().len();
    boundary(
        MAX_RESPONSE_BYTES - base_len,
        "",
        |n| Rule::TooLarge {
            max_bytes: MAX_RESPONSE_BYTES,
            actual: n + base_len,
        },
        |n| SkillResponse::text("a").data("blob", "x".repeat(n)),
    );
}

#[test]
fn envelope_rules() {
    let mut v1 = SkillResponse::text("a");
    v1.version = "1.0".into();
    assert_eq!(violations(&v1)[0].rule, Rule::UnsupportedVersion);
    let mut ack_with_template = SkillResponse::text("a");
    ack_with_template.use_callback = true;
    assert_eq!(violations(&ack_with_template)[0].path, "template");
    let mut block_reply = QuickReply::block("이동", "");
    block_reply.block_id = None;
    assert_eq!(
        violations(&SkillResponse::text("a").quick_reply(block_reply))[0].path,
        "template.quickReplies[0].blockId"
    );
    let mut context = ContextValue::new("c", 1);
    context.params.insert("n".into(), serde_json::json!(1));
    assert_eq!(
        violations(&SkillResponse::new().context(context))[0].path,
        "context.values[0].params"
    );
}

#[test]
fn every_violation_is_reported_not_just_the_first() {
    let response = SkillResponse::new()
        .output(SimpleText::new(text(1001)))
        .output(TextCard::new().title(text(51)));
    let paths: Vec<String> = violations(&response).into_iter().map(|v| v.path).collect();
    assert_eq!(
        paths,
        [
            "template.outputs[0].simpleText.text",
            "template.outputs[1].textCard.title"
        ]
    );
}

#[test]
fn side_by_side_labels_and_item_titles() {
    boundary(
        8,
        "template.outputs[0].textCard.buttons[1].label",
        too_long(8),
        |n| {
            let card = TextCard::new()
                .title("t")
                .button(Button::share("공유"))
                .button(Button::share(text(n)))
                .button_layout(ButtonLayout::Horizontal);
            single(card)
        },
    );
    boundary(
        6,
        "template.outputs[0].itemCard.itemList[0].title",
        too_long(6),
        |n| single(ItemCard::new().item(text(n), "내용")),
    );
}
