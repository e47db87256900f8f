//! kakao-webhooks: one backend for every webhook Kakao sends.
//!
//! - [`skill`]: the Kakao i OpenBuilder skill server (protocol types, limits,
//!   the [`skill::SkillHandler`] trait bots implement).
//! - [`unlink`], [`channel`], [`share`]: the webhooks Kakao authenticates with
//!   the app's admin key ([`webhook`] holds what they share).
//! - [`security_events`]: Kakao Login's account status change webhook
//!   (Security Event Tokens verified against Kakao's key set).
//! - [`api`]: the application's API (sessions, users, the events feed).
//! - [`app`]: assembles the router and runs the server.
//! - [`storage`]: the database boundary (SQLite or PostgreSQL).
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod channel;
pub mod config;
pub mod dev;
pub mod error;
pub mod health;
pub mod http;
pub mod profile_refresh;
pub mod security_events;
pub mod share;
pub mod simulate;
pub mod skill;
pub mod storage;
pub mod telemetry;
pub mod unlink;
pub mod webhook;

pub use app::Server;
pub use config::Settings;
