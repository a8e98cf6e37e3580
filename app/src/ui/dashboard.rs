//! The live dashboard: gauges, network, file systems and history charts of one host.
use leptos::prelude::*;

use super::RequireUser;
use super::chart::HistoryChart;
use super::format;
use super::server_fns::*;
use crate::{ConnectionState, HostFigures, HostSummary, LOCAL_AGENT_ID, Metric};

/// `/`: the dashboard of the local host.
#[component]
pub fn DashboardPage() -> impl IntoView {
    view! { <RequireUser signed_in=|_| view! { <Dashboard/> }/> }
}

#[component]
fn Dashboard() -> impl IntoView {
    let summary = Resource::new(|| (), |_| get_host_summary(LOCAL_AGENT_ID.to_owned()));
    let live = RwSignal::new(None::<HostSummary>);
    let range = RwSignal::new(3600_i64);
    let refresh = RwSignal::new(0_u32);
    let cpu = Resource::new(
        move || (range.get(), refresh.get()),
        |(r, _)| metric_history(LOCAL_AGENT_ID.to_owned(), Metric::Cpu, r),
    );
    let memory = Resource::new(
        move || (range.get(), refresh.get()),
        |(r, _)| metric_history(LOCAL_AGENT_ID.to_owned(), Metric::Memory, r),
    );
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| live_updates::subscribe(live, refresh));

    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading figures…"</p> }>
            {move || Suspend::new(async move {
                match summary.await {
                    Ok(initial) => view! { <Figures initial live/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                }
            })}
        </Suspense>
        <section class="card history">
            <div class="section-head">
                <h2>"History"</h2>
                <div class="range" role="group" aria-label="Time range">
                    <button class:active=move || range.get() == 3600 on:click=move |_| range.set(3600)>"1 h"</button>
                    <button class:active=move || range.get() == 86_400 on:click=move |_| range.set(86_400)>"24 h"</button>
                </div>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading history…"</p> }>
                <div class="charts">
                    {move || Suspend::new(async move {
                        match cpu.await {
                            Ok(h) => view! { <HistoryChart history=h title="CPU"/> }.into_any(),
                            Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        }
                    })}
                    {move || Suspend::new(async move {
                        match memory.await {
                            Ok(h) => view! { <HistoryChart history=h title="Memory"/> }.into_any(),
                            Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        }
                    })}
                </div>
            </Transition>
        </section>
    }
}

/// The current figures: the server-rendered ones until the first live update arrives.
#[component]
fn Figures(initial: HostSummary, live: RwSignal<Option<HostSummary>>) -> impl IntoView {
    let current = Signal::derive(move || live.get().unwrap_or_else(|| initial.clone()));
    let figures = Signal::derive(move || current.get().latest);
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
            <span class="muted" data-testid="updated-at">{move || figures.get().map(|f| format!("updated {}", f.taken_at)).unwrap_or_default()}</span>
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
    let disk_used: u64 = f.filesystems.iter().map(|fs| fs.used_bytes).sum();
    let disk_usable: u64 = f
        .filesystems
        .iter()
        .map(|fs| fs.used_bytes + fs.available_bytes)
        .sum();
    let disk_caption = format!(
        "{} of {}",
        format::bytes(disk_used as f64),
        format::bytes(disk_usable as f64)
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
                    <thead><tr><th>"Mount"</th><th>"Used"</th><th>"Size"</th></tr></thead>
                    <tbody>
                        {f.filesystems.iter().map(|fs| view! {
                            <tr><td title=fs.device.clone()>{fs.mount_point.clone()}</td><td>{format::pct(fs.used_pct)}</td><td>{format::bytes(fs.total_bytes as f64)}</td></tr>
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

#[cfg(feature = "hydrate")]
mod live_updates {
    use leptos::__reexports::send_wrapper::SendWrapper;
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    use crate::HostSummary;

    /// Opens the SSE stream: every `host_sample` event replaces the figures, and the history
    /// charts reload every 30 seconds.
    pub fn subscribe(live: RwSignal<Option<HostSummary>>, refresh: RwSignal<u32>) {
        let Ok(source) = web_sys::EventSource::new("/api/v1/events") else {
            return;
        };
        let on_sample = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let Some(text) = event.data().as_string()
                    && let Ok(summary) = serde_json::from_str::<HostSummary>(&text)
                {
                    live.try_set(Some(summary));
                }
            },
        );
        let _ = source
            .add_event_listener_with_callback("host_sample", on_sample.as_ref().unchecked_ref());
        let interval = set_interval_with_handle(
            move || {
                refresh.try_update(|n| *n += 1);
            },
            std::time::Duration::from_secs(30),
        )
        .ok();
        let held = SendWrapper::new((source, on_sample));
        on_cleanup(move || {
            let (source, _callback) = held.take();
            source.close();
            if let Some(handle) = interval {
                handle.clear();
            }
        });
    }
}
