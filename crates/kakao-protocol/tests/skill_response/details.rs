//! What the boundary tests in `limits.rs` did not pin (each was a missed
//! mutant of `skill::limits`): the words of each rule, the checked bytes,
//! a thumbnail's own rules, an item card's 2:1 image and its 12 lines.

use kakao_protocol::skill::{
    SkillResponse,
    components::{BasicCard, ItemCard, Thumbnail},
    limits::{Rule, Violation},
};

const IMG: &str = "https://example.com/a.jpg";

fn violations(response: &SkillResponse) -> Vec<Violation> {
    response.validate().err().map(|v| v.0).unwrap_or_default()
}

#[test]
fn each_rule_says_what_is_wrong_in_words() {
    let said = [
        (Rule::Required, "is required"),
        (
            Rule::TooLong {
                max: 50,
                actual: 51,
            },
            "is 51 characters; at most 50",
        ),
        (
            Rule::TooManyLines {
                max: 12,
                actual: 13,
            },
            "is 13 lines; at most 12",
        ),
        (
            Rule::TooMany { max: 3, actual: 4 },
            "has 4 entries; at most 3",
        ),
        (
            Rule::TooFew { min: 1, actual: 0 },
            "has 0 entries; at least 1",
        ),
    ];
    for (rule, words) in said {
        assert_eq!(rule.to_string(), words);
    }
    let found = SkillResponse::text("").validate().unwrap_err();
    assert_eq!(
        found.to_string(),
        "invalid SkillResponse: template.outputs[0].simpleText.text is required"
    );
}

#[test]
fn the_checked_json_is_the_responses_json() {
    let response = SkillResponse::text("안녕");
    let checked = response.to_checked_json().unwrap();
    assert_eq!(
        checked.into_bytes()[..],
        serde_json::to_vec(&response).unwrap()[..]
    );
}

#[test]
fn a_thumbnail_needs_an_http_url_and_a_short_alt_text() {
    let card = |thumbnail: Thumbnail| SkillResponse::new().output(BasicCard::new(thumbnail));
    let bad_url = violations(&card(Thumbnail::new("ftp://example.com/a.jpg")));
    assert_eq!(
        bad_url,
        vec![Violation {
            path: "template.outputs[0].basicCard.thumbnail.imageUrl".into(),
            rule: Rule::NotHttpUrl,
        }]
    );
    let long_alt = violations(&card(Thumbnail::new(IMG).alt_text("가".repeat(51))));
    assert_eq!(
        long_alt,
        vec![Violation {
            path: "template.outputs[0].basicCard.thumbnail.altText".into(),
            rule: Rule::TooLong {
                max: 50,
                actual: 51
            },
        }]
    );
}

#[test]
fn an_item_cards_image_is_2_to_1_or_square_and_its_text_12_lines() {
    let card = || ItemCard::new().item("항목", "내용");
    let one = |c: ItemCard| violations(&SkillResponse::new().output(c));
    assert!(one(card().thumbnail(Thumbnail::new(IMG).size(800, 400))).is_empty());
    assert_eq!(
        one(card().thumbnail(Thumbnail::new(IMG).size(800, 401))).len(),
        1
    );
    let lines = |n: usize| vec!["줄"; n].join("\n");
    assert!(one(card().title(lines(6)).description(lines(6))).is_empty());
    assert_eq!(
        one(card().title(lines(6)).description(lines(7))),
        vec![Violation {
            path: "template.outputs[0].itemCard.description".into(),
            rule: Rule::TooManyLines {
                max: 12,
                actual: 13
            },
        }]
    );
}
