//! What each of Kakao's 16 SET event types reads as: its type name, fields,
//! user and time; and what makes an authentic event unapplicable instead.
//! (These were missed mutants in `security_event::event`: the service's own
//! tests cover the types end to end, but this crate's behaviour is asserted
//! here, where it lives.)

use kakao_protocol::security_event::{
    Identifier, ParsedEvent, SecurityEvent, SetClaims, UNKNOWN_TYPE, parse,
};
use serde_json::{Value, json};

const ISSUER: &str = "https://kauth.kakao.com";
const OAUTH: &str = "https://schemas.openid.net/secevent/oauth/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const KAKAO: &str = "https://schemas.kakao.com/platevent/kakao/event-type/";
const IAT: i64 = 1_700_000_000;

fn claims(events: Value, extra: Value) -> SetClaims {
    let mut claims = json!({
        "iss": ISSUER, "aud": "rest-api-key", "iat": IAT, "jti": "j1", "events": events,
    });
    for (key, value) in extra.as_object().unwrap() {
        claims[key] = value.clone();
    }
    serde_json::from_value(claims).unwrap()
}

/// The one event of a SET whose top-level `sub` is 1234.
fn one(uri: &str, body: Value) -> ParsedEvent {
    let events = parse(
        &claims(json!({ uri: body }), json!({"sub": "1234"})),
        ISSUER,
    );
    assert_eq!(events.len(), 1);
    events.into_iter().next().unwrap()
}

fn user_subject() -> Value {
    json!({"subject_type": "iss-sub", "iss": ISSUER, "sub": "1234"})
}

#[test]
fn every_known_type_reads_as_itself_with_its_fields() {
    let cases: Vec<(String, Value, SecurityEvent, &str)> = vec![
        (
            format!("{OAUTH}tokens-revoked"),
            json!({"reason": "logout"}),
            SecurityEvent::TokensRevoked {
                reason: Some("logout".into()),
            },
            "tokens-revoked",
        ),
        (
            format!("{KAKAO}user-linked"),
            json!({}),
            SecurityEvent::UserLinked,
            "user-linked",
        ),
        (
            format!("{KAKAO}user-unlinked"),
            json!({"reason": "DELETED"}),
            SecurityEvent::UserUnlinked {
                reason: "DELETED".into(),
            },
            "user-unlinked",
        ),
        (
            format!("{KAKAO}user-unlinked"),
            json!({}),
            SecurityEvent::UserUnlinked {
                reason: "UNKNOWN".into(),
            },
            "user-unlinked",
        ),
        (
            format!("{KAKAO}user-scope-consent"),
            json!({"scope": "talk_message friends"}),
            SecurityEvent::UserScopeConsent {
                scopes: vec!["talk_message".into(), "friends".into()],
            },
            "user-scope-consent",
        ),
        (
            format!("{KAKAO}user-scope-withdraw"),
            json!({"scope": ["friends", 7, "email"]}),
            SecurityEvent::UserScopeWithdraw {
                scopes: vec!["friends".into(), "email".into()],
            },
            "user-scope-withdraw",
        ),
        (
            format!("{RISC}account-credential-change-required"),
            json!({}),
            SecurityEvent::AccountCredentialChangeRequired,
            "account-credential-change-required",
        ),
        (
            format!("{RISC}account-disabled"),
            json!({"reason": "hijacking"}),
            SecurityEvent::AccountDisabled {
                reason: Some("hijacking".into()),
            },
            "account-disabled",
        ),
        (
            format!("{RISC}account-enabled"),
            json!({}),
            SecurityEvent::AccountEnabled,
            "account-enabled",
        ),
        (
            format!("{RISC}account-purged"),
            json!({}),
            SecurityEvent::AccountPurged,
            "account-purged",
        ),
        (
            format!("{RISC}credential-compromise"),
            json!({"credential_type": "password"}),
            SecurityEvent::CredentialCompromise {
                credential_type: Some("password".into()),
            },
            "credential-compromise",
        ),
        (
            format!("{RISC}sessions-revoked"),
            json!({}),
            SecurityEvent::SessionsRevoked,
            "sessions-revoked",
        ),
        (
            format!("{CAEP}assurance-level-change"),
            json!({"current_level": "aal2", "previous_level": "aal1"}),
            SecurityEvent::AssuranceLevelChange {
                current_level: "aal2".into(),
                previous_level: Some("aal1".into()),
            },
            "assurance-level-change",
        ),
        (
            format!("{CAEP}credential-change"),
            json!({"credential_type": "password", "change_type": "update"}),
            SecurityEvent::CredentialChange {
                credential_type: Some("password".into()),
                change_type: Some("update".into()),
            },
            "credential-change",
        ),
        (
            format!("{KAKAO}user-profile-changed"),
            json!({}),
            SecurityEvent::UserProfileChanged,
            "user-profile-changed",
        ),
    ];
    for (uri, body, expected, name) in cases {
        let event = one(&uri, body.clone());
        assert_eq!(event.event, expected, "{uri} {body}");
        assert_eq!(event.type_name(), name);
        assert_eq!(event.uri, uri);
        assert_eq!(event.user_id.as_ref().map(|u| u.as_str()), Some("1234"));
        assert_eq!(event.unapplied_reason(), None, "{uri}");
    }
    // A body of null reads as an empty object.
    assert_eq!(
        one(&format!("{KAKAO}user-linked"), Value::Null).event,
        SecurityEvent::UserLinked
    );
}

#[test]
fn identifier_events_name_the_old_email_or_phone() {
    let changed = one(
        &format!("{RISC}identifier-changed"),
        json!({"subject": {"subject_type": "email", "email": "old@example.com"}, "new-value": "new@example.com"}),
    );
    assert_eq!(
        changed.event,
        SecurityEvent::IdentifierChanged {
            old: Identifier::Email("old@example.com".into()),
            new_value: Some("new@example.com".into())
        }
    );
    assert_eq!(changed.type_name(), "identifier-changed");
    let recycled = one(
        &format!("{RISC}identifier-recycled"),
        json!({"subject": {"format": "phone_number", "phone_number": "+82 10-0000-0000"}}),
    );
    assert_eq!(
        recycled.event,
        SecurityEvent::IdentifierRecycled {
            old: Identifier::Phone("+82 10-0000-0000".into())
        }
    );
    // Without a user at all, an identifier event still applies.
    let events = parse(
        &claims(
            json!({ format!("{RISC}identifier-recycled"): {"subject": {"subject_type": "phone", "phone": "010"}} }),
            json!({}),
        ),
        ISSUER,
    );
    assert_eq!(events[0].user_id, None);
    assert_eq!(events[0].unapplied_reason(), None);
}

fn unapplicable(event: &ParsedEvent) -> &str {
    match &event.event {
        SecurityEvent::Unapplicable { reason } => {
            assert_eq!(event.unapplied_reason(), Some(reason.as_str()));
            reason
        }
        other => panic!("expected unapplicable, got {other:?}"),
    }
}

#[test]
fn an_authentic_event_that_cannot_be_applied_is_kept_with_why() {
    let consent = format!("{KAKAO}user-scope-consent");
    assert!(unapplicable(&one(&consent, json!({"scope": "  "}))).contains("has no scope"));
    assert!(unapplicable(&one(&consent, json!({"scope": 7}))).contains("has no scope"));
    assert!(unapplicable(&one(&consent, json!({}))).contains("has no scope"));
    let level = format!("{CAEP}assurance-level-change");
    assert!(unapplicable(&one(&level, json!({}))).contains("no current_level"));
    let changed = format!("{RISC}identifier-changed");
    assert!(
        unapplicable(&one(&changed, json!({"subject": user_subject()}))).contains("email or phone")
    );
    assert!(unapplicable(&one(&consent, json!("text"))).contains("is not an object"));
    let odd = json!({"subject": {"subject_type": "opaque", "id": "x"}, "scope": "a"});
    assert!(unapplicable(&one(&consent, odd)).contains("\"opaque\""));
    let other_issuer = json!({"subject": {"subject_type": "iss-sub", "iss": "https://evil", "sub": "1234"}, "scope": "a"});
    assert!(unapplicable(&one(&consent, other_issuer)).contains("another issuer"));
    // The user is still told when the subject is readable.
    let missing_scope = one(&consent, json!({"subject": user_subject()}));
    assert_eq!(missing_scope.user_id.unwrap().as_str(), "1234");
}

#[test]
fn the_user_comes_from_the_subject_sub_id_or_sub_and_all_must_agree() {
    let uri = format!("{KAKAO}user-linked");
    let with =
        |extra: Value, body: Value| parse(&claims(json!({ &uri: body }), extra), ISSUER).remove(0);
    let from_subject = with(json!({}), json!({"subject": user_subject()}));
    assert_eq!(from_subject.user_id.unwrap().as_str(), "1234");
    let from_sub_id = with(
        json!({"sub_id": {"format": "iss_sub", "sub": "77"}}),
        json!({}),
    );
    assert_eq!(from_sub_id.user_id.unwrap().as_str(), "77");
    let agreeing = with(
        json!({"sub": "1234", "sub_id": {"format": "iss_sub", "sub": "1234"}}),
        json!({"subject": user_subject()}),
    );
    assert_eq!(agreeing.user_id.unwrap().as_str(), "1234");
    let disagreeing = with(
        json!({"sub": "1234", "sub_id": {"format": "iss_sub", "sub": "99"}}),
        json!({}),
    );
    assert!(unapplicable(&disagreeing).contains("different users"));
    assert_eq!(disagreeing.user_id, None);
    let nobody = with(json!({}), json!({}));
    assert!(unapplicable(&nobody).contains("names no user"));
    let bad_id = with(json!({"sub": "has space"}), json!({}));
    assert!(unapplicable(&bad_id).contains("subject"));
}

#[test]
fn an_unknown_type_is_kept_under_its_full_uri() {
    let uri = "https://schemas.example.com/event-type/new-thing";
    let event = one(uri, json!({"x": 1}));
    assert_eq!(
        event.event,
        SecurityEvent::Unknown {
            uri: uri.into(),
            payload: json!({"x": 1})
        }
    );
    assert_eq!(event.type_name(), uri);
    assert_eq!(event.unapplied_reason(), Some(UNKNOWN_TYPE));
    // A known name under an unknown base is unknown too.
    let elsewhere = one("https://example.com/user-linked", json!({}));
    assert_eq!(elsewhere.type_name(), "https://example.com/user-linked");
}

#[test]
fn the_time_is_the_events_timestamp_unless_far_after_iat() {
    let uri = format!("{KAKAO}user-linked");
    let at = |body: Value| one(&uri, body).time;
    // ms, at the end of the second.
    assert_eq!(at(json!({})), IAT * 1000 + 999);
    assert_eq!(
        at(json!({"event_timestamp": IAT - 60})),
        (IAT - 60) * 1000 + 999
    );
    assert_eq!(
        at(json!({"event_timestamp": IAT + 300})),
        (IAT + 300) * 1000 + 999
    );
    assert_eq!(at(json!({"event_timestamp": IAT + 301})), IAT * 1000 + 999);
    assert_eq!(at(json!({"event_timestamp": IAT * 1000})), IAT * 1000 + 999);
}

#[test]
fn iat_may_be_a_number_a_fraction_or_a_numeric_string() {
    let read = |iat: Value| -> Option<i64> {
        let claims = json!({"iss": ISSUER, "aud": "a", "iat": iat, "jti": "j", "events": {}});
        serde_json::from_value::<SetClaims>(claims)
            .ok()
            .map(|c| c.iat)
    };
    assert_eq!(read(json!(IAT)), Some(IAT));
    assert_eq!(read(json!(1_700_000_000.75)), Some(IAT));
    assert_eq!(read(json!(" 1700000000 ")), Some(IAT));
    assert_eq!(read(json!("soon")), None);
    assert_eq!(read(json!(null)), None);
}
