//! The events inside a verified SET, typed, with their subject and effects.
//!
//! Kakao's wire format differs from SSF 1.0: the subject sits inside the event
//! (`subject: {subject_type: "iss-sub", iss, sub}`) next to a top-level `sub`,
//! and Kakao's own event names live under schemas.openid.net. Both spellings
//! of the subject (`subject_type`/`format`, `iss-sub`/`iss_sub`) are read.

use serde_json::{Map, Value};

use super::SetClaims;
use crate::ids::UserId;

/// A user's email or phone number, as an event names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    Email(String),
    Phone(String),
}

/// Why one event of a SET cannot be applied as sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
struct Unreadable(String);

const OAUTH: &str = "https://schemas.openid.net/secevent/oauth/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const KAKAO: &str = "https://schemas.kakao.com/platevent/kakao/event-type/";

#[derive(Debug, Clone, PartialEq)]
pub enum SecurityEvent {
    TokensRevoked {
        reason: Option<String>,
    },
    UserLinked,
    UserUnlinked {
        reason: String,
    },
    UserScopeConsent {
        scopes: Vec<String>,
    },
    UserScopeWithdraw {
        scopes: Vec<String>,
    },
    AccountCredentialChangeRequired,
    AccountDisabled {
        reason: Option<String>,
    },
    AccountEnabled,
    AccountPurged,
    CredentialCompromise {
        credential_type: Option<String>,
    },
    /// The subject names the old email or phone number.
    IdentifierChanged {
        old: Identifier,
        new_value: Option<String>,
    },
    IdentifierRecycled {
        old: Identifier,
    },
    SessionsRevoked,
    AssuranceLevelChange {
        current_level: String,
        previous_level: Option<String>,
    },
    CredentialChange {
        credential_type: Option<String>,
        change_type: Option<String>,
    },
    UserProfileChanged,
    /// An event type this version does not know: stored, acknowledged, ignored.
    Unknown {
        uri: String,
        payload: Value,
    },
    /// A known type this version cannot apply (a subject format it does not
    /// know, a field missing): signed by Kakao, so stored and acknowledged,
    /// and marked unapplied with the reason instead of refused.
    Unapplicable {
        reason: String,
    },
}

/// One event of a SET, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    pub uri: String,
    pub event: SecurityEvent,
    /// Kakao's user id, when the SET names one.
    pub user_id: Option<UserId>,
    /// When it happened: the event's `event_timestamp`, else the SET's `iat` (ms).
    pub time: i64,
}

/// Why a signed event is stored without effects: its type is unknown, or it
/// cannot be applied as sent.
pub const UNKNOWN_TYPE: &str = "event type not understood";

impl ParsedEvent {
    /// Why nothing of this event was applied, if so.
    pub fn unapplied_reason(&self) -> Option<&str> {
        match &self.event {
            SecurityEvent::Unknown { .. } => Some(UNKNOWN_TYPE),
            SecurityEvent::Unapplicable { reason } => Some(reason),
            _ => None,
        }
    }

    /// The stored event type: the short name of a known type
    /// (`user-unlinked`, …), the full URI of an unknown one.
    pub fn type_name(&self) -> &str {
        if matches!(self.event, SecurityEvent::Unknown { .. }) {
            return &self.uri;
        }
        [OAUTH, RISC, CAEP, KAKAO]
            .iter()
            .find_map(|base| self.uri.strip_prefix(base))
            .unwrap_or(&self.uri)
    }
}

/// Reads every event of the SET; `issuer` is what a subject's `iss` must say.
/// The JWT and its required claims were checked by the verifier, so what
/// fails here is Kakao's authentic event that this version cannot apply: it
/// is kept, unapplied, with the reason, never refused (RFC 8935 would have
/// Kakao drop it), and tied to its user when one can be told.
pub fn parse(claims: &SetClaims, issuer: &str) -> Vec<ParsedEvent> {
    claims
        .events
        .iter()
        .map(|(uri, body)| {
            parse_one(claims, issuer, uri, body).unwrap_or_else(|err| ParsedEvent {
                uri: uri.to_owned(),
                event: SecurityEvent::Unapplicable {
                    reason: err.to_string(),
                },
                user_id: best_effort_user(claims, issuer, body),
                time: event_time(claims, body),
            })
        })
        .collect()
}

/// The user an unapplicable event names, when that much of it is readable.
fn best_effort_user(claims: &SetClaims, issuer: &str, body: &Value) -> Option<UserId> {
    let subject = Subject::of(body.get("subject")).ok().flatten();
    user_id(claims, issuer, subject.as_ref()).ok().flatten()
}

/// When the event happened (ms, end of its second): its `event_timestamp`,
/// unless that is well after `iat` (a bad clock, or milliseconds), which
/// would decide ordering for good and block every later change of that
/// attribute; then `iat`, since an event happens before its SET is issued.
fn event_time(claims: &SetClaims, body: &Value) -> i64 {
    let seconds = body
        .get("event_timestamp")
        .and_then(Value::as_i64)
        .filter(|&at| at <= claims.iat.saturating_add(MAX_EVENT_AHEAD_SECS))
        .unwrap_or(claims.iat);
    crate::end_of_second(seconds.saturating_mul(1000))
}

fn parse_one(
    claims: &SetClaims,
    issuer: &str,
    uri: &str,
    body: &Value,
) -> Result<ParsedEvent, Unreadable> {
    let empty = Map::new();
    let fields = match body {
        Value::Object(fields) => fields,
        Value::Null => &empty,
        _ => return Err(bad(format!("event {uri} is not an object"))),
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    let subject = Subject::of(fields.get("subject"))?;
    let identifier = || match &subject {
        Some(Subject::Identifier(id)) => Ok(id.clone()),
        _ => Err(bad(format!("{uri} needs an email or phone subject"))),
    };
    let event = match uri
        .strip_prefix(OAUTH)
        .or_else(|| uri.strip_prefix(RISC))
        .or_else(|| uri.strip_prefix(CAEP))
        .or_else(|| uri.strip_prefix(KAKAO))
    {
        Some("tokens-revoked") => SecurityEvent::TokensRevoked {
            reason: text("reason"),
        },
        Some("user-linked") => SecurityEvent::UserLinked,
        Some("user-unlinked") => SecurityEvent::UserUnlinked {
            reason: text("reason").unwrap_or_else(|| "UNKNOWN".into()),
        },
        Some(name @ ("user-scope-consent" | "user-scope-withdraw")) => {
            let scopes =
                scopes(fields.get("scope")).ok_or_else(|| bad(format!("{name} has no scope")))?;
            if name == "user-scope-consent" {
                SecurityEvent::UserScopeConsent { scopes }
            } else {
                SecurityEvent::UserScopeWithdraw { scopes }
            }
        }
        Some("account-credential-change-required") => {
            SecurityEvent::AccountCredentialChangeRequired
        }
        Some("account-disabled") => SecurityEvent::AccountDisabled {
            reason: text("reason"),
        },
        Some("account-enabled") => SecurityEvent::AccountEnabled,
        Some("account-purged") => SecurityEvent::AccountPurged,
        Some("credential-compromise") => SecurityEvent::CredentialCompromise {
            credential_type: text("credential_type"),
        },
        Some("identifier-changed") => SecurityEvent::IdentifierChanged {
            old: identifier()?,
            new_value: text("new-value").or_else(|| text("new_value")),
        },
        Some("identifier-recycled") => SecurityEvent::IdentifierRecycled { old: identifier()? },
        Some("sessions-revoked") => SecurityEvent::SessionsRevoked,
        Some("assurance-level-change") => SecurityEvent::AssuranceLevelChange {
            current_level: text("current_level")
                .ok_or_else(|| bad("assurance-level-change has no current_level"))?,
            previous_level: text("previous_level"),
        },
        Some("credential-change") => SecurityEvent::CredentialChange {
            credential_type: text("credential_type"),
            change_type: text("change_type"),
        },
        Some("user-profile-changed") => SecurityEvent::UserProfileChanged,
        _ => SecurityEvent::Unknown {
            uri: uri.to_owned(),
            payload: body.clone(),
        },
    };
    let user_id = user_id(claims, issuer, subject.as_ref())?;
    let needs_user = !matches!(
        event,
        SecurityEvent::IdentifierChanged { .. }
            | SecurityEvent::IdentifierRecycled { .. }
            | SecurityEvent::Unknown { .. }
    );
    if needs_user && user_id.is_none() {
        return Err(bad(format!(
            "{uri} names no user (no subject, sub_id or sub)"
        )));
    }
    Ok(ParsedEvent {
        uri: uri.to_owned(),
        event,
        user_id,
        time: event_time(claims, body),
    })
}

/// How far after the SET's `iat` an `event_timestamp` may be (clock skew).
const MAX_EVENT_AHEAD_SECS: i64 = 5 * 60;

fn bad(message: impl Into<String>) -> Unreadable {
    Unreadable(message.into())
}

/// `scope`: space-separated ids in a string (Kakao) or an array.
fn scopes(value: Option<&Value>) -> Option<Vec<String>> {
    let list: Vec<String> = match value? {
        Value::String(text) => text.split_whitespace().map(str::to_owned).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return None,
    };
    (!list.is_empty()).then_some(list)
}

enum Subject {
    /// `iss-sub`: the issuer and Kakao's user id.
    User {
        iss: Option<String>,
        sub: String,
    },
    Identifier(Identifier),
}

impl Subject {
    fn of(value: Option<&Value>) -> Result<Option<Self>, Unreadable> {
        let Some(Value::Object(fields)) = value else {
            return Ok(None);
        };
        let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        let kind = text("subject_type")
            .or_else(|| text("format"))
            .unwrap_or_default();
        let subject = match kind.replace('-', "_").as_str() {
            "iss_sub" => Subject::User {
                iss: text("iss"),
                sub: text("sub").ok_or_else(|| bad("an iss-sub subject has no sub"))?,
            },
            "email" => Subject::Identifier(Identifier::Email(
                text("email").ok_or_else(|| bad("an email subject has no email"))?,
            )),
            "phone" | "phone_number" => Subject::Identifier(Identifier::Phone(
                text("phone_number")
                    .or_else(|| text("phone"))
                    .ok_or_else(|| bad("a phone subject has no phone_number"))?,
            )),
            other => return Err(bad(format!("subject_type {other:?} is not understood"))),
        };
        Ok(Some(subject))
    }
}

/// The user: the event's subject, `sub_id`, the top-level `sub`; all that are
/// present must agree, and a subject's issuer must be ours.
fn user_id(
    claims: &SetClaims,
    issuer: &str,
    subject: Option<&Subject>,
) -> Result<Option<UserId>, Unreadable> {
    let mut candidates = Vec::new();
    if let Some(Subject::User { iss, sub }) = subject {
        if iss.as_deref().is_some_and(|iss| iss != issuer) {
            return Err(bad("the event subject names another issuer"));
        }
        candidates.push(sub.clone());
    }
    if let Some(Subject::User { sub, .. }) = Subject::of(claims.sub_id.as_ref())? {
        candidates.push(sub);
    }
    candidates.extend(claims.sub.clone());
    match candidates.split_first() {
        None => Ok(None),
        Some((first, rest)) if rest.iter().all(|other| other == first) => UserId::parse(first)
            .map(Some)
            .map_err(|err| bad(format!("the SET's subject: {err}"))),
        Some(_) => Err(bad(
            "the SET names different users in its subject, sub_id and sub",
        )),
    }
}
