//! What a stored event changed, in words an operator reads at a glance, in
//! Korean and English: "동의 항목 추가: talk_message", "이메일 변경",
//! "세션 2개 종료", "채널 차단". Read back from the stored payload (a SET's
//! claims are parsed again by the protocol crate); an erased payload still
//! gets its type's words, without the details.

use kakao_protocol::security_event::{Identifier, SecurityEvent, SetClaims};
use serde_json::Value;

use crate::storage::StoredEvent;

/// One phrase in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    pub ko: String,
    pub en: String,
}

impl Words {
    fn new(ko: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            ko: ko.into(),
            en: en.into(),
        }
    }

    /// `title: detail` in both languages (the detail is Kakao's, untranslated).
    fn with(self, detail: Option<String>) -> Self {
        match detail.filter(|d| !d.is_empty()) {
            Some(detail) => Self::new(
                format!("{}: {detail}", self.ko),
                format!("{}: {detail}", self.en),
            ),
            None => self,
        }
    }

    pub fn in_lang(&self, lang: &str) -> &str {
        if lang == "en" { &self.en } else { &self.ko }
    }
}

/// What `event` changed. `sessions_ended` is how many sessions its apply
/// revoked, when the caller counted them.
pub fn what_changed(event: &StoredEvent, sessions_ended: Option<usize>) -> Words {
    let payload: Option<Value> = serde_json::from_str(&event.payload)
        .ok()
        .filter(|p: &Value| !p.is_null());
    let mut words = match event.source.as_str() {
        "security_event" => set_event(&event.event_type, payload.as_ref(), sessions_ended),
        "unlink" => Words::new("앱 연결 해제", "unlinked from the app").with(
            payload
                .as_ref()
                .and_then(|p| p.get("referrer_type"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        "channel" => channel(&event.event_type),
        "share" => Words::new("카카오톡 공유 메시지 전송됨", "a KakaoTalk share was sent"),
        "bot" => bot(&event.event_type),
        "app" => Words::new(
            "앱의 요청으로 개인정보 삭제",
            "personal data erased at the app's request",
        ),
        other => Words::new(format!("{other} 이벤트"), format!("{other} event")),
    };
    if let Some(reason) = &event.unapplied_reason {
        let ko_reason = if reason == kakao_protocol::security_event::UNKNOWN_TYPE {
            "모르는 이벤트 종류"
        } else {
            reason
        };
        words = Words::new(
            format!("적용하지 않음 ({ko_reason}), 저장만 함"),
            format!("not applied ({reason}); stored only"),
        );
    } else if event.changed_nothing == Some(true) {
        words = Words::new(
            format!(
                "{}: 바뀐 것 없음 (저장된 것보다 오래된 이벤트이거나 사용자가 떠남)",
                words.ko
            ),
            format!(
                "{}: changed nothing (older than what is stored, or the user is gone)",
                words.en
            ),
        );
    }
    words
}

/// The words of a SET's event: from the parsed claims when the payload is
/// still there, else from its type alone.
fn set_event(event_type: &str, payload: Option<&Value>, sessions_ended: Option<usize>) -> Words {
    let parsed = payload
        .and_then(|p| p.get("claims"))
        .and_then(|claims| serde_json::from_value::<SetClaims>(claims.clone()).ok())
        .and_then(|claims| {
            kakao_protocol::security_event::parse(&claims, &claims.iss)
                .into_iter()
                .find(|e| e.type_name() == event_type)
        });
    match parsed {
        Some(parsed) => security_event(&parsed.event, sessions_ended),
        None => set_type(event_type),
    }
}

fn list(items: &[String]) -> Option<String> {
    Some(items.join(", "))
}

fn sessions(n: Option<usize>) -> Words {
    match n {
        Some(n) => Words::new(format!("세션 {n}개 종료"), format!("{n} sessions ended")),
        None => Words::new("모든 세션 종료", "every session ended"),
    }
}

fn security_event(event: &SecurityEvent, sessions_ended: Option<usize>) -> Words {
    use SecurityEvent as E;
    match event {
        E::TokensRevoked { reason } => {
            let s = sessions(sessions_ended);
            Words::new(
                format!("토큰 폐기, {}", s.ko),
                format!("tokens revoked, {}", s.en),
            )
            .with(reason.clone())
        }
        E::SessionsRevoked => sessions(sessions_ended),
        E::UserUnlinked { reason } => set_type("user-unlinked").with(Some(reason.clone())),
        E::UserScopeConsent { scopes } => set_type("user-scope-consent").with(list(scopes)),
        E::UserScopeWithdraw { scopes } => set_type("user-scope-withdraw").with(list(scopes)),
        E::AccountDisabled { reason } => set_type("account-disabled").with(reason.clone()),
        E::CredentialCompromise { credential_type } => {
            set_type("credential-compromise").with(credential_type.clone())
        }
        E::IdentifierChanged { old, .. } => match old {
            Identifier::Email(_) => Words::new("이메일 변경", "email changed"),
            Identifier::Phone(_) => Words::new("전화번호 변경", "phone number changed"),
        },
        E::IdentifierRecycled { old } => match old {
            Identifier::Email(_) => Words::new(
                "이메일이 다른 사람에게 재사용됨: 이전 사용자에게서 지움",
                "email recycled to someone else: removed from its previous user",
            ),
            Identifier::Phone(_) => Words::new(
                "전화번호가 다른 사람에게 재사용됨: 이전 사용자에게서 지움",
                "phone number recycled to someone else: removed from its previous user",
            ),
        },
        E::AssuranceLevelChange {
            current_level,
            previous_level,
        } => set_type("assurance-level-change").with(Some(format!(
            "{} → {current_level}",
            previous_level.as_deref().unwrap_or("?")
        ))),
        E::CredentialChange {
            credential_type,
            change_type,
        } => set_type("credential-change").with(Some(
            [credential_type, change_type]
                .into_iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        )),
        E::UserLinked => set_type("user-linked"),
        E::AccountCredentialChangeRequired => set_type("account-credential-change-required"),
        E::AccountEnabled => set_type("account-enabled"),
        E::AccountPurged => set_type("account-purged"),
        E::UserProfileChanged => set_type("user-profile-changed"),
        E::Unknown { uri, .. } => set_type(uri),
        E::Unapplicable { reason } => Words::new(
            format!("적용할 수 없음: {reason}"),
            format!("cannot be applied: {reason}"),
        ),
    }
}

/// A SET event's words from its type alone (its payload erased).
fn set_type(event_type: &str) -> Words {
    let (ko, en) = match event_type {
        "tokens-revoked" => ("토큰 폐기, 세션 종료", "tokens revoked, sessions ended"),
        "sessions-revoked" => ("모든 세션 종료", "every session ended"),
        "user-linked" => ("앱 연결", "linked to the app"),
        "user-unlinked" => ("앱 연결 해제", "unlinked from the app"),
        "user-scope-consent" => ("동의 항목 추가", "scopes consented"),
        "user-scope-withdraw" => ("동의 항목 철회", "scopes withdrawn"),
        "account-credential-change-required" => (
            "비밀번호 변경 필요 표시",
            "marked: credential change required",
        ),
        "account-disabled" => ("계정 정지", "account disabled"),
        "account-enabled" => ("계정 정지 해제", "account enabled"),
        "account-purged" => (
            "카카오 계정 삭제: 개인정보를 지움",
            "Kakao account deleted: personal data erased",
        ),
        "credential-compromise" => ("자격 증명 유출 의심 표시", "marked: credential compromised"),
        "identifier-changed" => ("이메일 또는 전화번호 변경", "email or phone number changed"),
        "identifier-recycled" => (
            "이메일 또는 전화번호가 재사용됨",
            "email or phone number recycled",
        ),
        "assurance-level-change" => ("인증 수준 변경", "assurance level changed"),
        "credential-change" => ("자격 증명 변경", "credential changed"),
        "user-profile-changed" => (
            "프로필 변경: 새로 가져오기",
            "profile changed: to be fetched again",
        ),
        other => {
            return Words::new(
                format!("모르는 이벤트 ({other}), 저장만 함"),
                format!("unknown event ({other}); stored only"),
            );
        }
    };
    Words::new(ko, en)
}

fn channel(event_type: &str) -> Words {
    match event_type {
        "channel.added" => Words::new("채널 추가", "added the channel"),
        "channel.blocked" => Words::new("채널 차단", "blocked the channel"),
        other => Words::new(
            format!("채널 관계: {other}"),
            format!("channel relation: {other}"),
        ),
    }
}

fn bot(event_type: &str) -> Words {
    match event_type {
        "MESSAGE_CREATE" => Words::new("메시지 받음: 답장 대기", "message received: reply queued"),
        "ENTRANCE" => Words::new("봇이 방에 들어감", "the bot entered a room"),
        "CHAT_JOIN" => Words::new("사용자가 방에 들어옴", "a user joined the room"),
        "LEAVE" => Words::new("봇이 방에서 나감", "the bot left a room"),
        "AD_REWARD" => Words::new("광고 보상", "ad reward"),
        other => Words::new(
            format!("모르는 봇 이벤트 ({other}), 저장만 함"),
            format!("unknown bot event ({other}); stored only"),
        ),
    }
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;
