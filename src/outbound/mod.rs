//! Everything sent out of the service but Kakao's own API calls: to the
//! team's app, always signed with Standard Webhooks ([`signing`]).
//! - [`notifier`]: notifications of every applied change (rows queued by
//!   the event writer) and alerts, delivered from the durable outbox.
//! - [`forward`]: one signed POST to the app's handler, which the skill and
//!   bot families' upstream handlers use.
//! - [`claim_loop`]: the loop every outbox worker runs (this one's and the
//!   bot's replies to Kakao).
//! - [`pacing`]: pausing a failing destination, the rate limit, `Retry-After`.
//! - [`stream`]: publishing into the team's broker (`EVENT_STREAM_URL`).

pub mod claim_loop;
pub mod forward;
pub mod notifier;
pub mod pacing;
pub mod signing;
pub mod stream;

pub use forward::{ForwardError, Upstream};
pub use signing::SigningSecret;

/// A transport error with every cause (a refused certificate says why), but
/// without its URL: the app's URL may carry a token.
pub fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    crate::telemetry::loggable(&text).to_string()
}
