//! The team's own app, in any language: what this service sends it, always
//! signed with Standard Webhooks (`signing.rs`). Notifications of every
//! applied change (`notifier.rs`, rows queued by the event writer) and, when
//! configured, skill and bot requests forwarded to the app's HTTP handler
//! (`skill.rs`, `bot.rs`, over `forward.rs`).

pub mod api;
pub mod bot;
mod forward;
pub mod notifier;
mod signing;
pub mod skill;

pub use forward::{ForwardError, Upstream};
pub use signing::SigningSecret;
