//! What each security event changes in storage: Kakao's events (parsed in
//! `kakao_protocol`) turned into this service's [`Effect`]s.

use kakao_protocol::security_event::{ParsedEvent, SecurityEvent};

use crate::storage::{Effect, RiskFlag};

/// What `parsed` changes in storage.
pub fn effects(parsed: &ParsedEvent) -> Vec<Effect> {
    let Some(user) = parsed.user_id.clone() else {
        return match &parsed.event {
            SecurityEvent::IdentifierChanged { old, new_value } => {
                vec![Effect::IdentifierChanged {
                    user_id: None,
                    old: old.clone(),
                    new_value: new_value.clone(),
                }]
            }
            SecurityEvent::IdentifierRecycled { old } => {
                vec![Effect::IdentifierRecycled {
                    user_id: None,
                    old: old.clone(),
                }]
            }
            _ => Vec::new(),
        };
    };
    let revoke = |reason: &str| Effect::RevokeSessions {
        user_id: user.clone(),
        reason: reason.to_owned(),
    };
    let risk = |flag| {
        vec![Effect::Risk {
            user_id: user.clone(),
            flag,
        }]
    };
    match &parsed.event {
        SecurityEvent::UserLinked => vec![Effect::Link { user_id: user }],
        SecurityEvent::UserUnlinked { reason } => vec![Effect::Unlink {
            user_id: user,
            reason: reason.clone(),
        }],
        SecurityEvent::TokensRevoked { .. } => vec![revoke("tokens-revoked")],
        SecurityEvent::SessionsRevoked => vec![revoke("sessions-revoked")],
        SecurityEvent::UserScopeConsent { scopes } => vec![Effect::Scopes {
            user_id: user,
            scopes: scopes.clone(),
            consented: true,
        }],
        SecurityEvent::UserScopeWithdraw { scopes } => vec![Effect::Scopes {
            user_id: user,
            scopes: scopes.clone(),
            consented: false,
        }],
        SecurityEvent::AccountDisabled { reason } => {
            let mut effects = vec![Effect::Disable {
                user_id: user.clone(),
            }];
            if reason.as_deref() == Some("hijacking") {
                effects.push(revoke("account-disabled: hijacking"));
            }
            effects
        }
        SecurityEvent::AccountEnabled => vec![Effect::Enable { user_id: user }],
        SecurityEvent::AccountPurged => vec![Effect::Purge { user_id: user }],
        SecurityEvent::AccountCredentialChangeRequired => risk(RiskFlag::CredentialChangeRequired),
        SecurityEvent::CredentialCompromise { .. } => risk(RiskFlag::CredentialCompromised),
        SecurityEvent::CredentialChange { .. } => risk(RiskFlag::CredentialChanged),
        SecurityEvent::IdentifierChanged { old, new_value } => {
            vec![Effect::IdentifierChanged {
                user_id: Some(user),
                old: old.clone(),
                new_value: new_value.clone(),
            }]
        }
        SecurityEvent::IdentifierRecycled { old } => vec![Effect::IdentifierRecycled {
            user_id: Some(user),
            old: old.clone(),
        }],
        SecurityEvent::AssuranceLevelChange { current_level, .. } => {
            vec![Effect::AssuranceLevel {
                user_id: user,
                level: current_level.clone(),
            }]
        }
        SecurityEvent::UserProfileChanged => vec![Effect::ProfileStale { user_id: user }],
        SecurityEvent::Unknown { .. } | SecurityEvent::Unapplicable { .. } => Vec::new(),
    }
}
