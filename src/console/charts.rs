//! The health page's charts as server-side SVG: stacked bars (deliveries by
//! outcome) and lines (answer times against the deadline, the outboxes'
//! depth). Each chart is an `<svg role="img">` named by a one-line summary,
//! its text alternative; the legend is HTML beside it. Nothing is fetched
//! and nothing runs in the browser.

use std::fmt::Write;

/// One named row of values, one per slot.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub values: Vec<f64>,
}

/// A chart ready for a template: its SVG and its legend.
pub struct Chart {
    pub svg: String,
    pub legend: Vec<(String, &'static str)>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// A round number at least `max`, for the top of the y axis.
fn nice_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|top| *top >= max)
        .unwrap_or(10.0 * magnitude)
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Text for HTML and SVG: the four characters that could end it escaped.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The frame every chart shares: its name, the y axis to `top` with `unit`,
/// and the first, middle and last slots' labels.
fn frame(id: &str, summary: &str, top: f64, unit: &str, ticks: &[String]) -> String {
    let mut svg = String::new();
    let summary = escape(summary);
    let _ = write!(
        svg,
        r##"<svg id="{id}" role="img" aria-label="{summary}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" style="max-width:{WIDTH}px" xmlns="http://www.w3.org/2000/svg"><title>{summary}</title>"##
    );
    let bottom = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH}" y2="{bottom}" stroke="#555"/><line x1="{LEFT}" y1="{TOP}" x2="{WIDTH}" y2="{TOP}" stroke="#ddd"/>"##
    );
    let _ = write!(
        svg,
        r##"<text x="{x}" y="{y}" font-size="11" text-anchor="end" fill="#222">{top} {unit}</text><text x="{x}" y="{bottom}" font-size="11" text-anchor="end" fill="#222">0</text>"##,
        x = LEFT - 4.0,
        y = TOP + 10.0,
        top = number(top),
        unit = escape(unit),
    );
    let n = ticks.len();
    for (i, anchor) in [
        (0, "start"),
        (n / 2, "middle"),
        (n.saturating_sub(1), "end"),
    ] {
        if let Some(label) = ticks.get(i) {
            let x = slot_x(i, n) + slot_width(n) / 2.0;
            let _ = write!(
                svg,
                r##"<text x="{x:.1}" y="{y}" font-size="11" text-anchor="{anchor}" fill="#222">{label}</text>"##,
                y = HEIGHT - 6.0,
                label = escape(label),
            );
        }
    }
    svg
}

fn slot_width(slots: usize) -> f64 {
    (WIDTH - LEFT) / slots.max(1) as f64
}

fn slot_x(i: usize, slots: usize) -> f64 {
    LEFT + i as f64 * slot_width(slots)
}

fn y_of(value: f64, top: f64) -> f64 {
    let bottom = HEIGHT - BOTTOM;
    bottom - (value / top).clamp(0.0, 1.0) * (bottom - TOP)
}

/// Bars per slot, the series stacked in order.
pub fn stacked_bars(
    id: &str,
    summary: &str,
    unit: &str,
    ticks: &[String],
    series: &[Series],
) -> Chart {
    let slots = ticks.len();
    let totals: Vec<f64> = (0..slots)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let top = nice_top(totals.iter().copied().fold(0.0, f64::max));
    let mut svg = frame(id, summary, top, unit, ticks);
    let width = (slot_width(slots) - 1.0).max(0.5);
    for i in 0..slots {
        let mut base = 0.0;
        for s in series {
            let value = s.values.get(i).copied().unwrap_or(0.0);
            if value <= 0.0 {
                continue;
            }
            let (y0, y1) = (y_of(base, top), y_of(base + value, top));
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="{y1:.1}" width="{width:.1}" height="{h:.1}" fill="{color}"/>"##,
                x = slot_x(i, slots),
                h = (y0 - y1).max(0.5),
                color = s.color,
            );
            base += value;
        }
    }
    svg.push_str("</svg>");
    Chart {
        svg,
        legend: legend(series),
    }
}

/// A line per series (a gap where a value is NaN), and a dashed line at
/// `reference` (the deadline) when given.
pub fn lines(
    id: &str,
    summary: &str,
    unit: &str,
    ticks: &[String],
    series: &[Series],
    reference: Option<(f64, &str)>,
) -> Chart {
    let slots = ticks.len();
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .chain(reference.map(|(value, _)| value))
        .fold(0.0, f64::max);
    let top = nice_top(max);
    let mut svg = frame(id, summary, top, unit, ticks);
    if let Some((value, _)) = reference {
        let y = y_of(value, top);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{WIDTH}" y2="{y:.1}" stroke="#b00020" stroke-dasharray="6 4"/>"##
        );
    }
    let half = slot_width(slots) / 2.0;
    for s in series {
        let mut path = String::new();
        let mut dots = String::new();
        let mut pen_down = false;
        for (i, value) in s.values.iter().enumerate() {
            if !value.is_finite() {
                pen_down = false;
                continue;
            }
            let command = if pen_down { 'L' } else { 'M' };
            let (x, y) = (slot_x(i, slots) + half, y_of(*value, top));
            let _ = write!(path, "{command}{x:.1} {y:.1} ");
            // A dot per value: a lone value has no line to show it.
            let _ = write!(
                dots,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{color}"/>"##,
                color = s.color
            );
            pen_down = true;
        }
        if !path.is_empty() {
            let _ = write!(
                svg,
                r##"<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>"##,
                path = path.trim_end(),
                color = s.color
            );
            svg.push_str(&dots);
        }
    }
    svg.push_str("</svg>");
    let mut legend = legend(series);
    if let Some((_, name)) = reference {
        legend.push((name.to_owned(), "#b00020"));
    }
    Chart { svg, legend }
}

fn legend(series: &[Series]) -> Vec<(String, &'static str)> {
    series.iter().map(|s| (s.name.clone(), s.color)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:02}:00")).collect()
    }

    #[test]
    fn the_top_of_the_axis_is_a_round_number_above_the_largest_value() {
        assert_eq!(nice_top(0.0), 1.0);
        assert_eq!(nice_top(7.0), 10.0);
        assert_eq!(nice_top(12.0), 20.0);
        assert_eq!(nice_top(230.0), 250.0);
        assert_eq!(nice_top(5000.0), 5000.0);
    }

    #[test]
    fn bars_stack_and_the_chart_is_named_by_its_summary() {
        let series = [
            Series {
                name: "accepted".into(),
                color: "#05640a",
                values: vec![1.0, 3.0],
            },
            Series {
                name: "refused".into(),
                color: "#b00020",
                values: vec![1.0, 0.0],
            },
        ];
        let chart = stacked_bars("c", "skill: 5 <deliveries>", "/min", &ticks(2), &series);
        assert!(
            chart
                .svg
                .starts_with(r#"<svg id="c" role="img" aria-label="skill: 5 &lt;deliveries&gt;""#)
        );
        assert!(
            chart
                .svg
                .contains("<title>skill: 5 &lt;deliveries&gt;</title>")
        );
        // Three non-empty segments; the tallest slot (3) reaches under the top (5).
        assert_eq!(chart.svg.matches("<rect").count(), 3);
        assert!(chart.svg.contains(">5 /min</text>"));
        assert_eq!(chart.legend.len(), 2);
    }

    #[test]
    fn a_line_breaks_where_there_is_no_value_and_the_deadline_is_dashed() {
        let series = [Series {
            name: "p99".into(),
            color: "#333",
            values: vec![10.0, f64::NAN, 20.0, 30.0],
        }];
        let chart = lines(
            "l",
            "p99",
            "ms",
            &ticks(4),
            &series,
            Some((3000.0, "deadline")),
        );
        assert_eq!(chart.svg.matches('M').count(), 2, "{}", chart.svg);
        assert_eq!(chart.svg.matches("<circle").count(), 3);
        assert!(chart.svg.contains("stroke-dasharray"));
        assert!(chart.svg.contains(">5000 ms</text>"));
        assert_eq!(chart.legend.last().unwrap().0, "deadline");
    }
}
