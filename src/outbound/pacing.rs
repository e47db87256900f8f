//! How fast and whether a destination is sent to: the pause after failing
//! for long (`APP_NOTIFY_PAUSE_AFTER_SECONDS`), the per-instance rate
//! (`APP_NOTIFY_MAX_PER_SECOND`), and the wait a `Retry-After` asks for.

use std::{sync::Mutex, time::Duration};

/// Pausing and rate limiting, for the app's destination.
pub struct Pacing {
    pub pause_after: Duration,
    pub(super) rate: TokenBucket,
}

impl Pacing {
    pub fn new(pause_after: Duration, per_second: u32) -> Self {
        Self {
            pause_after,
            rate: TokenBucket::new(f64::from(per_second)),
        }
    }
}

/// `Retry-After`: seconds, or an HTTP date (RFC 9110).
pub(super) fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = time::OffsetDateTime::parse(value, &format).ok()?;
    let wait = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// A token bucket: `per_second` tokens a second, holding at most a
/// second's worth.
pub(super) struct TokenBucket {
    per_second: f64,
    state: Mutex<(f64, tokio::time::Instant)>,
}

impl TokenBucket {
    fn new(per_second: f64) -> Self {
        Self {
            per_second,
            state: Mutex::new((per_second, tokio::time::Instant::now())),
        }
    }

    /// Up to `want` tokens, waiting until at least one is there.
    pub(super) async fn take(&self, want: u64) -> u64 {
        loop {
            let wait = {
                let mut state = self.state.lock().expect("never poisoned");
                let now = tokio::time::Instant::now();
                let (tokens, last) = *state;
                let tokens =
                    (tokens + (now - last).as_secs_f64() * self.per_second).min(self.per_second);
                let taken = (tokens.floor() as u64).min(want);
                *state = (tokens - taken as f64, now);
                if taken > 0 {
                    return taken;
                }
                Duration::from_secs_f64((1.0 - tokens) / self.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }

    pub(super) fn give_back(&self, tokens: u64) {
        let mut state = self.state.lock().expect("never poisoned");
        state.0 = (state.0 + tokens as f64).min(self.per_second);
    }
}
