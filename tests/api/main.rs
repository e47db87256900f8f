//! The service over HTTP: a real server on a random port, a real SQLite file.

mod helpers;
mod service;
mod skill_callback;
mod skill_endpoint;
