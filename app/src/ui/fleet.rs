//! The fleet overview: one row per host, sortable and filterable (state in the URL), kept
//! live by server-sent events without re-rendering the table.
use std::collections::{BTreeSet, HashMap};

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_navigate, use_query_map};

use super::format;
use super::table;
use crate::{AgentStatus, ConnectionState, HostOverview};

/// A column the table sorts by, as it is written in the URL (`?sort=cpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Host,
    Status,
    Cpu,
    Memory,
    Disk,
    Load,
    Network,
    Uptime,
    Version,
    Seen,
}

impl Column {
    const ALL: [Column; 10] = [
        Column::Host,
        Column::Status,
        Column::Cpu,
        Column::Memory,
        Column::Disk,
        Column::Load,
        Column::Network,
        Column::Uptime,
        Column::Version,
        Column::Seen,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Column::Host => "host",
            Column::Status => "status",
            Column::Cpu => "cpu",
            Column::Memory => "memory",
            Column::Disk => "disk",
            Column::Load => "load",
            Column::Network => "network",
            Column::Uptime => "uptime",
            Column::Version => "version",
            Column::Seen => "seen",
        }
    }

    fn parse(text: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Figures read best busiest first; names and versions alphabetically.
    fn descending_first(self) -> bool {
        !matches!(self, Column::Host | Column::Version)
    }

    fn title(self) -> &'static str {
        match self {
            Column::Host => "Host",
            Column::Status => "Status",
            Column::Cpu => "CPU",
            Column::Memory => "Memory",
            Column::Disk => "Disk",
            Column::Load => "Load",
            Column::Network => "Network",
            Column::Uptime => "Uptime",
            Column::Version => "Agent",
            Column::Seen => "Last seen",
        }
    }
}

/// What the URL asks the table for: `?sort=cpu&dir=desc&tag=prod&q=web`.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub sort: Column,
    pub descending: bool,
    pub tag: Option<String>,
    pub text: String,
}

impl View {
    fn from_query(get: impl Fn(&str) -> Option<String>) -> View {
        let sort = get("sort")
            .and_then(|s| Column::parse(&s))
            .unwrap_or(Column::Host);
        let descending = table::descending(get("dir").as_deref(), sort.descending_first());
        View {
            sort,
            descending,
            tag: get("tag").filter(|t| !t.is_empty()),
            text: get("q").unwrap_or_default(),
        }
    }

    /// The query string of this view, leaving out what is the default.
    fn query(&self) -> String {
        let mut parts = Vec::new();
        if self.sort != Column::Host {
            parts.push(format!("sort={}", self.sort.as_str()));
        }
        parts.extend(table::direction_part(
            self.descending,
            self.sort.descending_first(),
        ));
        if let Some(tag) = &self.tag {
            parts.push(format!("tag={}", format::query_value(tag)));
        }
        if !self.text.is_empty() {
            parts.push(format!("q={}", format::query_value(&self.text)));
        }
        format::with_query("/", &parts)
    }

    /// This view sorted by `column`: the other direction when it already is.
    fn sorted_by(&self, column: Column) -> View {
        View {
            sort: column,
            descending: table::next_descending(
                self.sort == column,
                self.descending,
                column.descending_first(),
            ),
            ..self.clone()
        }
    }
}

/// Where a host stands, worst first: revoked, then silent, then reporting.
fn standing(h: &HostOverview) -> u8 {
    match (h.status, h.connection_state) {
        (AgentStatus::Revoked, _) => 0,
        (_, ConnectionState::Disconnected) => 1,
        (_, ConnectionState::Connected) => 2,
    }
}

/// Whether a host matches the view's tag and text filters.
fn matches(h: &HostOverview, view: &View) -> bool {
    if let Some(tag) = &view.tag
        && !h.tags.iter().any(|t| t == tag)
    {
        return false;
    }
    let text = view.text.trim().to_lowercase();
    text.is_empty()
        || [&h.label, &h.hostname, &h.id]
            .iter()
            .any(|s| s.to_lowercase().contains(&text))
        || h.tags.iter().any(|t| t.to_lowercase().contains(&text))
}

/// The ids of the hosts the view shows, in its order. Hosts without a figure sort last
/// whichever the direction; ties go by label.
pub fn order(hosts: &[HostOverview], view: &View) -> Vec<String> {
    let figure = |h: &HostOverview| -> Option<f64> {
        match view.sort {
            Column::Host | Column::Version => None,
            Column::Status => Some(f64::from(standing(h))),
            Column::Cpu => h.cpu_pct,
            Column::Memory => h.memory_pct,
            Column::Disk => h.disk_pct,
            Column::Load => h.load1.map(|l| l / f64::from(h.cores.unwrap_or(1).max(1))),
            Column::Network => h
                .net_rx_bytes_per_s
                .zip(h.net_tx_bytes_per_s)
                .map(|(r, t)| r + t),
            Column::Uptime => h.uptime_s.map(|u| u as f64),
            Column::Seen => h.last_seen_ms.map(|t| t as f64),
        }
    };
    let mut shown: Vec<&HostOverview> = hosts.iter().filter(|h| matches(h, view)).collect();
    shown.sort_by(|a, b| {
        let by_label = a.label.to_lowercase().cmp(&b.label.to_lowercase());
        let primary = match view.sort {
            Column::Host => by_label,
            Column::Version => a.agent_version.cmp(&b.agent_version),
            // Status: worst first when descending (the default), so invert the standing.
            Column::Status => {
                let (x, y) = (standing(a), standing(b));
                if view.descending {
                    x.cmp(&y)
                } else {
                    y.cmp(&x)
                }
            }
            _ => table::by_figure(figure(a), figure(b), view.descending),
        };
        let primary = match view.sort {
            Column::Host | Column::Version if view.descending => primary.reverse(),
            _ => primary,
        };
        primary.then(by_label)
    });
    shown.into_iter().map(|h| h.id.clone()).collect()
}

/// What a live sample changes in a row; the rest of the row (label, tags, version,
/// sparklines) changes only with the 30-second refresh, so a sample touches these cells alone.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    connection_state: ConnectionState,
    cpu_pct: Option<f64>,
    memory_pct: Option<f64>,
    disk_pct: Option<f64>,
    load1: Option<f64>,
    cores: Option<u32>,
    net_rx_bytes_per_s: Option<f64>,
    net_tx_bytes_per_s: Option<f64>,
    uptime_s: Option<u64>,
    last_seen: Option<String>,
    last_seen_ms: Option<i64>,
}

impl Live {
    fn of(h: &HostOverview) -> Live {
        Live {
            connection_state: h.connection_state,
            cpu_pct: h.cpu_pct,
            memory_pct: h.memory_pct,
            disk_pct: h.disk_pct,
            load1: h.load1,
            cores: h.cores,
            net_rx_bytes_per_s: h.net_rx_bytes_per_s,
            net_tx_bytes_per_s: h.net_tx_bytes_per_s,
            uptime_s: h.uptime_s,
            last_seen: h.last_seen.clone(),
            last_seen_ms: h.last_seen_ms,
        }
    }

    /// The row as the sort sees it: its facts with these figures.
    fn applied(&self, facts: &HostOverview) -> HostOverview {
        HostOverview {
            connection_state: self.connection_state,
            cpu_pct: self.cpu_pct,
            memory_pct: self.memory_pct,
            disk_pct: self.disk_pct,
            load1: self.load1,
            cores: self.cores,
            net_rx_bytes_per_s: self.net_rx_bytes_per_s,
            net_tx_bytes_per_s: self.net_tx_bytes_per_s,
            uptime_s: self.uptime_s,
            last_seen: self.last_seen.clone(),
            last_seen_ms: self.last_seen_ms,
            ..facts.clone()
        }
    }
}

/// The part of an SSE `host_sample` (a `HostSummary`) the overview reads. The per-core,
/// file-system and interface lists are skipped, not built: a thousand hosts send a hundred
/// of these a second.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(serde::Deserialize)]
struct SampleEvent {
    agent_id: String,
    connection_state: ConnectionState,
    latest: Option<SampleFigures>,
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(serde::Deserialize)]
struct SampleFigures {
    taken_at: String,
    taken_at_ms: i64,
    uptime_s: u64,
    cpu_pct: f64,
    cpu_per_core_pct: Vec<serde::de::IgnoredAny>,
    load: [f64; 3],
    memory_pct: f64,
    disk_pct: f64,
    net_rx_bytes_per_s: f64,
    net_tx_bytes_per_s: f64,
}

impl SampleEvent {
    /// Folds this sample into a row's live figures.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn apply(self, live: &mut Live) {
        live.connection_state = self.connection_state;
        if let Some(f) = self.latest {
            live.cpu_pct = Some(f.cpu_pct);
            live.memory_pct = Some(f.memory_pct);
            live.disk_pct = Some(f.disk_pct);
            live.load1 = Some(f.load[0]);
            live.cores = Some(f.cpu_per_core_pct.len() as u32);
            live.net_rx_bytes_per_s = Some(f.net_rx_bytes_per_s);
            live.net_tx_bytes_per_s = Some(f.net_tx_bytes_per_s);
            live.uptime_s = Some(f.uptime_s);
            live.last_seen = Some(f.taken_at);
            live.last_seen_ms = Some(f.taken_at_ms);
        }
    }
}

/// Rows the server draws and the browser hydrates before anything is measured: more than a
/// tall screen holds.
const FIRST_ROWS: usize = 60;
/// Rows drawn beyond the visible ones on each side, so a quick scroll finds them drawn.
const OVERSCAN: usize = 20;
/// A row's height until one is measured, in CSS pixels.
const ROW_PX: f64 = 45.0;

/// The overview's rows that are drawn, out of all it shows: only those on screen and a margin
/// around them, with spacers above and below in their place, so a thousand hosts are a
/// thousand pairs of signals but some sixty rows of DOM to hydrate, update and lay out.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    start: usize,
    end: usize,
    row_px: f64,
}

impl Window {
    const FIRST: Window = Window {
        start: 0,
        end: FIRST_ROWS,
        row_px: ROW_PX,
    };

    /// The rows to draw when `offset_px` of the list lies above the top of a viewport
    /// `viewport_px` high and a row is `row_px` high.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn at(offset_px: f64, viewport_px: f64, row_px: f64) -> Window {
        let row_px = if row_px.is_finite() && row_px >= 8.0 {
            row_px
        } else {
            ROW_PX
        };
        let first = (offset_px.max(0.0) / row_px) as usize;
        let visible = (viewport_px.max(0.0) / row_px).ceil() as usize + 1;
        Window {
            start: first.saturating_sub(OVERSCAN),
            end: first + visible + OVERSCAN,
            row_px,
        }
    }

    fn slice<'a>(&self, ids: &'a [String]) -> &'a [String] {
        let end = self.end.min(ids.len());
        &ids[self.start.min(end)..end]
    }

    /// The heights of the spacers above and below the drawn rows of a list of `len`.
    fn spacers_px(&self, len: usize) -> (f64, f64) {
        let start = self.start.min(len);
        let end = self.end.clamp(start, len);
        (start as f64 * self.row_px, (len - end) as f64 * self.row_px)
    }
}

/// One host's row: its facts and its live figures, each a signal of its own.
#[derive(Clone, Copy)]
struct Row {
    facts: RwSignal<HostOverview>,
    live: RwSignal<Live>,
}

impl Row {
    fn new(h: &HostOverview) -> Row {
        Row {
            facts: RwSignal::new(h.clone()),
            live: RwSignal::new(Live::of(h)),
        }
    }

    /// A fresh listing of the host: new facts, and its figures unless a live sample
    /// already brought newer ones.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn refresh(&self, h: HostOverview) {
        let fresh = Live::of(&h);
        let newer = self
            .live
            .with_untracked(|l| fresh.last_seen_ms >= l.last_seen_ms);
        if newer {
            self.live.try_set(fresh);
        }
        self.facts.try_set(h);
    }
}

/// `/`: the fleet overview when more than one host is known, else this machine's page
/// (`/hosts/local`).
#[component]
pub fn HomePage() -> impl IntoView {
    view! { <super::RequireUser signed_in=|| view! { <Home/> }/> }
}

#[component]
fn Home() -> impl IntoView {
    let hosts = Resource::new(|| (), |_| super::list_hosts());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading hosts…"</p> }>
            {move || Suspend::new(async move {
                match hosts.await {
                    Ok(list) if list.len() > 1 => view! { <Fleet hosts=list/> }.into_any(),
                    // One host: its page. A redirect, not the page itself in this
                    // suspense, so the host page's resources hydrate as on its own route.
                    Ok(_) => view! { <Redirect path="/hosts/local"/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The overview of `hosts` (the server-rendered list; live from then on).
#[component]
pub fn Fleet(hosts: Vec<HostOverview>) -> impl IntoView {
    let query = use_query_map();
    let view_state = Memo::new(move |_| query.with(|q| View::from_query(|k| q.get(k))));
    // Two signals per host: a live sample changes that row's figures and nothing else.
    let rows: RwSignal<HashMap<String, Row>> =
        RwSignal::new(hosts.iter().map(|h| (h.id.clone(), Row::new(h))).collect());
    // The order is taken when the view or the set of hosts changes (and on each refresh),
    // not on every sample, so rows never jump under the pointer.
    let resort = RwSignal::new(0_u32);
    let shown = Memo::new(move |_| {
        resort.track();
        let view = view_state.get();
        let snapshot: Vec<HostOverview> = rows.with(|r| {
            r.values()
                .map(|row| {
                    row.facts
                        .with_untracked(|f| row.live.with_untracked(|l| l.applied(f)))
                })
                .collect()
        });
        order(&snapshot, &view)
    });
    let tags = Memo::new(move |_| {
        rows.with(|r| {
            r.values()
                .flat_map(|row| row.facts.with(|h| h.tags.clone()))
                .collect::<BTreeSet<String>>()
        })
    });
    let now = RwSignal::new(format::now_ms());
    let total = move || rows.with(|r| r.len());
    let window = RwSignal::new(Window::FIRST);
    let drawn = Memo::new(move |_| {
        let w = window.get();
        shown.with(|ids| w.slice(ids).to_vec())
    });
    let spacers = move || {
        let len = shown.with(Vec::len);
        window.with(|w| w.spacers_px(len))
    };
    let tbody = NodeRef::<leptos::html::Tbody>::new();
    #[cfg(feature = "hydrate")]
    follow_scroll(tbody, window, shown);

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        // Samples wait for the next frame and are applied together: at a hundred a second
        // the browser renders once per frame, not once per sample.
        let pending = StoredValue::new(HashMap::<String, SampleEvent>::new());
        super::live::on_event("host_sample", move |text| {
            let Ok(sample) = serde_json::from_str::<SampleEvent>(&text) else {
                return;
            };
            let first = pending
                .try_update_value(|p| {
                    let first = p.is_empty();
                    p.insert(sample.agent_id.clone(), sample);
                    first
                })
                .unwrap_or(false);
            if first {
                request_animation_frame(move || {
                    let Some(batch) = pending.try_update_value(std::mem::take) else {
                        return;
                    };
                    for (id, sample) in batch {
                        if let Some(row) = rows.with_untracked(|r| r.get(&id).copied()) {
                            row.live.try_update(|l| sample.apply(l));
                        }
                    }
                });
            }
        });
        super::live::on_event("agent_status", move |text| {
            #[derive(serde::Deserialize)]
            struct Status {
                agent_id: String,
                connection_state: ConnectionState,
            }
            if let Ok(s) = serde_json::from_str::<Status>(&text)
                && let Some(row) = rows.with_untracked(|r| r.get(&s.agent_id).copied())
            {
                row.live
                    .try_update(|l| l.connection_state = s.connection_state);
            }
        });
        super::live::every(std::time::Duration::from_secs(1), move || {
            now.try_set(format::now_ms());
        });
        // Every 30 s: new and removed hosts, labels, tags and the sparklines' new buckets.
        super::live::every(std::time::Duration::from_secs(30), move || {
            leptos::task::spawn_local(async move {
                let Ok(fresh) = super::list_hosts().await else {
                    return;
                };
                let known: BTreeSet<String> = rows.with_untracked(|r| r.keys().cloned().collect());
                let now_ids: BTreeSet<String> = fresh.iter().map(|h| h.id.clone()).collect();
                if known != now_ids {
                    rows.try_update(|r| {
                        r.retain(|id, _| now_ids.contains(id));
                        for h in &fresh {
                            r.entry(h.id.clone()).or_insert_with(|| Row::new(h));
                        }
                    });
                }
                for h in fresh {
                    if let Some(row) = rows.with_untracked(|r| r.get(&h.id).copied()) {
                        row.refresh(h);
                    }
                }
                resort.try_update(|n| *n += 1);
            });
        });
    });

    let go = {
        let replace = table::replace_url();
        move |view: View| replace(&view.query())
    };
    let on_text = {
        let go = go.clone();
        move |ev: leptos::ev::Event| {
            let text = event_target_value(&ev);
            go(View {
                text,
                ..view_state.get_untracked()
            })
        }
    };
    let on_tag = move |ev: leptos::ev::Event| {
        let tag = event_target_value(&ev);
        go(View {
            tag: (!tag.is_empty()).then_some(tag),
            ..view_state.get_untracked()
        })
    };
    let header = move |column: Column| {
        table::sort_header(
            column.as_str(),
            column.title(),
            move || view_state.with(|v| table::aria_sort(v.sort == column, v.descending)),
            move || view_state.get().sorted_by(column).query(),
        )
    };

    let filters = view! {
            <form class="fleet-filters" method="get" action="/" on:submit=|ev| ev.prevent_default()>
            <label>"Filter "
                <input type="search" name="q" placeholder="name, host name or tag" autocomplete="off"
                    value=view_state.get_untracked().text
                prop:value=move || view_state.get().text on:input=on_text/>
            </label>
            <label>"Tag "
                <select name="tag" on:change=on_tag prop:value=move || view_state.get().tag.unwrap_or_default()>
                    <option value="">"All tags"</option>
                    {move || tags.get().into_iter().map(|t| {
                        let selected = view_state.with_untracked(|v| v.tag.as_deref() == Some(t.as_str()));
                        view! { <option value=t.clone() selected=selected>{t.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
        </form>
    };
    let table = view! {
        <table class="fleet-table">
            <thead>
                <tr>
                    {header(Column::Host)}
                    {header(Column::Cpu)}
                    {header(Column::Memory)}
                    {header(Column::Disk)}
                    {header(Column::Load)}
                    {header(Column::Network)}
                    {header(Column::Uptime)}
                    {header(Column::Version)}
                    {header(Column::Seen)}
                </tr>
            </thead>
            <tbody node_ref=tbody>
                {move || spacer(spacers().0)}
                <For each=move || drawn.get() key=|id| id.clone() let(id)>
                    {move || rows.with_untracked(|r| r.get(&id).copied()).map(|row| view! { <FleetRow row now/> }.into_any())}
                </For>
                {move || spacer(spacers().1)}
            </tbody>
        </table>
    };
    view! {
        <section class="fleet">
            <div class="section-head">
                <h1>"Fleet"</h1>
                <span class="muted" data-testid="fleet-count">{move || {
                    let (shown, total) = (shown.with(Vec::len), total());
                    if shown == total { format!("{total} hosts") } else { format!("{shown} of {total} hosts") }
                }}</span>
            </div>
            {filters.into_any()}
            {table.into_any()}
            {move || (shown.with(Vec::is_empty) && total() > 0).then(|| view! {
                <p class="muted empty" data-testid="fleet-empty">"No host matches this filter."</p>
            })}
        </section>
    }
}

/// A row standing for `px` of rows not drawn.
fn spacer(px: f64) -> Option<impl IntoView> {
    (px > 0.0).then(|| {
        view! {
            <tr class="fleet-spacer" aria-hidden="true">
                <td colspan="9" style:height=format!("{px:.0}px")></td>
            </tr>
        }
    })
}

/// Keeps `window` on the rows in view: after hydration, on scroll and resize (once a frame)
/// and when the shown rows change. The row height is measured once and again on resize, not
/// on every scroll, so the spacers never jump under the pointer.
#[cfg(feature = "hydrate")]
fn follow_scroll(
    tbody: NodeRef<leptos::html::Tbody>,
    window: RwSignal<Window>,
    shown: Memo<Vec<String>>,
) {
    let row_px = StoredValue::new(None::<f64>);
    let measure = move || {
        let Some(body) = tbody.get_untracked() else {
            return;
        };
        let rows = body.get_elements_by_class_name("fleet-row");
        if row_px.try_get_value().flatten().is_none() && rows.length() >= 2 {
            let top = |i| rows.item(i).map(|r| r.get_bounding_client_rect().top());
            if let (Some(first), Some(last)) = (top(0), top(rows.length() - 1)) {
                row_px.try_set_value(Some((last - first) / f64::from(rows.length() - 1)));
            }
        }
        let viewport = leptos::prelude::window()
            .inner_height()
            .ok()
            .and_then(|h| h.as_f64())
            .unwrap_or(900.0);
        let next = Window::at(
            -body.get_bounding_client_rect().top(),
            viewport,
            row_px.try_get_value().flatten().unwrap_or(ROW_PX),
        );
        if window.try_get_untracked().is_some_and(|w| w != next) {
            window.try_set(next);
        }
    };
    let queued = StoredValue::new(false);
    let soon = move || {
        if queued.try_get_value() == Some(false) {
            queued.try_set_value(true);
            request_animation_frame(move || {
                queued.try_set_value(false);
                measure();
            });
        }
    };
    let scroll = window_event_listener(leptos::ev::scroll, move |_| soon());
    let resize = window_event_listener(leptos::ev::resize, move |_| {
        row_px.try_set_value(None);
        soon();
    });
    on_cleanup(move || {
        scroll.remove();
        resize.remove();
    });
    Effect::new(move |_| {
        shown.track();
        soon();
    });
}

/// One host's row; each cell follows the signal its figure lives in.
#[component]
fn FleetRow(row: Row, now: RwSignal<i64>) -> impl IntoView {
    let Row { facts, live } = row;
    let id = facts.with_untracked(|h| h.id.clone());
    let href = format!("/hosts/{id}");
    let navigate = use_navigate();
    let open = {
        let href = href.clone();
        move |ev: leptos::ev::MouseEvent| {
            // A click on the link itself is the link's; elsewhere on the row it opens it too.
            #[cfg(feature = "hydrate")]
            let on_link = ev
                .target()
                .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
                .is_some_and(|e| e.closest("a").ok().flatten().is_some());
            #[cfg(not(feature = "hydrate"))]
            let on_link = {
                let _ = ev;
                true
            };
            if !on_link {
                navigate(&href, NavigateOptions::default());
            }
        }
    };
    let state = move || {
        let connection = live.with(|l| l.connection_state);
        facts.with(|h| match (h.status, connection) {
            (AgentStatus::Revoked, _) => "revoked",
            (_, ConnectionState::Disconnected) => "stale",
            (_, ConnectionState::Connected) => "connected",
        })
    };
    let share = move |pick: fn(&Live) -> Option<f64>| move || live.with(pick);
    let first = view! {
            <td class="col-host" data-label="Host">
                <span class=move || format!("dot {}", state()) aria-hidden="true"></span>
                <span class="sr-only" data-testid="host-status">{state}</span>
                <a href=href class="host-label">{move || facts.with(|h| h.label.clone())}</a>
                <span class="muted hostname">{move || facts.with(|h| (h.hostname != h.label).then(|| h.hostname.clone()))}</span>
                <span class="tags">{move || facts.with(|h| h.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view())}</span>
            </td>
            <td class="col-cpu" data-label="CPU">
                <Share value=Signal::derive(share(|h| h.cpu_pct)) metric="cpu"/>
                <Spark points=Signal::derive(move || facts.with(|h| h.spark.cpu.clone()))/>
            </td>
            <td class="col-memory" data-label="Memory">
                <Share value=Signal::derive(share(|h| h.memory_pct)) metric="memory"/>
                <Spark points=Signal::derive(move || facts.with(|h| h.spark.memory.clone()))/>
            </td>
            <td class="col-disk" data-label="Disk">
                <Share value=Signal::derive(share(|h| h.disk_pct)) metric="disk"/>
            </td>
    };
    view! {
        <tr class="fleet-row" data-host=id.clone() data-state=state on:click=open>
            {first.into_any()}
            <td class="col-load" data-label="Load" data-value="load">
                {move || live.with(|h| h.load1.map(|l| format!("{l:.2}")).unwrap_or_else(|| "–".into()))}
            </td>
            <td class="col-network" data-label="Network">
                <span class="rate" data-value="net_rx">{move || live.with(|h| h.net_rx_bytes_per_s.map(|r| format!("↓ {}", format::rate(r))).unwrap_or_else(|| "–".into()))}</span>
                <span class="rate" data-value="net_tx">{move || live.with(|h| h.net_tx_bytes_per_s.map(|r| format!("↑ {}", format::rate(r))).unwrap_or_default())}</span>
            </td>
            <td class="col-uptime" data-label="Uptime">
                {move || live.with(|h| h.uptime_s.map(format::duration).unwrap_or_else(|| "–".into()))}
            </td>
            <td class="col-version" data-label="Agent">
                {move || facts.with(|h| h.agent_version.clone().unwrap_or_else(|| "built in".into()))}
            </td>
            <td class="col-seen" data-label="Last seen" data-testid="last-seen"
                title=move || live.with(|h| h.last_seen.clone().unwrap_or_default())>
                {move || live.with(|h| h.last_seen_ms).map(|t| format::ago((now.get() - t) / 1_000)).unwrap_or_else(|| "never".into())}
            </td>
        </tr>
    }
}

/// A share as a bar and its figure.
#[component]
fn Share(value: Signal<Option<f64>>, metric: &'static str) -> impl IntoView {
    let level = move || match value.get() {
        Some(v) if v >= 90.0 => "bar crit",
        Some(v) if v >= 75.0 => "bar warn",
        _ => "bar ok",
    };
    view! {
        <span class="share">
            <span class=level aria-hidden="true">
                <span class="fill" style:width=move || format!("{:.1}%", value.get().unwrap_or(0.0).clamp(0.0, 100.0))></span>
            </span>
            <span class="figure" data-value=metric>{move || value.get().map(format::pct).unwrap_or_else(|| "–".into())}</span>
        </span>
    }
}

/// An hour as a line: 0–100 % from bottom to top, gaps where nothing was measured.
#[component]
fn Spark(points: Signal<Vec<Option<f64>>>) -> impl IntoView {
    let path = move || spark_path(&points.get());
    view! {
        <svg class="spark" viewBox="0 0 60 16" preserveAspectRatio="none" aria-hidden="true">
            <path d=path/>
        </svg>
    }
}

/// The SVG path of a sparkline over a 60 × 16 box.
fn spark_path(points: &[Option<f64>]) -> String {
    let step = 60.0 / points.len().saturating_sub(1).max(1) as f64;
    let mut d = String::new();
    let mut pen_down = false;
    for (i, p) in points.iter().enumerate() {
        match p {
            Some(v) => {
                let y = 16.0 - v.clamp(0.0, 100.0) / 100.0 * 15.0 - 0.5;
                d.push_str(&format!(
                    "{}{:.1} {:.1} ",
                    if pen_down { 'L' } else { 'M' },
                    i as f64 * step,
                    y
                ));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str, cpu: Option<f64>, tags: &[&str]) -> HostOverview {
        HostOverview {
            id: id.into(),
            label: id.into(),
            hostname: format!("{id}.example"),
            connection_state: ConnectionState::Connected,
            cpu_pct: cpu,
            memory_pct: None,
            disk_pct: None,
            running_containers: 0,
            last_seen: None,
            last_seen_ms: None,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            status: AgentStatus::Active,
            load1: None,
            cores: None,
            net_rx_bytes_per_s: None,
            net_tx_bytes_per_s: None,
            uptime_s: None,
            agent_version: None,
            spark: Default::default(),
        }
    }

    fn view(query: &[(&str, &str)]) -> View {
        View::from_query(|k| {
            query
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn sorts_busiest_first_with_silent_hosts_last_either_way() {
        let hosts = [
            host("b", Some(10.0), &[]),
            host("a", Some(90.0), &[]),
            host("c", None, &[]),
        ];
        assert_eq!(order(&hosts, &view(&[("sort", "cpu")])), ["a", "b", "c"]);
        assert_eq!(
            order(&hosts, &view(&[("sort", "cpu"), ("dir", "asc")])),
            ["b", "a", "c"]
        );
        assert_eq!(order(&hosts, &view(&[])), ["a", "b", "c"], "by name");
        assert_eq!(order(&hosts, &view(&[("dir", "desc")])), ["c", "b", "a"]);
    }

    #[test]
    fn filters_by_tag_and_text() {
        let hosts = [
            host("web-1", Some(1.0), &["prod", "web"]),
            host("db-1", Some(1.0), &["prod"]),
            host("lab", Some(1.0), &[]),
        ];
        assert_eq!(order(&hosts, &view(&[("tag", "prod")])), ["db-1", "web-1"]);
        assert_eq!(order(&hosts, &view(&[("q", "WEB")])), ["web-1"]);
        assert_eq!(
            order(&hosts, &view(&[("q", "example")])).len(),
            3,
            "host names match"
        );
        assert!(order(&hosts, &view(&[("tag", "prod"), ("q", "lab")])).is_empty());
    }

    #[test]
    fn revoked_and_silent_hosts_come_first_by_status() {
        let mut revoked = host("r", None, &[]);
        revoked.status = AgentStatus::Revoked;
        let mut stale = host("s", None, &[]);
        stale.connection_state = ConnectionState::Disconnected;
        let hosts = [host("a", None, &[]), stale, revoked];
        assert_eq!(order(&hosts, &view(&[("sort", "status")])), ["r", "s", "a"]);
    }

    #[test]
    fn the_url_leaves_out_defaults_and_flips_on_a_second_click() {
        let v = view(&[]);
        assert_eq!(v.query(), "/");
        let by_cpu = v.sorted_by(Column::Cpu);
        assert_eq!(by_cpu.query(), "/?sort=cpu");
        assert_eq!(by_cpu.sorted_by(Column::Cpu).query(), "/?sort=cpu&dir=asc");
        let filtered = View {
            tag: Some("a b".into()),
            text: "x&y".into(),
            ..by_cpu
        };
        assert_eq!(filtered.query(), "/?sort=cpu&tag=a%20b&q=x%26y");
        assert_eq!(view(&[("sort", "nonsense")]).sort, Column::Host);
    }

    #[test]
    fn a_live_sample_changes_the_figures_and_keeps_the_facts() {
        let summary = crate::HostSummary {
            agent_id: "a".into(),
            label: "web".into(),
            hostname: "web.example".into(),
            connection_state: ConnectionState::Connected,
            running_containers: 2,
            latest: Some(crate::HostFigures {
                taken_at: "2026-12-03T10:00:00Z".into(),
                taken_at_ms: 1_796_292_000_000,
                uptime_s: 3_600,
                cpu_pct: 42.5,
                cpu_per_core_pct: vec![40.0, 45.0, 42.0, 43.0],
                load: [1.5, 1.0, 0.5],
                memory_total_bytes: 8 << 30,
                memory_used_bytes: 2 << 30,
                memory_pct: 25.0,
                swap_total_bytes: 0,
                swap_used_bytes: 0,
                disk_pct: 61.0,
                disk_used_bytes: 61,
                disk_size_bytes: 100,
                filesystems: Vec::new(),
                net_rx_bytes_per_s: 1_000.0,
                net_tx_bytes_per_s: 2_000.0,
                interfaces: Vec::new(),
            }),
        };
        let text = serde_json::to_string(&summary).unwrap();
        let sample: SampleEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(sample.agent_id, "a");
        let mut facts = host("a", None, &["prod"]);
        facts.connection_state = ConnectionState::Disconnected;
        let mut live = Live::of(&facts);
        sample.apply(&mut live);
        let row = live.applied(&facts);
        assert_eq!(row.connection_state, ConnectionState::Connected);
        assert_eq!(
            (row.cpu_pct, row.memory_pct, row.disk_pct),
            (Some(42.5), Some(25.0), Some(61.0))
        );
        assert_eq!((row.load1, row.cores), (Some(1.5), Some(4)));
        assert_eq!(row.last_seen_ms, Some(1_796_292_000_000));
        assert_eq!(
            (row.tags, row.label),
            (vec!["prod".to_owned()], "a".to_owned())
        );
    }

    #[test]
    fn only_the_rows_in_view_are_drawn_and_spacers_keep_the_height() {
        let ids: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let first = Window::FIRST;
        assert_eq!(first.slice(&ids).len(), FIRST_ROWS);
        assert_eq!(first.spacers_px(ids.len()), (0.0, 940.0 * ROW_PX));
        // 450 px down a list of 45 px rows with a 900 px viewport: rows 10..31 are in view.
        let w = Window::at(450.0, 900.0, 45.0);
        assert_eq!((w.start, w.end), (0, 10 + 21 + OVERSCAN));
        // Far down: the margin on both sides, and the spacers make up the rest.
        let w = Window::at(45.0 * 500.0, 900.0, 45.0);
        assert_eq!((w.start, w.end), (500 - OVERSCAN, 500 + 21 + OVERSCAN));
        assert_eq!(w.slice(&ids)[0], "480");
        let (above, below) = w.spacers_px(ids.len());
        assert_eq!(
            above + below + w.slice(&ids).len() as f64 * 45.0,
            1000.0 * 45.0
        );
        // A filter that leaves fewer rows than the window starts at: nothing drawn, no spacer
        // taller than the list.
        assert!(w.slice(&ids[..10]).is_empty());
        assert_eq!(w.spacers_px(10), (450.0, 0.0));
        // A nonsense measure falls back to the default height.
        assert_eq!(Window::at(0.0, 900.0, f64::NAN).row_px, ROW_PX);
    }

    #[test]
    fn sparklines_break_where_nothing_was_measured() {
        assert_eq!(
            spark_path(&[Some(0.0), Some(100.0), None, Some(50.0)]),
            "M0.0 15.5 L20.0 0.5 M60.0 8.0"
        );
        assert_eq!(spark_path(&[None, None]), "");
    }
}
