//! Time as the service stores it: Unix milliseconds (UTC).

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// The last millisecond of the second `millis` falls in. Times that order
/// changes are kept at second precision, as Kakao's SETs carry them, so that
/// changes within one second tie and arrival order decides.
pub fn end_of_second(millis: i64) -> i64 {
    millis.div_euclid(1000) * 1000 + 999
}

/// `millis` from now, for leases and retry times.
pub fn millis_from_now(delay: std::time::Duration) -> i64 {
    now_millis().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
}

/// `millis` as RFC 3339 in UTC (`2026-12-03T08:41:06.833Z`).
pub fn rfc3339(millis: i64) -> String {
    use time::{OffsetDateTime, format_description::well_known::Rfc3339};
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// An RFC 3339 time (Kakao's carry nanoseconds) in ms.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    use time::{OffsetDateTime, format_description::well_known::Rfc3339};
    let time = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `wait` scaled by a random factor between `low` and `high`, so that
/// instances that failed together do not retry together.
pub fn jittered(wait: std::time::Duration, low: f64, high: f64) -> std::time::Duration {
    let draw = (getrandom::u64().unwrap_or(0) % 1001) as f64 / 1000.0;
    wait.mul_f64(low + (high - low) * draw)
}

/// The delay before retry number `attempts` (1 for the first): `first`,
/// doubling each time, at most `max`.
pub fn doubling_backoff(
    attempts: i64,
    first: std::time::Duration,
    max: std::time::Duration,
) -> std::time::Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    first.saturating_mul(2u32.saturating_pow(exponent)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_second_is_its_last_millisecond() {
        assert_eq!(end_of_second(1_000), 1_999);
        assert_eq!(end_of_second(1_999), 1_999);
        assert_eq!(end_of_second(-1), -1);
    }
}
