//! What Kakao may add tomorrow is read, kept and sent back as it came:
//! a response with an action this version does not know is still a
//! response, never an error or a panic.

use kakao_protocol::skill::{SkillResponse, response::ButtonAction};
use serde_json::{Value, json};

fn card_with_button(action: &str) -> Value {
    json!({"version": "2.0", "template": {"outputs": [{"basicCard": {
        "title": "카드", "thumbnail": {"imageUrl": "https://example.com/a.png"},
        "buttons": [{"label": "눌러 보세요", "action": action, "messageText": "안녕"}]
    }}]}})
}

#[test]
fn an_unknown_button_action_is_kept_as_sent_and_passes_the_limits() {
    let sent = card_with_button("addChannel");
    let response: SkillResponse = serde_json::from_value(sent.clone()).unwrap();
    assert!(response.validate().is_ok(), "{:?}", response.validate());
    assert_eq!(serde_json::to_value(&response).unwrap(), sent);
}

#[test]
fn the_bot_apis_own_button_actions_are_known() {
    for (name, action) in [
        ("invite", ButtonAction::Invite),
        ("inviteMember", ButtonAction::InviteMember),
        ("mention", ButtonAction::Mention),
        ("settings", ButtonAction::Settings),
        ("guide", ButtonAction::Guide),
        ("operator", ButtonAction::Operator),
        ("webLink", ButtonAction::WebLink),
    ] {
        assert_eq!(ButtonAction::parse(name), action);
        assert_eq!(action.as_str(), name);
    }
    assert_eq!(
        ButtonAction::parse("somethingNew"),
        ButtonAction::Other("somethingNew".into())
    );
}
