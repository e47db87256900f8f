//! kakao-webhooks: one backend for every webhook Kakao sends.
//!
//! - [`skill`]: the Kakao i OpenBuilder skill server (protocol types, limits,
//!   the [`skill::SkillHandler`] trait bots implement).
//! - [`app`]: assembles the router and runs the server.
//! - [`storage`]: the database boundary (SQLite or PostgreSQL).
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod error;
pub mod health;
pub mod http;
pub mod skill;
pub mod storage;
pub mod telemetry;

pub use app::Server;
pub use config::Settings;
