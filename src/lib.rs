//! kakao-webhooks: one backend for every webhook Kakao sends.
//!
//! The webhook families, each a module that owns its routes:
//! - [`skill`]: the Kakao i OpenBuilder skill server (protocol types, limits,
//!   the [`skill::SkillHandler`] trait bots implement).
//! - [`admin_key`]: the webhooks Kakao authenticates with the app's admin
//!   key: Kakao Login unlink, Kakao Talk Channel, Kakao Talk Share.
//! - [`security_events`]: Kakao Login's account status change webhook
//!   (Security Event Tokens verified against Kakao's key set).
//! - [`bot`]: the KakaoTalk Bot API's chatroom event webhook.
//!
//! What they stand on:
//! - [`delivery`]: store, then acknowledge: the one path from an accepted
//!   delivery to its 2xx.
//! - [`storage`]: the database boundary (SQLite or PostgreSQL).
//! - [`state`]: what handlers and background tasks share; [`app`]: the one
//!   place that assembles the router and runs the server; [`routes`]: the
//!   routers that know their route templates, which the [`edge`] counts
//!   requests by.
//! - [`api`], [`health`]: the application's API; liveness, readiness, metrics.
//! - [`profile_refresh`]: the background worker for profile refresh jobs;
//!   [`retention`]: erases stored payloads past `EVENT_RETENTION_DAYS`.
//! - [`alerts`]: the failures that hurt, judged from every instance's
//!   tally and sent to `ALERT_WEBHOOK_URL` and the app.
//! - [`dev`]: the local Kakao (`serve --dev`) and its client (`simulate`).
//! - [`doctor`]: checks a deployed URL from the outside, as Kakao will.
#![forbid(unsafe_code)]

pub mod admin_key;
pub mod alerts;
pub mod api;
pub mod app;
pub mod bot;
pub mod claim_loop;
pub mod clock;
pub mod config;
pub mod connections;
pub mod console;
pub mod delivery;
pub mod dev;
pub mod doctor;
pub mod edge;
pub mod error;
pub mod health;
pub mod http;
pub mod profile_refresh;
pub mod retention;
pub mod routes;
pub mod security_events;
pub mod skill;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod upstream;

/// The one policy for ids presented from outside (from `kakao_protocol`).
pub use kakao_protocol::ids;

pub use app::Server;
pub use config::Settings;
