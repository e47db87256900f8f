//! The server: assembling the families' routers with the app's API, the
//! console and the health routes into one router ([`app`]), the layer every
//! request passes through ([`edge`]), accepting connections and bounding
//! what a client can hold ([`connections`]), and which handler answers
//! skills and bot events ([`handlers`]).

pub mod app;
pub mod background;
pub mod connections;
pub mod edge;
pub mod handlers;
pub mod health;
pub mod https;
pub mod source_ips;

pub use app::Server;
