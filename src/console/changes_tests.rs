//! The words for each of the 16 SET event types, each admin-key event and
//! each bot event, with their payload and with it erased.

use serde_json::{Value, json};

use super::*;

const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const OAUTH: &str = "https://schemas.openid.net/secevent/oauth/event-type/";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const KAKAO: &str = "https://schemas.kakao.com/platevent/kakao/event-type/";

fn stored(source: &str, event_type: &str, payload: Value) -> StoredEvent {
    StoredEvent {
        event_id: 1,
        source: source.into(),
        dedupe_key: "k".into(),
        event_type: event_type.into(),
        user_id: Some("1234".into()),
        event_time: None,
        received_at: 0,
        payload: payload.to_string(),
        applied_at: Some(0),
        payload_erased_at: None,
        unapplied_reason: None,
        changed_nothing: Some(false),
    }
}

/// A stored SET carrying one event `uri` with `body`, about user 1234.
fn set(event_type: &str, uri: String, body: Value) -> StoredEvent {
    let payload = json!({"kid": "dev-key", "claims": {
        "iss": "https://kauth.kakao.com", "aud": "app", "sub": "1234",
        "iat": 1_700_000_000, "jti": "j", "events": {uri: body}
    }});
    stored("security_event", event_type, payload)
}

fn words(event: &StoredEvent) -> (String, String) {
    let w = what_changed(event, Some(2));
    (w.ko, w.en)
}

#[test]
fn each_of_the_sixteen_set_types_is_said_in_korean_and_english() {
    let email = json!({"subject": {"subject_type": "email", "email": "old@example.com"}});
    let cases: [(&str, String, Value, &str, &str); 16] = [
        (
            "tokens-revoked",
            format!("{OAUTH}tokens-revoked"),
            json!({}),
            "토큰 폐기, 세션 2개 종료",
            "tokens revoked, 2 sessions ended",
        ),
        (
            "user-linked",
            format!("{KAKAO}user-linked"),
            json!({}),
            "앱 연결",
            "linked to the app",
        ),
        (
            "user-unlinked",
            format!("{KAKAO}user-unlinked"),
            json!({"reason": "UNLINK_FROM_APPS"}),
            "앱 연결 해제: UNLINK_FROM_APPS",
            "unlinked from the app: UNLINK_FROM_APPS",
        ),
        (
            "user-scope-consent",
            format!("{KAKAO}user-scope-consent"),
            json!({"scope": "talk_message friends"}),
            "동의 항목 추가: talk_message, friends",
            "scopes consented: talk_message, friends",
        ),
        (
            "user-scope-withdraw",
            format!("{KAKAO}user-scope-withdraw"),
            json!({"scope": "talk_message"}),
            "동의 항목 철회: talk_message",
            "scopes withdrawn: talk_message",
        ),
        (
            "account-credential-change-required",
            format!("{RISC}account-credential-change-required"),
            json!({}),
            "비밀번호 변경 필요 표시",
            "marked: credential change required",
        ),
        (
            "account-disabled",
            format!("{RISC}account-disabled"),
            json!({"reason": "hijacking"}),
            "계정 정지: hijacking",
            "account disabled: hijacking",
        ),
        (
            "account-enabled",
            format!("{RISC}account-enabled"),
            json!({}),
            "계정 정지 해제",
            "account enabled",
        ),
        (
            "account-purged",
            format!("{RISC}account-purged"),
            json!({}),
            "카카오 계정 삭제: 개인정보를 지움",
            "Kakao account deleted: personal data erased",
        ),
        (
            "credential-compromise",
            format!("{RISC}credential-compromise"),
            json!({"credential_type": "password"}),
            "자격 증명 유출 의심 표시: password",
            "marked: credential compromised: password",
        ),
        (
            "identifier-changed",
            format!("{RISC}identifier-changed"),
            email.clone(),
            "이메일 변경",
            "email changed",
        ),
        (
            "identifier-recycled",
            format!("{RISC}identifier-recycled"),
            json!({"subject": {"subject_type": "phone", "phone_number": "+82 10-1234-5678"}}),
            "전화번호가 다른 사람에게 재사용됨: 이전 사용자에게서 지움",
            "phone number recycled to someone else: removed from its previous user",
        ),
        (
            "sessions-revoked",
            format!("{RISC}sessions-revoked"),
            json!({}),
            "세션 2개 종료",
            "2 sessions ended",
        ),
        (
            "assurance-level-change",
            format!("{CAEP}assurance-level-change"),
            json!({"current_level": "aal2", "previous_level": "aal1"}),
            "인증 수준 변경: aal1 → aal2",
            "assurance level changed: aal1 → aal2",
        ),
        (
            "credential-change",
            format!("{CAEP}credential-change"),
            json!({"credential_type": "password", "change_type": "update"}),
            "자격 증명 변경: password, update",
            "credential changed: password, update",
        ),
        (
            "user-profile-changed",
            format!("{KAKAO}user-profile-changed"),
            json!({}),
            "프로필 변경: 새로 가져오기",
            "profile changed: to be fetched again",
        ),
    ];
    for (event_type, uri, body, ko, en) in cases {
        let event = set(event_type, uri, body);
        assert_eq!(
            words(&event),
            (ko.to_owned(), en.to_owned()),
            "{event_type}"
        );
        // Erased, the type still says what kind of change it was, in Korean.
        let erased = StoredEvent {
            payload: "null".into(),
            ..event
        };
        let (ko, _) = words(&erased);
        assert!(
            !ko.is_empty() && !ko.contains("모르는"),
            "{event_type} erased: {ko}"
        );
    }
}

#[test]
fn an_unknown_or_unapplied_set_says_it_was_stored_only() {
    let unknown = StoredEvent {
        unapplied_reason: Some(kakao_protocol::security_event::UNKNOWN_TYPE.into()),
        ..set(
            "https://example.com/new",
            "https://example.com/new".into(),
            json!({}),
        )
    };
    assert_eq!(
        words(&unknown).0,
        "적용하지 않음 (모르는 이벤트 종류), 저장만 함"
    );
    let older = StoredEvent {
        changed_nothing: Some(true),
        ..set("user-linked", format!("{KAKAO}user-linked"), json!({}))
    };
    assert!(words(&older).0.starts_with("앱 연결: 바뀐 것 없음"));
    assert!(words(&older).1.contains("changed nothing"));
}

#[test]
fn each_admin_key_event_is_said() {
    let unlink = stored(
        "unlink",
        "unlink",
        json!({"app_id": "1", "user_id": "1234", "referrer_type": "UNLINK_FROM_APPS"}),
    );
    assert_eq!(words(&unlink).0, "앱 연결 해제: UNLINK_FROM_APPS");
    assert_eq!(
        words(&stored("channel", "channel.added", json!({}))).0,
        "채널 추가"
    );
    assert_eq!(
        words(&stored("channel", "channel.blocked", json!({}))),
        ("채널 차단".into(), "blocked the channel".into())
    );
    assert_eq!(
        words(&stored("share", "share.delivered", json!({}))).0,
        "카카오톡 공유 메시지 전송됨"
    );
    assert_eq!(
        words(&stored("app", "user.erased", json!({}))).0,
        "앱의 요청으로 개인정보 삭제"
    );
}

#[test]
fn each_bot_event_is_said() {
    for (t, ko) in [
        ("MESSAGE_CREATE", "메시지 받음: 답장 대기"),
        ("ENTRANCE", "봇이 방에 들어감"),
        ("CHAT_JOIN", "사용자가 방에 들어옴"),
        ("LEAVE", "봇이 방에서 나감"),
        ("AD_REWARD", "광고 보상"),
        (
            "SOMETHING_NEW",
            "모르는 봇 이벤트 (SOMETHING_NEW), 저장만 함",
        ),
    ] {
        assert_eq!(words(&stored("bot", t, json!({}))).0, ko);
    }
}
