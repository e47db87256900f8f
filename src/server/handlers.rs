//! Which handler answers skills and bot events: the built-in ones, or the
//! app's HTTP endpoints where `SKILL_UPSTREAM_URL` and
//! `KAKAO_BOT_UPSTREAM_URL` are set.

use std::sync::Arc;

use crate::{
    bot::{BotHandler, upstream::BotUpstream},
    config::Settings,
    outbound::Upstream,
    skill::{SkillHandler, upstream::SkillUpstream},
};

/// The app's HTTP handlers in place of the given ones, where
/// `SKILL_UPSTREAM_URL` and `KAKAO_BOT_UPSTREAM_URL` are set.
pub fn app_handlers(
    settings: &Settings,
    http: &reqwest::Client,
    skill: Arc<dyn SkillHandler>,
    bot: Arc<dyn BotHandler>,
) -> (Arc<dyn SkillHandler>, Arc<dyn BotHandler>) {
    let Some(secret) = &settings.app_signing_secret else {
        return (skill, bot); // no upstream URL is allowed without it
    };
    let upstream =
        |url: &url::Url, target| Upstream::new(http.clone(), url.clone(), secret.clone(), target);
    let skill: Arc<dyn SkillHandler> = match &settings.skill_upstream_url {
        Some(url) => Arc::new(SkillUpstream::new(
            upstream(url, "skill"),
            settings.skill_callback_deadline_ms,
        )),
        None => skill,
    };
    let bot: Arc<dyn BotHandler> = match &settings.kakao_bot_upstream_url {
        Some(url) => Arc::new(BotUpstream::new(upstream(url, "bot"))),
        None => bot,
    };
    (skill, bot)
}
