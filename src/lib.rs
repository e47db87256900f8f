//! kakao-webhooks: one backend for every webhook Kakao sends.
//!
//! Kakao's protocols themselves (the skill request and response, the
//! Security Event Token events, the Bot API's events and frames, the
//! admin-key webhooks' forms) are plain types in the `kakao_protocol`
//! crate. This crate is the service built on them, in layers; a module may
//! use the ones below it, never one above (`tests/layers.rs` checks):
//!
//! 1. [`server`]: the one router and what every request passes through,
//!    connections, the health routes; [`dev`] (the local Kakao of
//!    `serve --dev`, and `simulate`) and [`doctor`] (checks a deployed URL
//!    as Kakao will).
//! 2. What the team and its operators use: [`api`] (the app's API under
//!    `/api`), [`console`] (the operators' pages) and the background
//!    [`workers`] (alerts, profile refresh, retention).
//! 3. [`state`]: what one server's handlers and workers share.
//! 4. The webhook families, each a module that owns its router and takes
//!    only its own part of the state:
//!    - [`skill`]: the Kakao i OpenBuilder skill server;
//!    - [`admin_key`]: Kakao Login unlink, Kakao Talk Channel and Kakao
//!      Talk Share, authenticated with the app's admin key;
//!    - [`security_events`]: Kakao Login's account status changes
//!      (Security Event Tokens verified against Kakao's key set);
//!    - [`bot`]: the KakaoTalk Bot API (webhook, gateway, replies).
//! 5. [`delivery`]: store, then acknowledge: the one path from an accepted
//!    delivery to its 2xx, and the log of how each was answered;
//!    [`outbound`]: what is sent to the team's app, signed, from the
//!    durable outbox; [`tls`]: HTTPS, the certificate served, obtained
//!    from an ACME CA or read from the team's files.
//! 6. [`storage`]: the one database boundary (SQLite or PostgreSQL).
//! 7. [`config`]: the settings, checked at start-up.
//! 8. [`http`], [`telemetry`], [`clock`], [`ids`]: plumbing with no
//!    knowledge of the rest.
#![forbid(unsafe_code)]

pub mod admin_key;
pub mod api;
pub mod bot;
pub mod clock;
pub mod config;
pub mod console;
pub mod delivery;
pub mod dev;
pub mod doctor;
pub mod http;
pub mod outbound;
pub mod security_events;
pub mod server;
pub mod skill;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod workers;

/// The one policy for ids presented from outside (from `kakao_protocol`).
pub use kakao_protocol::ids;

pub use config::Settings;
pub use server::Server;
