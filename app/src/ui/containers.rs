//! `/containers`: every container of every host, filtered and sorted from the URL, kept
//! current by container events.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::format;
use super::table;
use super::{RequireUser, list_containers};
use crate::{ContainerHealth, ContainerInfo, ContainerState};

/// A column the table sorts by (`?sort=cpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Name,
    Host,
    Compose,
    State,
    Cpu,
    Memory,
}

impl Column {
    const ALL: [Column; 6] = [
        Column::Name,
        Column::Host,
        Column::Compose,
        Column::State,
        Column::Cpu,
        Column::Memory,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Host => "host",
            Column::Compose => "compose",
            Column::State => "state",
            Column::Cpu => "cpu",
            Column::Memory => "memory",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Column::Name => "Container",
            Column::Host => "Host",
            Column::Compose => "Compose",
            Column::State => "State",
            Column::Cpu => "CPU",
            Column::Memory => "Memory",
        }
    }

    /// Figures busiest first; names alphabetically.
    fn descending_first(self) -> bool {
        matches!(self, Column::Cpu | Column::Memory)
    }
}

/// Which containers the table shows by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    All,
    Running,
    /// Anything not running: exited, dead, paused, restarting, created.
    NotRunning,
}

/// What the URL asks for: `?sort=cpu&dir=asc&state=running&q=web`.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub sort: Column,
    pub descending: bool,
    pub shown: Shown,
    pub text: String,
}

impl View {
    fn from_query(get: impl Fn(&str) -> Option<String>) -> View {
        let sort = get("sort")
            .and_then(|s| Column::ALL.into_iter().find(|c| c.as_str() == s))
            .unwrap_or(Column::Name);
        let descending = table::descending(get("dir").as_deref(), sort.descending_first());
        let shown = match get("state").as_deref() {
            Some("running") => Shown::Running,
            Some("not_running") => Shown::NotRunning,
            _ => Shown::All,
        };
        View {
            sort,
            descending,
            shown,
            text: get("q").unwrap_or_default(),
        }
    }

    fn query(&self) -> String {
        let mut parts = Vec::new();
        if self.sort != Column::Name {
            parts.push(format!("sort={}", self.sort.as_str()));
        }
        parts.extend(table::direction_part(
            self.descending,
            self.sort.descending_first(),
        ));
        match self.shown {
            Shown::All => {}
            Shown::Running => parts.push("state=running".into()),
            Shown::NotRunning => parts.push("state=not_running".into()),
        }
        if !self.text.is_empty() {
            parts.push(format!("q={}", format::query_value(&self.text)));
        }
        format::with_query("/containers", &parts)
    }

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

fn compose(c: &ContainerInfo) -> String {
    match (&c.compose_project, &c.compose_service) {
        (Some(p), Some(s)) => format!("{p} / {s}"),
        (Some(p), None) => p.clone(),
        _ => String::new(),
    }
}

/// The containers the view shows, in its order; ties go by name, then host. Containers
/// without a figure sort last either way.
pub fn order(list: &[ContainerInfo], view: &View) -> Vec<ContainerInfo> {
    let text = view.text.trim().to_lowercase();
    let mut shown: Vec<ContainerInfo> = list
        .iter()
        .filter(|c| match view.shown {
            Shown::All => true,
            Shown::Running => c.state == ContainerState::Running,
            Shown::NotRunning => c.state != ContainerState::Running,
        })
        .filter(|c| {
            text.is_empty()
                || [&c.name, &c.image, &c.host_label, &compose(c)]
                    .iter()
                    .any(|s| s.to_lowercase().contains(&text))
        })
        .cloned()
        .collect();
    shown.sort_by(|a, b| {
        let ties = a.name.cmp(&b.name).then(a.host_label.cmp(&b.host_label));
        let figure = |c: &ContainerInfo| match view.sort {
            Column::Cpu => c.cpu_pct,
            Column::Memory => c.memory_bytes.map(|m| m as f64),
            _ => None,
        };
        let primary = match view.sort {
            Column::Name => a.name.cmp(&b.name),
            Column::Host => a.host_label.cmp(&b.host_label),
            Column::Compose => compose(a).cmp(&compose(b)),
            Column::State => a.state.as_str().cmp(b.state.as_str()),
            Column::Cpu | Column::Memory => {
                return table::by_figure(figure(a), figure(b), view.descending).then(ties);
            }
        };
        if view.descending {
            primary.reverse().then(ties)
        } else {
            primary.then(ties)
        }
    });
    shown
}

/// `/containers`.
#[component]
pub fn ContainersPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Containers/> }/> }
}

#[component]
fn Containers() -> impl IntoView {
    let changed = RwSignal::new(0_u32);
    let list = Resource::new(move || changed.get(), |_| list_containers(None));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        super::live::on_event("container_event", move |_| {
            changed.try_update(|n| *n += 1);
        });
        // CPU and memory come with the hosts' samples.
        super::live::every(std::time::Duration::from_secs(10), move || {
            changed.try_update(|n| *n += 1);
        });
    });
    let query = use_query_map();
    let view_state = Memo::new(move |_| query.with(|q| View::from_query(|k| q.get(k))));
    let go = {
        let replace = table::replace_url();
        move |view: View| replace(&view.query())
    };
    let on_text = {
        let go = go.clone();
        move |ev: leptos::ev::Event| {
            go(View {
                text: event_target_value(&ev),
                ..view_state.get_untracked()
            })
        }
    };
    let on_state = move |ev: leptos::ev::Event| {
        let shown = match event_target_value(&ev).as_str() {
            "running" => Shown::Running,
            "not_running" => Shown::NotRunning,
            _ => Shown::All,
        };
        go(View {
            shown,
            ..view_state.get_untracked()
        })
    };
    let state_value = move || match view_state.get().shown {
        Shown::All => "",
        Shown::Running => "running",
        Shown::NotRunning => "not_running",
    };
    let filters = view! {
        <form class="fleet-filters" method="get" action="/containers" on:submit=|ev| ev.prevent_default()>
            <label>"Filter "
                <input type="search" name="q" placeholder="name, image, project or host" autocomplete="off"
                    value=view_state.get_untracked().text
                    prop:value=move || view_state.get().text on:input=on_text/>
            </label>
            <label>"State "
                <select name="state" on:change=on_state prop:value=state_value>
                    <option value="" selected=move || state_value().is_empty()>"All"</option>
                    <option value="running" selected=move || state_value() == "running">"Running"</option>
                    <option value="not_running" selected=move || state_value() == "not_running">"Not running"</option>
                </select>
            </label>
        </form>
    };
    view! {
        <section class="fleet containers-page">
            <div class="section-head"><h1>"Containers"</h1></div>
            {filters.into_any()}
            <Transition fallback=|| view! { <p class="muted">"Loading containers…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(all) if all.is_empty() => view! {
                            <p class="muted empty" data-testid="containers-empty">"No containers yet. Agents report the containers of hosts where Docker runs (the agent needs the Docker socket)."</p>
                        }.into_any(),
                        Ok(all) => view! { <ContainerTable all view_state/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ContainerTable(all: Vec<ContainerInfo>, view_state: Memo<View>) -> impl IntoView {
    let hosts: std::collections::BTreeSet<&str> = all.iter().map(|c| c.agent_id.as_str()).collect();
    let show_host = hosts.len() > 1;
    let total = all.len();
    let header = move |column: Column| {
        table::sort_header(
            column.as_str(),
            column.title(),
            move || view_state.with(|v| table::aria_sort(v.sort == column, v.descending)),
            move || view_state.get().sorted_by(column).query(),
        )
    };
    let shown = Memo::new(move |_| order(&all, &view_state.get()));
    let rows = move || {
        shown
            .get()
            .into_iter()
            .map(|c| view! { <ContainerRow c show_host/> })
            .collect_view()
    };
    let count = move || {
        let n = shown.with(Vec::len);
        let noun = if total == 1 {
            "container"
        } else {
            "containers"
        };
        if n == total {
            format!("{total} {noun}")
        } else {
            format!("{n} of {total} {noun}")
        }
    };
    view! {
        <p class="muted" data-testid="container-count">{count}</p>
        <table class="fleet-table container-table">
            <thead><tr>
                {header(Column::Name)}
                {show_host.then(|| header(Column::Host))}
                {header(Column::Compose)}
                {header(Column::State)}
                {header(Column::Cpu)}
                {header(Column::Memory)}
                <th>"Image"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
fn ContainerRow(c: ContainerInfo, show_host: bool) -> impl IntoView {
    let state_class = match c.state {
        ContainerState::Running => "badge ok",
        ContainerState::Paused | ContainerState::Restarting | ContainerState::Created => {
            "badge warn"
        }
        _ => "badge crit",
    };
    let health = (c.health != ContainerHealth::None).then(|| {
        let class = match c.health {
            ContainerHealth::Healthy => "badge ok",
            ContainerHealth::Unhealthy => "badge crit",
            _ => "badge",
        };
        view! { <span class=class data-testid="container-health">{c.health.as_str()}</span> }
    });
    let memory = c.memory_bytes.map(|m| match c.memory_limit_bytes {
        Some(limit) if limit > 0 => format!(
            "{} of {}",
            format::bytes(m as f64),
            format::bytes(limit as f64)
        ),
        _ => format::bytes(m as f64),
    });
    let host_href = format!("/hosts/{}", c.agent_id);
    view! {
        <tr class="fleet-row container-row" data-container=c.name.clone() data-state=c.state.as_str()>
            <td class="col-host" data-label="Container">
                <strong>{c.name.clone()}</strong>
                <span class="muted hostname">{c.status.clone()}</span>
            </td>
            {show_host.then(|| view! {
                <td data-label="Host"><a class="badge host" data-testid="host-badge" href=host_href>{c.host_label.clone()}</a></td>
            })}
            <td data-label="Compose" data-testid="compose">{compose(&c)}</td>
            <td data-label="State"><span class=state_class data-testid="container-state">{c.state.as_str()}</span>{health}</td>
            <td data-label="CPU" data-value="cpu">{c.cpu_pct.map(format::pct).unwrap_or_else(|| "–".into())}</td>
            <td data-label="Memory" data-value="memory">{memory.unwrap_or_else(|| "–".into())}</td>
            <td data-label="Image" class="image muted">{c.image.clone()}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, host: &str, state: ContainerState, cpu: Option<f64>) -> ContainerInfo {
        ContainerInfo {
            agent_id: host.into(),
            host_label: host.into(),
            container_id: name.into(),
            name: name.into(),
            image: format!("{name}:1"),
            state,
            status: String::new(),
            health: ContainerHealth::None,
            compose_project: Some("shop".into()),
            compose_service: Some(name.into()),
            cpu_pct: cpu,
            memory_bytes: None,
            memory_limit_bytes: None,
            net_rx_bytes_per_s: None,
            net_tx_bytes_per_s: None,
            block_read_bytes_per_s: None,
            block_write_bytes_per_s: None,
            stats_at: None,
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

    fn names(list: Vec<ContainerInfo>) -> Vec<String> {
        list.into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn sorts_filters_and_keeps_the_state_in_the_url() {
        let list = [
            container("web", "a", ContainerState::Running, Some(20.0)),
            container("db", "b", ContainerState::Running, Some(50.0)),
            container("job", "a", ContainerState::Exited, None),
        ];
        assert_eq!(names(order(&list, &view(&[]))), ["db", "job", "web"]);
        assert_eq!(
            names(order(&list, &view(&[("sort", "cpu")]))),
            ["db", "web", "job"]
        );
        assert_eq!(
            names(order(&list, &view(&[("state", "not_running")]))),
            ["job"]
        );
        assert_eq!(names(order(&list, &view(&[("q", "SHOP / W")]))), ["web"]);
        assert_eq!(
            names(order(&list, &view(&[("q", "JOB:1")]))),
            ["job"],
            "by image"
        );
        let v = view(&[("sort", "cpu")]).sorted_by(Column::Cpu);
        assert_eq!(v.query(), "/containers?sort=cpu&dir=asc");
        assert_eq!(
            View {
                shown: Shown::Running,
                text: "a b".into(),
                ..view(&[])
            }
            .query(),
            "/containers?state=running&q=a%20b"
        );
    }
}
