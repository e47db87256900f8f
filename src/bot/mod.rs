//! KakaoTalk Bot API (카카오톡 봇 API): the bot in group, open, team and
//! channel chats.
//!
//! - [`webhook`]: `POST /kakao/bot`, events stored with their reply job, 204.
//! - [`event`] and [`handler`]: typed events in, a reply out ([`BotHandler`]);
//!   [`demo`] is the bot the binary ships.
//! - [`outbox`]: the worker that sends replies (callback API, single-use
//!   5-minute token) and the app's messages (send API), durably.
//! - [`gateway`]: the same events over the gateway WebSocket instead.
//! - [`kakao_api`]: the REST calls (`/api/bot/*` for the app is
//!   `api::bot_messages`);
//! - [`upstream`]: the handler that is the app's HTTP endpoint.

pub mod demo;
pub mod gateway;
pub mod handler;
pub mod kakao_api;
pub mod outbox;
pub mod upstream;

// The Bot API's events, as pure types, live in `kakao_protocol`.
pub use kakao_protocol::bot::event;
pub mod webhook;

pub use self::{
    event::BotEvent,
    handler::{BotHandler, Room, check_reply},
    outbox::BotOutbox,
    webhook::router,
};
