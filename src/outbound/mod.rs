//! Everything sent out of the service but Kakao's own API calls: to the
//! team's app, always signed with Standard Webhooks ([`signing`]).
//! - [`notifier`]: notifications of every applied change (rows queued by
//!   the event writer) and alerts, delivered from the durable outbox.
//! - [`forward`]: one signed POST to the app's handler, which the skill and
//!   bot families' upstream handlers use.
//! - [`claim_loop`]: the loop every outbox worker runs (this one's and the
//!   bot's replies to Kakao).

pub mod claim_loop;
pub mod forward;
pub mod notifier;
pub mod signing;

pub use forward::{ForwardError, Upstream};
pub use signing::SigningSecret;
