//! A history chart as inline SVG: the average as a line over a min–max band.
use leptos::prelude::*;

use crate::History;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;

/// The points of the average line and of the min–max band, in SVG coordinates.
pub fn chart_paths(history: &History) -> (String, String, f64) {
    let span = (history.to - history.from).max(1) as f64;
    let percent = history.unit == "percent";
    let peak = history.points.iter().map(|p| p.max).fold(0.0_f64, f64::max);
    let top = if percent {
        100.0
    } else {
        (peak * 1.1).max(1.0)
    };
    let x = |ts: i64| ((ts - history.from) as f64 / span * WIDTH).clamp(0.0, WIDTH);
    let y = |v: f64| (HEIGHT - v / top * HEIGHT).clamp(0.0, HEIGHT);
    let line = history
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.ts), y(p.avg)))
        .collect::<Vec<_>>()
        .join(" ");
    let upper = history
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.ts), y(p.max)));
    let lower = history
        .points
        .iter()
        .rev()
        .map(|p| format!("{:.1},{:.1}", x(p.ts), y(p.min)));
    let band = upper.chain(lower).collect::<Vec<_>>().join(" ");
    (line, band, top)
}

/// One metric's history with a title and the newest average.
#[component]
pub fn HistoryChart(history: History, title: &'static str) -> impl IntoView {
    let (line, band, top) = chart_paths(&history);
    let percent = history.unit == "percent";
    let label = move |v: f64| {
        if percent {
            format!("{v:.0} %")
        } else {
            super::format::rate(v)
        }
    };
    let latest = history
        .points
        .last()
        .map(|p| label(p.avg))
        .unwrap_or_else(|| "no data yet".into());
    let empty = history.points.is_empty();
    // A line needs two points: until then, show the samples as dots.
    let dots: Vec<(String, String)> = if history.points.len() < 3 {
        line.split(' ')
            .filter_map(|p| p.split_once(','))
            .map(|(x, y)| (x.to_owned(), y.to_owned()))
            .collect()
    } else {
        Vec::new()
    };
    let span = match history.to - history.from {
        s if s >= 29 * 86_400 => "30 d ago",
        s if s >= 6 * 86_400 => "7 d ago",
        s if s >= 86_000 => "24 h ago",
        s if s >= 3_500 => "1 h ago",
        _ => "",
    };
    view! {
        <figure class="chart" data-metric=history.metric.as_str()>
            <figcaption><span>{title}</span><span class="muted">{latest}</span></figcaption>
            <div class="axis muted"><span>{label(top)}</span></div>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none" role="img" aria-label=title>
                <line class="grid" x1="0" x2=WIDTH y1=HEIGHT / 2.0 y2=HEIGHT / 2.0/>
                <line class="grid" x1="0" x2=WIDTH y1=HEIGHT / 4.0 y2=HEIGHT / 4.0/>
                <line class="grid" x1="0" x2=WIDTH y1=HEIGHT * 0.75 y2=HEIGHT * 0.75/>
                <polygon class="band" points=band/>
                <polyline class="line" points=line/>
                {dots.into_iter().map(|(x, y)| view! { <circle class="dot" cx=x cy=y r="3"/> }).collect_view()}
            </svg>
            <div class="axis muted"><span>{span}</span><span>{if empty { "waiting for samples" } else { "" }}</span><span>"now"</span></div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HistoryPoint, Metric};

    fn point(ts: i64, v: f64) -> HistoryPoint {
        HistoryPoint {
            ts,
            time: String::new(),
            avg: v,
            min: v - 5.0,
            max: v + 5.0,
        }
    }

    #[test]
    fn maps_time_to_x_and_percent_to_y() {
        let h = History {
            agent_id: "local".into(),
            metric: Metric::Cpu,
            unit: "percent".into(),
            from: 0,
            to: 100,
            step: 10,
            points: vec![point(0, 50.0), point(100, 100.0)],
        };
        let (line, band, top) = chart_paths(&h);
        assert_eq!(top, 100.0);
        assert_eq!(line, "0.0,80.0 600.0,0.0");
        assert_eq!(band.split(' ').count(), 4);
    }
}
