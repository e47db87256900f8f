//! Answer times, counted per minute, family and bound (a histogram), for
//! the console's p50 and p99 charts. Each instance adds its counts to the
//! shared table (`answer_time_tallies`), so every instance draws the same
//! picture; a percentile is read as the bound its bucket ends at.

use std::sync::Mutex;

use rustc_hash::FxHashMap;

/// The buckets' upper bounds, ms; the last catches everything slower.
pub const BOUNDS_MS: [i64; 13] = [
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2000,
    3000,
    5000,
    10_000,
    i64::MAX,
];

/// Deliveries of one family in one minute answered within `le_ms` (and
/// above the bound before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerTally {
    /// The minute's start, Unix ms.
    pub minute: i64,
    pub family: &'static str,
    pub le_ms: i64,
    pub deliveries: i64,
}

#[derive(Default)]
pub struct AnswerTimes {
    counts: Mutex<FxHashMap<(i64, &'static str, i64), i64>>,
}

impl AnswerTimes {
    pub fn observe(&self, at: i64, family: &'static str, answer_ms: u64) {
        let minute = at - at.rem_euclid(60_000);
        let answer = i64::try_from(answer_ms).unwrap_or(i64::MAX);
        let le_ms = BOUNDS_MS
            .into_iter()
            .find(|bound| answer <= *bound)
            .unwrap_or(i64::MAX);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((minute, family, le_ms)).or_default() += 1;
    }

    /// What was counted since the last call, emptied.
    pub fn take(&self) -> Vec<AnswerTally> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .drain()
            .map(|((minute, family, le_ms), deliveries)| AnswerTally {
                minute,
                family,
                le_ms,
                deliveries,
            })
            .collect()
    }

    /// Puts back counts that could not be written.
    pub fn restore(&self, rows: Vec<AnswerTally>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for row in rows {
            *counts
                .entry((row.minute, row.family, row.le_ms))
                .or_default() += row.deliveries;
        }
    }
}

/// The bound the `p` quantile falls under, from `(le_ms, deliveries)`
/// sorted by bound; `None` with no deliveries.
pub fn quantile(histogram: &[(i64, i64)], p: f64) -> Option<i64> {
    let total: i64 = histogram.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * p).ceil().max(1.0) as i64;
    let mut seen = 0;
    histogram.iter().find_map(|(le, n)| {
        seen += n;
        (seen >= rank).then_some(*le)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_counted_per_minute_under_their_bound() {
        let times = AnswerTimes::default();
        times.observe(60_001, "skill", 3);
        times.observe(119_999, "skill", 5);
        times.observe(120_000, "skill", 6);
        times.observe(120_000, "bot", 99_999);
        let mut rows = times.take();
        rows.sort_by_key(|r| (r.minute, r.family, r.le_ms));
        let rows: Vec<_> = rows
            .iter()
            .map(|r| (r.minute, r.family, r.le_ms, r.deliveries))
            .collect();
        assert_eq!(
            rows,
            [
                (60_000, "skill", 5, 2),
                (120_000, "bot", i64::MAX, 1),
                (120_000, "skill", 10, 1)
            ]
        );
        assert!(times.take().is_empty());
    }

    #[test]
    fn a_quantile_is_the_bound_its_rank_falls_under() {
        let histogram = [(10, 98), (100, 1), (1000, 1)];
        assert_eq!(quantile(&histogram, 0.5), Some(10));
        assert_eq!(quantile(&histogram, 0.99), Some(100));
        assert_eq!(quantile(&histogram, 1.0), Some(1000));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
