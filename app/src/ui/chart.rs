//! History charts as inline SVG: one or more lines over one time range (a single line also
//! shows its min–max band), with a hover read-out that every chart of the page shares.
use leptos::prelude::*;

use crate::{FamilyHistory, History, HistoryPoint, SeriesHistory};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
/// Lines beyond this many are summed up in the legend, not drawn.
const MAX_LINES: usize = 12;

/// The unit of a chart's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Rate,
    Bytes,
    Load,
}

impl Unit {
    /// The unit the API names.
    pub fn of(name: &str) -> Unit {
        match name {
            "percent" => Unit::Percent,
            "bytes_per_second" => Unit::Rate,
            "bytes" => Unit::Bytes,
            _ => Unit::Load,
        }
    }

    pub fn text(self, v: f64) -> String {
        match self {
            Unit::Percent => super::format::pct(v),
            Unit::Rate => super::format::rate(v),
            Unit::Bytes => super::format::bytes(v),
            Unit::Load => format!("{v:.2}"),
        }
    }
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub points: Vec<HistoryPoint>,
}

/// What a chart draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// The range, unix seconds.
    pub from: i64,
    pub to: i64,
    pub unit: Unit,
    pub lines: Vec<Line>,
}

impl Plot {
    /// One metric of the host totals.
    pub fn of_history(h: &History) -> Plot {
        Plot {
            from: h.from,
            to: h.to,
            unit: Unit::of(&h.unit),
            lines: vec![Line {
                label: String::new(),
                points: h.points.clone(),
            }],
        }
    }

    /// Every series of one family; `only` keeps the series of that label alone.
    pub fn of_family(h: &SeriesHistory, f: &FamilyHistory, only: Option<&str>) -> Plot {
        Plot {
            from: h.from,
            to: h.to,
            unit: Unit::of(&f.unit),
            lines: f
                .series
                .iter()
                .filter(|s| only.is_none_or(|l| l == s.label))
                .map(|s| Line {
                    label: display_label(f.family, &s.label),
                    points: s.points.clone(),
                })
                .collect(),
        }
    }

    /// The time of the newest point.
    pub fn newest(&self) -> Option<i64> {
        self.lines
            .iter()
            .filter_map(|l| l.points.last().map(|p| p.ts))
            .max()
    }

    /// This plot with live values (time, label, value) newer than its points appended; the
    /// range grows to take them.
    pub fn with_live(&self, live: &[(i64, String, f64)]) -> Plot {
        let mut plot = self.clone();
        let since = self.newest().unwrap_or(i64::MIN);
        for (ts, label, v) in live.iter().filter(|(ts, _, _)| *ts > since) {
            let line = match plot.lines.iter().position(|l| &l.label == label) {
                Some(i) => &mut plot.lines[i],
                None => {
                    plot.lines.push(Line {
                        label: label.clone(),
                        points: Vec::new(),
                    });
                    plot.lines.last_mut().expect("just pushed")
                }
            };
            line.points.push(HistoryPoint {
                ts: *ts,
                time: String::new(),
                avg: *v,
                min: *v,
                max: *v,
            });
            plot.to = plot.to.max(ts + 1);
        }
        plot
    }

    /// The value at the top of the chart: 100 % for shares, else a little above the peak.
    pub fn top(&self) -> f64 {
        let peak = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.max))
            .fold(0.0_f64, f64::max);
        match self.unit {
            Unit::Percent if peak <= 100.0 => 100.0,
            _ => (peak * 1.1).max(1.0),
        }
    }

    fn x(&self, ts: i64) -> f64 {
        let span = (self.to - self.from).max(1) as f64;
        ((ts - self.from) as f64 / span * WIDTH).clamp(0.0, WIDTH)
    }

    /// Each drawn line's points in SVG coordinates, and the min–max band of a lone line.
    pub fn paths(&self) -> (Vec<String>, String) {
        let top = self.top();
        let y = |v: f64| (HEIGHT - v / top * HEIGHT).clamp(0.0, HEIGHT);
        let at = |ts: i64, v: f64| format!("{:.1},{:.1}", self.x(ts), y(v));
        let lines = self
            .lines
            .iter()
            .take(MAX_LINES)
            .map(|l| {
                l.points
                    .iter()
                    .map(|p| at(p.ts, p.avg))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let band = match self.lines.as_slice() {
            [one] => {
                let upper = one.points.iter().map(|p| at(p.ts, p.max));
                let lower = one.points.iter().rev().map(|p| at(p.ts, p.min));
                upper.chain(lower).collect::<Vec<_>>().join(" ")
            }
            _ => String::new(),
        };
        (lines, band)
    }

    /// The time at `fraction` of the range and each line's value nearest to it (within two
    /// buckets' width), for the hover read-out.
    pub fn read_at(&self, fraction: f64) -> (i64, Vec<(String, f64)>) {
        let span = (self.to - self.from).max(1);
        let ts = self.from + (fraction.clamp(0.0, 1.0) * span as f64) as i64;
        let values = self
            .lines
            .iter()
            .filter_map(|l| {
                let nearest = l.points.iter().min_by_key(|p| (p.ts - ts).abs())?;
                let gap = l
                    .points
                    .windows(2)
                    .map(|w| w[1].ts - w[0].ts)
                    .min()
                    .unwrap_or(span);
                ((nearest.ts - ts).abs() <= 2 * gap.max(1)).then(|| (l.label.clone(), nearest.avg))
            })
            .collect();
        (ts, values)
    }
}

/// How a series is named on a chart: cores as `cpu0`, `cpu1` (as the cores card names them).
pub fn display_label(family: crate::SeriesFamily, label: &str) -> String {
    match family {
        crate::SeriesFamily::CpuCore => format!("cpu{label}"),
        _ => label.to_owned(),
    }
}

/// The hover position shared by every chart of a page: a fraction of the range.
#[derive(Clone, Copy)]
pub struct Hover(pub RwSignal<Option<f64>>);

/// The chart's caption: the newest value of each line (of up to three), or "no data yet".
fn latest_text(plot: &Plot) -> String {
    let newest = |l: &Line| l.points.last().map(|p| plot.unit.text(p.avg));
    match plot.lines.as_slice() {
        [] => "no data yet".into(),
        [one] => newest(one).unwrap_or_else(|| "no data yet".into()),
        few if few.len() <= 3 => few
            .iter()
            .filter_map(|l| Some(format!("{} {}", l.label, newest(l)?)))
            .collect::<Vec<_>>()
            .join(" · "),
        many => format!("{} series", many.len()),
    }
}

/// "12:04" (local time in the browser), with the day ("Dec 3 12:04") when the chart spans
/// more than a day: the read-out's moment.
fn clock(ts: i64, with_day: bool) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    #[cfg(feature = "hydrate")]
    let (month, day, hour, minute) = {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64 * 1000.0));
        (d.get_month(), d.get_date(), d.get_hours(), d.get_minutes())
    };
    #[cfg(not(feature = "hydrate"))]
    let (month, day, hour, minute) = {
        // The server renders no read-out; UTC keeps this total.
        let s = ts.rem_euclid(86_400) as u32;
        (0, 1, s / 3600, s % 3600 / 60)
    };
    let time = format!("{hour:02}:{minute:02}");
    if with_day {
        format!("{} {day} {time}", MONTHS[month as usize % 12])
    } else {
        time
    }
}

/// A closure reading `plot` through `f`: each part of a chart holds its own handle.
fn reading<R>(
    plot: &ArcSignal<Plot>,
    f: impl Fn(&Plot) -> R + Send + Sync + 'static,
) -> impl Fn() -> R + Send + Sync + 'static {
    let plot = plot.clone();
    move || plot.with(&f)
}

/// A chart of `plot` with a title; `key` names it for tests (`data-chart`).
///
/// The plot is reference-counted rather than owned by the reactive scope that made it: a
/// `Transition` keeps the previous chart on screen while the next one loads, and a live sample
/// arriving then must still find the plot the previous chart reads (an owned one would
/// already be disposed, and reading it panics).
#[component]
pub fn Chart(
    #[prop(into)] plot: ArcSignal<Plot>,
    #[prop(into)] title: String,
    #[prop(into)] key: String,
) -> impl IntoView {
    let hover = use_context::<Hover>().map(|h| h.0);
    let span = reading(&plot, |p| match p.to - p.from {
        s if s >= 29 * 86_400 => "30 d ago",
        s if s >= 6 * 86_400 => "7 d ago",
        s if s >= 86_000 => "24 h ago",
        s if s >= 3_500 => "1 h ago",
        _ => "",
    });
    let for_readout = plot.clone();
    let readout = move || {
        let plot = &for_readout;
        let fraction = hover.and_then(|h| h.get())?;
        let (ts, values) = plot.with(|p| p.read_at(fraction));
        let unit = plot.with(|p| p.unit);
        let shown: Vec<String> = values
            .iter()
            .take(6)
            .map(|(label, v)| {
                if label.is_empty() {
                    unit.text(*v)
                } else {
                    format!("{label} {}", unit.text(*v))
                }
            })
            .collect();
        let moment = clock(ts, plot.with(|p| p.to - p.from > 86_400));
        Some(if shown.is_empty() {
            format!("{moment} · no data")
        } else {
            format!("{moment} · {}", shown.join(" · "))
        })
    };
    let on_move = move |ev: leptos::ev::MouseEvent| {
        use leptos::wasm_bindgen::JsCast;
        let Some(hover) = hover else { return };
        let width = ev
            .current_target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
            .map(|e| e.client_width())
            .unwrap_or(0);
        if width > 0 {
            hover.set(Some(f64::from(ev.offset_x()) / f64::from(width)));
        }
    };
    let on_leave = move |_| {
        if let Some(h) = hover {
            h.set(None);
        }
    };
    let aria = title.clone();
    let latest = reading(&plot, latest_text);
    let top = reading(&plot, |p| p.unit.text(p.top()));
    let waiting = reading(&plot, |p| {
        if p.newest().is_none() {
            "waiting for samples"
        } else {
            ""
        }
    });
    let legend = reading(&plot, |p| {
        (p.lines.len() > 1).then(|| {
            let more = p.lines.len().saturating_sub(MAX_LINES);
            view! {
                <ul class="legend">
                    {p.lines.iter().take(MAX_LINES).enumerate().map(|(i, l)| view! {
                        <li><span class=format!("swatch s{}", i % 8)></span>{l.label.clone()}</li>
                    }).collect_view()}
                    {(more > 0).then(|| view! { <li class="muted">{format!("+{more} more")}</li> })}
                </ul>
            }
        })
    });
    view! {
        <figure class="chart" data-chart=key>
            <figcaption>
                <span>{title}</span>
                <span class="muted" data-testid="chart-value">{move || readout().unwrap_or_else(&latest)}</span>
            </figcaption>
            <div class="axis muted"><span>{top}</span></div>
            <div class="plot" on:mousemove=on_move on:mouseleave=on_leave>
                {move || {
                    let p = plot.get();
                    let (lines, band) = p.paths();
                    let single = p.lines.len() == 1;
                    // A line needs two points: until then, show the samples as dots.
                    let dots: Vec<(String, String)> = lines
                        .iter()
                        .filter(|l| l.split(' ').count() < 3)
                        .flat_map(|l| l.split(' ').filter_map(|p| p.split_once(',')).map(|(x, y)| (x.to_owned(), y.to_owned())).collect::<Vec<_>>())
                        .collect();
                    let cursor = hover.and_then(|h| h.get()).map(|f| f.clamp(0.0, 1.0) * WIDTH);
                    view! {
                        <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none" role="img" aria-label=aria.clone()>
                            <line class="grid" x1="0" x2=WIDTH y1=HEIGHT / 2.0 y2=HEIGHT / 2.0/>
                            <line class="grid" x1="0" x2=WIDTH y1=HEIGHT / 4.0 y2=HEIGHT / 4.0/>
                            <line class="grid" x1="0" x2=WIDTH y1=HEIGHT * 0.75 y2=HEIGHT * 0.75/>
                            {single.then(|| view! { <polygon class="band" points=band/> })}
                            {lines.into_iter().enumerate().map(|(i, points)| view! {
                                <polyline class=format!("line s{}", i % 8) points=points/>
                            }).collect_view()}
                            {dots.into_iter().map(|(x, y)| view! { <circle class="dot" cx=x cy=y r="3"/> }).collect_view()}
                            {cursor.map(|x| view! { <line class="cursor" x1=x x2=x y1="0" y2=HEIGHT/> })}
                        </svg>
                    }
                }}
            </div>
            {legend}
            <div class="axis muted"><span>{span}</span><span>{waiting}</span><span>"now"</span></div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metric;

    fn point(ts: i64, v: f64) -> HistoryPoint {
        HistoryPoint {
            ts,
            time: String::new(),
            avg: v,
            min: v - 5.0,
            max: v + 5.0,
        }
    }

    fn cpu(points: Vec<HistoryPoint>) -> Plot {
        Plot::of_history(&History {
            agent_id: "local".into(),
            metric: Metric::Cpu,
            unit: "percent".into(),
            from: 0,
            to: 100,
            step: 10,
            points,
        })
    }

    #[test]
    fn maps_time_to_x_and_percent_to_y() {
        let (lines, band) = cpu(vec![point(0, 50.0), point(100, 95.0)]).paths();
        assert_eq!(lines, vec!["0.0,80.0 600.0,8.0".to_owned()]);
        assert_eq!(band.split(' ').count(), 4);
    }

    #[test]
    fn live_values_join_after_the_newest_point_and_widen_the_range() {
        let plot = cpu(vec![point(0, 50.0), point(90, 60.0)]);
        let live = vec![
            (80, String::new(), 1.0),
            (120, String::new(), 70.0),
            (130, "other".to_owned(), 5.0),
        ];
        let joined = plot.with_live(&live);
        let times: Vec<i64> = joined.lines[0].points.iter().map(|p| p.ts).collect();
        assert_eq!(
            times,
            vec![0, 90, 120],
            "older live values are already charted"
        );
        assert_eq!(joined.lines[1].label, "other");
        assert_eq!(joined.to, 131);
    }

    #[test]
    fn the_read_out_takes_each_lines_nearest_point() {
        let plot = cpu(vec![point(0, 10.0), point(50, 20.0), point(100, 30.0)]);
        assert_eq!(plot.read_at(0.45), (45, vec![(String::new(), 20.0)]));
        let gap = cpu(vec![point(0, 10.0), point(10, 20.0)]);
        assert!(gap.read_at(0.9).1.is_empty(), "no value far from any point");
    }
}
