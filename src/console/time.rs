//! Times as the console shows them: in `CONSOLE_TIME_ZONE`, to the second
//! (`2026-12-07 09:43:03 KST`), with the exact UTC instant on hover; and how
//! long ago (`3분 전`) in live lists.

use std::fmt;

use jiff::{Timestamp, tz::TimeZone};

/// One instant, as a `<time>` element: local text, UTC in `datetime` and
/// `title`. Its `Display` is that element (digits and letters only, so
/// templates may output it unescaped).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shown {
    pub local: String,
    pub utc: String,
}

impl Shown {
    pub fn at(zone: &TimeZone, millis: i64) -> Self {
        let Ok(instant) = Timestamp::from_millisecond(millis) else {
            return Self {
                local: "—".into(),
                utc: String::new(),
            };
        };
        Self {
            local: instant
                .to_zoned(zone.clone())
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string(),
            utc: instant.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        }
    }

    /// `at`, or a dash when there is no time.
    pub fn maybe(zone: &TimeZone, millis: Option<i64>) -> Self {
        match millis {
            Some(millis) => Self::at(zone, millis),
            None => Self {
                local: "—".into(),
                utc: String::new(),
            },
        }
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.utc.is_empty() {
            return f.write_str(&self.local);
        }
        write!(
            f,
            r#"<time datetime="{utc}" title="{utc}">{local}</time>"#,
            utc = self.utc,
            local = self.local
        )
    }
}

/// The clock time (`09:43`) of `millis` in `zone`, for a chart's axis.
pub fn clock(zone: &TimeZone, millis: i64) -> String {
    Timestamp::from_millisecond(millis)
        .map(|t| t.to_zoned(zone.clone()).strftime("%H:%M").to_string())
        .unwrap_or_default()
}

/// How long before `now` `then` was, in the console's language:
/// `3분 전` / `3 min ago`.
pub fn ago(lang: &str, now: i64, then: i64) -> String {
    let seconds = (now - then).max(0) / 1000;
    let (n, ko, en) = match seconds {
        0..=59 => (seconds, "초", "s"),
        60..=3599 => (seconds / 60, "분", "min"),
        3600..=86_399 => (seconds / 3600, "시간", "h"),
        _ => (seconds / 86_400, "일", "d"),
    };
    if lang == "en" {
        format!("{n} {en} ago")
    } else {
        format!("{n}{ko} 전")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_is_shown_in_seoul_time_with_utc_on_hover() {
        let seoul = TimeZone::get("Asia/Seoul").unwrap();
        // 2026-12-07T00:43:03.070Z
        let shown = Shown::at(&seoul, 1_796_604_183_070);
        assert_eq!(shown.local, "2026-12-07 09:43:03 KST");
        assert_eq!(shown.utc, "2026-12-07T00:43:03.070Z");
        assert_eq!(
            shown.to_string(),
            r#"<time datetime="2026-12-07T00:43:03.070Z" title="2026-12-07T00:43:03.070Z">2026-12-07 09:43:03 KST</time>"#
        );
        let utc = Shown::at(&TimeZone::UTC, 1_796_604_183_070);
        assert_eq!(utc.local, "2026-12-07 00:43:03 UTC");
    }

    #[test]
    fn no_time_is_a_dash() {
        assert_eq!(Shown::maybe(&TimeZone::UTC, None).to_string(), "—");
    }

    #[test]
    fn ago_counts_in_the_largest_whole_unit() {
        assert_eq!(ago("ko", 200_000, 20_000), "3분 전");
        assert_eq!(ago("en", 200_000, 20_000), "3 min ago");
        assert_eq!(ago("ko", 10_000, 5_000), "5초 전");
        assert_eq!(ago("ko", 7_200_000, 0), "2시간 전");
        assert_eq!(ago("en", 3 * 86_400_000, 0), "3 d ago");
        assert_eq!(ago("ko", 0, 5_000), "0초 전");
    }
}
