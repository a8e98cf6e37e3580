//! The live dashboard: gauges, network, file systems and history charts of one host.
use leptos::prelude::*;

use super::RequireUser;
use super::chart::{Chart, Hover, Plot};
use super::format;
use super::server_fns::*;
use crate::{
    ConnectionState, ContainerHealth, ContainerInfo, ContainerState, HostFigures, HostSummary,
    LOCAL_AGENT_ID, Metric, ProcessInfo, SeriesFamily, SeriesHistory, TopConsumers,
};

/// `/hosts/{id}` (`/hosts/local` for this machine): one host in depth.
#[component]
pub fn HostPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let host = Signal::derive(move || {
        params
            .with(|p| p.get("id"))
            .unwrap_or_else(|| LOCAL_AGENT_ID.to_owned())
    });
    view! { <RequireUser signed_in=move || view! { <Dashboard host/> }/> }
}

/// The live figures, history and containers of one host.
#[component]
fn Dashboard(#[prop(into)] host: Signal<String>) -> impl IntoView {
    let live = RwSignal::new(None::<HostSummary>);
    let query = leptos_router::hooks::use_query_map();
    let range = Memo::new(move |_| query.with(|q| range_seconds(q.get_str("range"))));
    let path = leptos_router::hooks::use_location().pathname;
    let refresh = RwSignal::new(0_u32);
    let containers_changed = RwSignal::new(0_u32);
    // Bumped by each live sample of the host: the top processes change with it.
    let sampled = RwSignal::new(0_u32);
    let summary = Resource::new(move || host.get(), get_host_summary);
    let totals = TOTALS.map(|metric| {
        Resource::new(
            move || (host.get(), range.get(), refresh.get()),
            move |(h, r, _)| metric_history(h, metric, r),
        )
    });
    let series = Resource::new(
        move || (host.get(), range.get(), refresh.get()),
        |(h, r, _)| host_series(h, r),
    );
    // The host's samples since the page opened, which join the charts as they arrive.
    let samples = RwSignal::new(Vec::<HostFigures>::new());
    provide_context(Hover(RwSignal::new(None)));
    let certificates = Resource::new(
        move || (host.get(), refresh.get()),
        |(h, _)| list_certificates(Some(h)),
    );
    let top = Resource::new(
        move || {
            (
                host.get(),
                refresh.get(),
                containers_changed.get(),
                sampled.get(),
            )
        },
        |(h, _, _, _)| top_consumers(Some(h)),
    );
    let containers = Resource::new(
        move || (host.get(), refresh.get(), containers_changed.get()),
        |(h, _, _)| list_containers(Some(h)),
    );
    // Bumped when an agent connects or disconnects: the timeline shows it.
    let status_changed = RwSignal::new(0_u32);
    let timeline = Resource::new(
        move || {
            (
                host.get(),
                refresh.get(),
                containers_changed.get(),
                status_changed.get(),
            )
        },
        |(h, _, _, _)| async move {
            if h == LOCAL_AGENT_ID {
                Ok(Vec::new())
            } else {
                host_events(h).await
            }
        },
    );
    // Another host: its own figures, not the previous one's live ones.
    Effect::new(move |_| {
        host.track();
        live.set(None);
        samples.set(Vec::new());
    });
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        // The first live sample since the page opened is stored: the charts read again, so a
        // host that had nothing stored when the page was rendered (a new agent) shows it.
        let first = StoredValue::new(true);
        super::live::on_event("host_sample", move |text| {
            if super::live::names_agent(&text, &host.get_untracked())
                && let Ok(summary) = serde_json::from_str::<HostSummary>(&text)
            {
                if let Some(f) = summary.latest.clone() {
                    samples.try_update(|all| {
                        all.push(f);
                        let extra = all.len().saturating_sub(MAX_LIVE_SAMPLES);
                        all.drain(..extra);
                    });
                }
                live.try_set(Some(summary));
                sampled.try_update(|n| *n += 1);
                if first.try_get_value() == Some(true) {
                    first.try_set_value(false);
                    refresh.try_update(|n| *n += 1);
                }
            }
        });
        super::live::on_event("container_event", move |text| {
            if super::live::names_agent(&text, &host.get_untracked()) {
                containers_changed.try_update(|n| *n += 1);
            }
        });
        super::live::on_event("agent_status", move |text| {
            if super::live::names_agent(&text, &host.get_untracked()) {
                status_changed.try_update(|n| *n += 1);
            }
        });
        super::live::every(std::time::Duration::from_secs(30), move || {
            refresh.try_update(|n| *n += 1);
        });
    });

    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading figures…"</p> }>
            {move || Suspend::new(async move {
                match summary.await {
                    Ok(initial) => view! { <Figures initial live/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                }
            })}
        </Transition>
        <section class="card history">
            <div class="section-head">
                <h2>"History"</h2>
                <div class="range" role="group" aria-label="Time range">
                    {RANGES.iter().map(|(key, seconds, text)| view! {
                        <a class:active=move || range.get() == *seconds data-range=*key
                            href=move || format!("{}?range={key}", path.get())>{*text}</a>
                    }).collect_view()}
                </div>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading history…"</p> }>
                {move || Suspend::new(async move {
                    let mut plots = Vec::new();
                    for (metric, history) in TOTALS.into_iter().zip(totals) {
                        match history.await {
                            Ok(h) => plots.push((metric.as_str(), Plot::of_history(&h))),
                            Err(e) => return view! { <p class="error">{e.message()}</p> }.into_any(),
                        }
                    }
                    let families = match series.await {
                        Ok(s) => s,
                        Err(e) => return view! { <p class="error">{e.message()}</p> }.into_any(),
                    };
                    let plot_of = |key: &str| {
                        plots.iter().find(|(k, _)| *k == key).map(|(_, p)| p.clone()).or_else(|| {
                            let f = SeriesFamily::ALL.into_iter().find(|f| f.as_str() == key)?;
                            Some(Plot::of_family(&families, families.family(f)?, None))
                        })
                    };
                    view! {
                        <div class="charts">
                            {CHARTS.into_iter().filter_map(|(key, title)| {
                                let stored = plot_of(key)?;
                                // A family with no series on this host (no swap) shows no chart.
                                if stored.lines.is_empty() {
                                    return None;
                                }
                                let plot = ArcSignal::derive(move || samples.with(|all| stored.with_live(&live_values(key, all))));
                                Some(view! { <Chart plot title key/> })
                            }).collect_view()}
                        </div>
                    }.into_any()
                })}
            </Transition>
        </section>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                top.await.ok().filter(|t| !t.by_cpu.is_empty() || !t.by_memory.is_empty() || !t.processes_by_memory.is_empty()).map(|t| view! { <TopCard top=t/> })
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list = containers.await.ok().filter(|c| !c.is_empty())?;
                let history = series.await.ok();
                Some(view! { <ContainerCards containers=list history/> })
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                certificates.await.ok().filter(|c| !c.is_empty()).map(|all| view! {
                    <section class="host-certificates">
                        <h2>"Certificates"</h2>
                        <super::certificates::CertificateTable all/>
                    </section>
                })
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let events = timeline.await.ok()?;
                (host.get_untracked() != LOCAL_AGENT_ID).then(|| view! { <Timeline events/> })
            })}
        </Transition>
        {move || (host.get() != LOCAL_AGENT_ID).then(|| view! { <super::agents::HostAgent agent_id=host.get()/> })}
    }
}

/// The host totals the history API charts.
const TOTALS: [Metric; 5] = [
    Metric::Cpu,
    Metric::Memory,
    Metric::Disk,
    Metric::NetRx,
    Metric::NetTx,
];

/// The history charts in order: a total's metric or a family's name, and the title.
const CHARTS: [(&str, &str); 11] = [
    ("cpu", "CPU"),
    ("cpu_core", "CPU per core"),
    ("memory", "Memory"),
    ("swap", "Swap"),
    ("load", "Load"),
    ("disk", "Disk"),
    ("filesystem", "Disk per file system"),
    ("net_rx", "Network in"),
    ("net_tx", "Network out"),
    ("interface_rx", "In per interface"),
    ("interface_tx", "Out per interface"),
];

/// Live samples kept for the charts (an hour at 10 s); the 30 s refresh reads the rest.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const MAX_LIVE_SAMPLES: usize = 360;

/// The values chart `key` takes from live samples, as (time, label, value).
fn live_values(key: &str, samples: &[HostFigures]) -> Vec<(i64, String, f64)> {
    let mut out = Vec::new();
    for f in samples {
        let ts = f.taken_at_ms / 1000;
        let mut put = |label: &str, v: f64| out.push((ts, label.to_owned(), v));
        match key {
            "cpu" => put("", f.cpu_pct),
            "memory" => put("", f.memory_pct),
            "disk" => put("", f.disk_pct),
            "net_rx" => put("", f.net_rx_bytes_per_s),
            "net_tx" => put("", f.net_tx_bytes_per_s),
            "cpu_core" => {
                for (i, v) in f.cpu_per_core_pct.iter().enumerate() {
                    put(
                        &super::chart::display_label(SeriesFamily::CpuCore, &i.to_string()),
                        *v,
                    );
                }
            }
            "swap" if f.swap_total_bytes > 0 => put(
                "swap",
                f.swap_used_bytes as f64 / f.swap_total_bytes as f64 * 100.0,
            ),
            "load" => {
                for (label, v) in ["1m", "5m", "15m"].into_iter().zip(f.load) {
                    put(label, v);
                }
            }
            "filesystem" => {
                for fs in &f.filesystems {
                    put(&fs.mount_point, fs.used_pct);
                }
            }
            "interface_rx" | "interface_tx" => {
                for i in &f.interfaces {
                    let v = if key == "interface_rx" {
                        i.rx_bytes_per_s
                    } else {
                        i.tx_bytes_per_s
                    };
                    put(&i.name, v);
                }
            }
            _ => {}
        }
    }
    out
}

/// The ranges the history charts offer, as written in the URL (`?range=7d`).
const RANGES: [(&str, i64, &str); 4] = [
    ("1h", 3600, "1 h"),
    ("24h", 86_400, "24 h"),
    ("7d", 7 * 86_400, "7 d"),
    ("30d", 30 * 86_400, "30 d"),
];

/// The range in seconds the URL asks for; an hour when it asks for none or nonsense.
fn range_seconds(key: Option<&str>) -> i64 {
    RANGES
        .iter()
        .find(|(k, _, _)| Some(*k) == key)
        .map_or(3600, |(_, seconds, _)| *seconds)
}

#[component]
fn TopCard(top: TopConsumers) -> impl IntoView {
    let row = |c: &ContainerInfo, value: String| view! { <li><span>{c.name.clone()}</span><span class="muted">{c.host_label.clone()}</span><strong>{value}</strong></li> };
    let process = |p: &ProcessInfo, value: String| {
        view! {
            <li><span>{p.name.clone()}</span><span class="muted">{format!("pid {} · {}", p.pid, p.user)}</span><strong>{value}</strong></li>
        }
    };
    let has_containers = !top.by_cpu.is_empty() || !top.by_memory.is_empty();
    view! {
        <section class="card top" data-testid="top-consumers">
            <h2>"Top consumers"</h2>
            <div class="top-lists">
                {(!top.processes_by_memory.is_empty()).then(|| view! {
                    <div data-testid="top-processes-cpu">
                        <h3>"Processes by CPU"</h3>
                        {if top.processes_by_cpu.is_empty() {
                            view! { <p class="muted">"No process used CPU in the last interval."</p> }.into_any()
                        } else {
                            view! { <ol>{top.processes_by_cpu.iter().map(|p| process(p, format::pct(p.cpu_pct))).collect_view()}</ol> }.into_any()
                        }}
                    </div>
                    <div data-testid="top-processes-memory">
                        <h3>"Processes by memory"</h3>
                        <ol>{top.processes_by_memory.iter().map(|p| process(p, format::bytes(p.rss_bytes as f64))).collect_view()}</ol>
                    </div>
                })}
                {has_containers.then(|| view! {
                    <div>
                        <h3>"Containers by CPU"</h3>
                        <ol>{top.by_cpu.iter().map(|c| row(c, format::pct(c.cpu_pct.unwrap_or(0.0)))).collect_view()}</ol>
                    </div>
                    <div>
                        <h3>"Containers by memory"</h3>
                        <ol>{top.by_memory.iter().map(|c| row(c, format::bytes(c.memory_bytes.unwrap_or(0) as f64))).collect_view()}</ol>
                    </div>
                })}
            </div>
        </section>
    }
}

/// The host's timeline, newest first.
#[component]
fn Timeline(events: Vec<crate::HostEvent>) -> impl IntoView {
    let now = format::now_ms();
    view! {
        <section class="card timeline" data-testid="timeline">
            <h2>"Timeline"</h2>
            {if events.is_empty() {
                view! { <p class="muted">"Nothing yet: connects and disconnects, container lifecycle and certificate changes appear here."</p> }.into_any()
            } else {
                view! {
                    <ol>
                        {events.into_iter().map(|e| view! {
                            <li data-kind=e.kind.as_str()>
                                <time class="muted" datetime=e.time.clone() title=e.time.clone()>{format::ago((now - e.ts_ms) / 1000)}</time>
                                <span class=format!("badge {}", e.kind.as_str())>{e.kind.as_str()}</span>
                                {(!e.subject.is_empty()).then(|| view! { <strong>{e.subject.clone()}</strong> })}
                                <span>{e.detail.clone()}</span>
                            </li>
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
        </section>
    }
}

/// One card per container with its CPU and memory charts; the host badge only when they
/// run on more than one host.
#[component]
fn ContainerCards(containers: Vec<ContainerInfo>, history: Option<SeriesHistory>) -> impl IntoView {
    let hosts: std::collections::BTreeSet<&str> =
        containers.iter().map(|c| c.agent_id.as_str()).collect();
    let show_host = hosts.len() > 1;
    view! {
        <section class="containers">
            <h2>"Containers"</h2>
            <div class="container-grid">
                {containers.into_iter().map(|c| {
                    let state_class = match c.state { ContainerState::Running => "badge ok", ContainerState::Paused | ContainerState::Restarting => "badge warn", _ => "badge crit" };
                    let figures = c.cpu_pct.map(|cpu| format!("CPU {} · {}", format::pct(cpu), format::bytes(c.memory_bytes.unwrap_or(0) as f64)));
                    view! {
                        <article class="card container" data-container=c.name.clone()>
                            <header>
                                <strong>{c.name.clone()}</strong>
                                <span class=state_class>{c.state.as_str()}</span>
                                {(c.health != ContainerHealth::None).then(|| view! { <span class="badge">{c.health.as_str()}</span> })}
                                {show_host.then(|| view! { <span class="badge host" data-testid="host-badge">{c.host_label.clone()}</span> })}
                            </header>
                            <p class="muted image">{c.image.clone()}</p>
                            <p class="muted">{c.status.clone()}</p>
                            {figures.map(|f| view! { <p>{f}</p> })}
                            {history.as_ref().map(|h| container_charts(h, &c.name))}
                        </article>
                    }
                }).collect_view()}
            </div>
        </section>
    }
}

/// A container's CPU and memory charts, when its series are stored.
fn container_charts(history: &SeriesHistory, name: &str) -> impl IntoView + use<> {
    [
        (SeriesFamily::ContainerCpu, "CPU", "container_cpu"),
        (SeriesFamily::ContainerMemory, "Memory", "container_memory"),
    ]
    .into_iter()
    .filter_map(|(family, title, key)| {
        let plot = Plot::of_family(history, history.family(family)?, Some(name));
        (!plot.lines.is_empty()).then(|| view! { <Chart plot title key/> })
    })
    .collect_view()
}

/// The current figures: the server-rendered ones until the first live update arrives.
#[component]
fn Figures(initial: HostSummary, live: RwSignal<Option<HostSummary>>) -> impl IntoView {
    let current = Signal::derive(move || live.get().unwrap_or_else(|| initial.clone()));
    let figures = Signal::derive(move || current.get().latest);
    // The page's clock, for "updated 4 s ago".
    let now = RwSignal::new(format::now_ms());
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        super::live::every(std::time::Duration::from_secs(1), move || {
            now.try_set(format::now_ms());
        });
    });
    view! {
        <section class="host-head">
            <h1>{move || current.get().label}</h1>
            <span class=move || match current.get().connection_state {
                ConnectionState::Connected => "badge ok",
                ConnectionState::Disconnected => "badge warn",
            }>{move || match current.get().connection_state {
                ConnectionState::Connected => "live",
                ConnectionState::Disconnected => "no recent data",
            }}</span>
            <span class="muted" data-testid="updated-at" title=move || figures.get().map(|f| f.taken_at).unwrap_or_default()>
                {move || figures.get().map(|f| format!("updated {}", format::ago((now.get() - f.taken_at_ms) / 1_000))).unwrap_or_default()}
            </span>
            <span class="muted">{move || figures.get().map(|f| format!("up {}", format::duration(f.uptime_s))).unwrap_or_default()}</span>
        </section>
        {move || match figures.get() {
            None => view! { <p class="muted card">"Waiting for the first sample…"</p> }.into_any(),
            Some(f) => view! { <FigureCards f/> }.into_any(),
        }}
    }
}

#[component]
fn FigureCards(f: HostFigures) -> impl IntoView {
    let memory_caption = format!(
        "{} of {}",
        format::bytes(f.memory_used_bytes as f64),
        format::bytes(f.memory_total_bytes as f64)
    );
    let disk_caption = format!(
        "{} of {}",
        format::bytes(f.disk_used_bytes as f64),
        format::bytes(f.disk_size_bytes as f64)
    );
    let load = format!(
        "load {:.2} · {:.2} · {:.2}",
        f.load[0], f.load[1], f.load[2]
    );
    let swap = if f.swap_total_bytes > 0 {
        format!(
            "swap {} of {}",
            format::bytes(f.swap_used_bytes as f64),
            format::bytes(f.swap_total_bytes as f64)
        )
    } else {
        "no swap".to_owned()
    };
    view! {
        <section class="gauges">
            <Gauge name="CPU" metric="cpu" value=f.cpu_pct caption=load/>
            <Gauge name="Memory" metric="memory" value=f.memory_pct caption=memory_caption/>
            <Gauge name="Disk" metric="disk" value=f.disk_pct caption=disk_caption/>
            <div class="card gauge net" data-metric="network">
                <h2>"Network"</h2>
                <p><span class="arrow">"↓"</span><strong data-value="net_rx">{format::rate(f.net_rx_bytes_per_s)}</strong></p>
                <p><span class="arrow">"↑"</span><strong data-value="net_tx">{format::rate(f.net_tx_bytes_per_s)}</strong></p>
                <p class="muted">{swap}</p>
            </div>
        </section>
        <section class="details">
            <div class="card">
                <h2>"Cores"</h2>
                <ul class="bars">
                    {f.cpu_per_core_pct.iter().enumerate().map(|(i, pct)| view! {
                        <li><span class="muted">{format!("cpu{i}")}</span><meter min="0" max="100" value=*pct></meter><span>{format::pct(*pct)}</span></li>
                    }).collect_view()}
                </ul>
            </div>
            <div class="card">
                <h2>"File systems"</h2>
                <table>
                    <thead><tr><th>"Mount"</th><th>"Used"</th><th>"Used of size"</th></tr></thead>
                    <tbody>
                        {f.filesystems.iter().map(|fs| view! {
                            <tr><td title=fs.device.clone()>{fs.mount_point.clone()}</td><td>{format::pct(fs.used_pct)}</td><td>{format!("{} of {}", format::bytes(fs.used_bytes as f64), format::bytes(fs.size_bytes as f64))}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <div class="card">
                <h2>"Interfaces"</h2>
                <table>
                    <thead><tr><th>"Name"</th><th>"In"</th><th>"Out"</th></tr></thead>
                    <tbody>
                        {f.interfaces.iter().map(|i| view! {
                            <tr><td>{i.name.clone()}</td><td>{format::rate(i.rx_bytes_per_s)}</td><td>{format::rate(i.tx_bytes_per_s)}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// A ring gauge with the percentage in the middle.
#[component]
fn Gauge(name: &'static str, metric: &'static str, value: f64, caption: String) -> impl IntoView {
    const CIRCUMFERENCE: f64 = 2.0 * std::f64::consts::PI * 42.0;
    let dash = format!(
        "{:.1} {:.1}",
        value.clamp(0.0, 100.0) / 100.0 * CIRCUMFERENCE,
        CIRCUMFERENCE
    );
    let level = if value >= 90.0 {
        "crit"
    } else if value >= 75.0 {
        "warn"
    } else {
        "ok"
    };
    view! {
        <div class=format!("card gauge {level}") data-metric=metric>
            <h2>{name}</h2>
            <svg viewBox="0 0 100 100" role="img" aria-label=format!("{name} {}", format::pct(value))>
                <circle class="track" cx="50" cy="50" r="42"/>
                <circle class="fill" cx="50" cy="50" r="42" stroke-dasharray=dash transform="rotate(-90 50 50)"/>
                <text x="50" y="56" text-anchor="middle" data-value=metric>{format::pct(value)}</text>
            </svg>
            <p class="muted">{caption}</p>
        </div>
    }
}
