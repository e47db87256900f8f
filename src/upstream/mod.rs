//! The team's own app, in any language: what this service sends it, always
//! signed with Standard Webhooks (`signing.rs`). Notifications of every
//! applied change (`notifier.rs`, rows queued by the event writer) and, when
//! configured, skill and bot requests forwarded to the app's HTTP handler.

pub mod api;
pub mod notifier;
mod signing;

pub use signing::SigningSecret;
