//! The numbers behind the health page's charts, read from the database (so
//! every instance draws the same picture) and shaped into [`Chart`]s: per
//! family, deliveries per minute stacked by outcome and p50/p99 against the
//! deadline; and the outboxes' pending and failed rows.

use super::{
    Page,
    charts::{Chart, Series, lines, stacked_bars},
    time::clock,
};
use crate::{
    delivery::{
        answer_times::quantile,
        log::{FAMILIES, Outcome},
    },
    state::AppState,
    storage::charts::Point,
};

/// The stretch of time charted: the last hour by minute, or the last day by
/// ten minutes.
pub struct Range {
    pub day: bool,
    since: i64,
    width: i64,
    slots: usize,
}

impl Range {
    pub fn new(day: bool, now: i64) -> Self {
        let (width, slots) = if day { (600_000, 144) } else { (60_000, 60) };
        let end = now - now.rem_euclid(width) + width;
        Self {
            day,
            since: end - width * slots as i64,
            width,
            slots,
        }
    }

    fn slot(&self, at: i64) -> Option<usize> {
        let i = usize::try_from((at - self.since).div_euclid(self.width)).ok()?;
        (i < self.slots).then_some(i)
    }

    fn ticks(&self, page: &Page) -> Vec<String> {
        (0..self.slots)
            .map(|i| clock(&page.zone, self.since + i as i64 * self.width))
            .collect()
    }
}

pub struct FamilyCharts {
    pub family: &'static str,
    pub volume: Chart,
    pub times: Chart,
}

/// Kakao's deadline for a family, ms.
fn deadline(family: &str) -> u64 {
    crate::delivery::log::family(&format!("/kakao/{family}")).map_or(3000, |(_, ms)| ms)
}

fn color(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted => "#05640a",
        Outcome::Duplicate => "#767676",
        Outcome::Answered => "#1f5fbf",
        Outcome::Fallback => "#b35c00",
        Outcome::Refused => "#b00020",
        Outcome::Unavailable => "#6a0dad",
        Outcome::Error => "#111111",
    }
}

/// Each family's two charts (families with nothing in the range left out),
/// and the outboxes' chart (`None` when nothing was ever waiting).
pub async fn charts(
    state: &AppState,
    page: &Page,
    range: &Range,
) -> (Vec<FamilyCharts>, Option<Chart>) {
    let storage = &state.storage;
    let volume = storage
        .deliveries_over_time(range.since, range.width)
        .await
        .unwrap_or_default();
    let times = storage
        .answer_times_over_time(range.since, range.width)
        .await
        .unwrap_or_default();
    let outboxes = storage
        .outboxes_over_time(range.since, range.width)
        .await
        .unwrap_or_default();
    let ticks = range.ticks(page);
    let families = FAMILIES
        .iter()
        .filter(|family| volume.iter().any(|p| p.series == **family && p.count > 0))
        .map(|&family| FamilyCharts {
            family,
            volume: volume_chart(page, range, &ticks, family, &volume),
            times: times_chart(page, range, &ticks, family, &times),
        })
        .collect();
    (families, outbox_chart(page, range, &ticks, &outboxes))
}

fn range_name(page: &Page, range: &Range) -> &'static str {
    if range.day {
        page.t.last_day
    } else {
        page.t.last_hour
    }
}

fn volume_chart(
    page: &Page,
    range: &Range,
    ticks: &[String],
    family: &str,
    points: &[Point],
) -> Chart {
    let per_minute = range.width as f64 / 60_000.0;
    let series: Vec<Series> = Outcome::ALL
        .iter()
        .map(|&outcome| {
            let mut values = vec![0.0; range.slots];
            for p in points
                .iter()
                .filter(|p| p.series == family && p.part == outcome.as_str())
            {
                if let Some(i) = range.slot(p.at) {
                    values[i] += p.count as f64 / per_minute;
                }
            }
            Series {
                name: page.t.word(outcome.as_str()).to_owned(),
                color: color(outcome),
                values,
            }
        })
        .filter(|s| s.values.iter().any(|v| *v > 0.0))
        .collect();
    let of = |filter: &dyn Fn(&Point) -> bool| -> i64 {
        points
            .iter()
            .filter(|p| p.series == family && range.slot(p.at).is_some() && filter(p))
            .map(|p| p.count)
            .sum()
    };
    let total = of(&|_| true);
    let failed = of(&|p| Outcome::parse(&p.part).is_some_and(Outcome::is_failure));
    let totals: Vec<f64> = (0..range.slots)
        .map(|i| series.iter().map(|s| s.values[i]).sum())
        .collect();
    let (peak_at, peak) =
        totals.iter().enumerate().fold(
            (0, 0.0),
            |best, (i, v)| if *v > best.1 { (i, *v) } else { best },
        );
    let summary = if page.t.lang == "en" {
        format!(
            "{family}, {}: {total} deliveries, {failed} failed; at most {peak:.1} a minute ({})",
            range_name(page, range),
            ticks[peak_at]
        )
    } else {
        format!(
            "{}, {}: 전달 {total}건, 실패 {failed}건, 분당 최대 {peak:.1}건 ({})",
            page.t.word(family),
            range_name(page, range),
            ticks[peak_at]
        )
    };
    let unit = if page.t.lang == "en" {
        "/min"
    } else {
        "건/분"
    };
    stacked_bars(&format!("volume-{family}"), &summary, unit, ticks, &series)
}

fn times_chart(
    page: &Page,
    range: &Range,
    ticks: &[String],
    family: &str,
    points: &[Point],
) -> Chart {
    let mut histograms: Vec<Vec<(i64, i64)>> = vec![Vec::new(); range.slots];
    for p in points.iter().filter(|p| p.series == family) {
        if let (Some(i), Ok(le)) = (range.slot(p.at), p.part.parse::<i64>()) {
            histograms[i].push((le, p.count));
        }
    }
    let deadline = deadline(family) as f64;
    // The open-ended bucket is drawn at twice the deadline.
    let shown = |le: i64| {
        if le == i64::MAX {
            deadline * 2.0
        } else {
            le as f64
        }
    };
    for histogram in &mut histograms {
        histogram.sort_unstable();
    }
    let quantiles = |q: f64| -> Vec<f64> {
        histograms
            .iter()
            .map(|h| quantile(h, q).map_or(f64::NAN, shown))
            .collect()
    };
    let (p50, p99) = (quantiles(0.5), quantiles(0.99));
    let worst = p99
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .reduce(f64::max);
    let late = p99.iter().filter(|v| **v > deadline).count();
    let range_name = range_name(page, range);
    let summary = match (worst, page.t.lang == "en") {
        (None, true) => format!("{family} answer times, {range_name}: not counted yet"),
        (None, false) => format!(
            "{} 응답 시간, {range_name}: 아직 집계 없음",
            page.t.word(family)
        ),
        (Some(worst), true) => format!(
            "{family} answer times, {range_name}: p99 at most {worst:.0} ms against a {deadline:.0} ms deadline; {late} stretches over it"
        ),
        (Some(worst), false) => format!(
            "{} 응답 시간, {range_name}: p99 최대 {worst:.0} ms, 기한 {deadline:.0} ms, 기한을 넘은 구간 {late}개",
            page.t.word(family)
        ),
    };
    let series = [
        Series {
            name: "p50".into(),
            color: "#1f5fbf",
            values: p50,
        },
        Series {
            name: "p99".into(),
            color: "#b35c00",
            values: p99,
        },
    ];
    lines(
        &format!("times-{family}"),
        &summary,
        "ms",
        ticks,
        &series,
        Some((deadline, page.t.deadline)),
    )
}

fn outbox_chart(page: &Page, range: &Range, ticks: &[String], points: &[Point]) -> Option<Chart> {
    const KINDS: [(&str, &str, &str, &str); 8] = [
        ("app", "pending", "#1f5fbf", "app"),
        ("app", "failed", "#b00020", "app"),
        ("stream", "pending", "#05640a", "stream"),
        ("stream", "failed", "#6a0dad", "stream"),
        ("alert", "pending", "#767676", "alert"),
        ("alert", "failed", "#111111", "alert"),
        ("bot", "pending", "#b35c00", "bot"),
        ("bot", "failed", "#8a1538", "bot"),
    ];
    let series: Vec<Series> = KINDS
        .iter()
        .filter(|(outbox, status, ..)| {
            points
                .iter()
                .any(|p| p.series == *outbox && p.part == *status && p.count > 0)
        })
        .map(|&(outbox, status, color, name)| {
            let mut values = vec![f64::NAN; range.slots];
            for p in points
                .iter()
                .filter(|p| p.series == outbox && p.part == status)
            {
                if let Some(i) = range.slot(p.at) {
                    values[i] = p.count as f64;
                }
            }
            Series {
                name: format!("{} · {}", page.t.word(name), page.t.word(status)),
                color,
                values,
            }
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    let now: Vec<String> = series
        .iter()
        .map(|s| {
            let last = s.values.iter().rev().find(|v| v.is_finite()).copied();
            format!(
                "{} {}",
                s.name,
                last.map_or("—".into(), |v| format!("{v:.0}"))
            )
        })
        .collect();
    let summary = if page.t.lang == "en" {
        format!(
            "Outboxes, {}: latest {}",
            range_name(page, range),
            now.join(", ")
        )
    } else {
        format!(
            "발신함, {}: 최근 {}",
            range_name(page, range),
            now.join(", ")
        )
    };
    let unit = if page.t.lang == "en" { "rows" } else { "건" };
    Some(lines("outboxes", &summary, unit, ticks, &series, None))
}
