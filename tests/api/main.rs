//! The service over HTTP: a real server on a random port, a real SQLite file.

mod app_api;
mod bot;
mod bot_messages;
mod bot_replies;
mod channel;
mod crash;
mod dev_mode;
mod doctor;
mod durability;
mod helpers;
mod hostile_bodies;
mod instances;
mod kakao_keys;
mod listeners;
mod privacy;
mod profile_refresh;
mod rotation;
mod security_events;
mod service;
mod set_policy;
mod share;
mod skill_callback;
mod skill_endpoint;
mod slow_clients;
mod sustained;
mod unlink;
