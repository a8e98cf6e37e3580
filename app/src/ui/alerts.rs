//! `/alerts` and its sub-pages: what is firing (severity, culprits, timeline, acknowledge,
//! silence in one click), the rules editor with its preview from history, the channels
//! editor with "Send test", and the silences. Live over SSE (`alert` events).
use leptos::prelude::*;
use serde_json::{Map, Value, json};

use super::RequireUser;
use super::server_fns::*;
use crate::alerts::{
    Alert, AlertRule, AlertRuleSpec, ChannelSpec, NotificationChannel, RulePreview, Silence,
    SilenceMatcher, SilenceSpec, WeeklyWindow,
};
use crate::{AlertState, ChannelKind, ContainerFigure, HostFigure, Severity};

/// The links between the alerting pages; `current` is highlighted.
fn sub_nav(current: &'static str) -> impl IntoView {
    let link = move |href: &'static str, key: &'static str, text: &'static str| {
        view! { <a href=href class:active=current == key aria-current=(current == key).then_some("page")>{text}</a> }
    };
    view! {
        <nav class="subnav" aria-label="Alerting">
            {link("/alerts", "alerts", "Alerts")}
            {link("/alerts/rules", "rules", "Rules")}
            {link("/alerts/channels", "channels", "Channels")}
            {link("/alerts/silences", "silences", "Silences")}
        </nav>
    }
}

fn severity_badge(s: Severity) -> impl IntoView {
    let class = match s {
        Severity::Critical => "badge crit",
        Severity::Warning => "badge warn",
    };
    view! { <span class=class data-testid="severity">{s.as_str()}</span> }
}

/// Bumps `signal` on every live `alert` event while the calling component lives.
fn follow_alerts(signal: RwSignal<u32>) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        super::live::on_event("alert", move |_| {
            signal.try_update(|n| *n += 1);
        })
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = signal;
}

/// A labelled text field bound to `signal`.
fn text_input(
    label: &'static str,
    signal: RwSignal<String>,
    placeholder: &'static str,
) -> impl IntoView {
    view! {
        <label>{label}" "<input prop:value=move || signal.get() on:input=move |ev| signal.set(event_target_value(&ev)) placeholder=placeholder/></label>
    }
}

fn error_line(e: crate::ApiError) -> impl IntoView {
    view! { <p class="error" role="alert">{e.message()}</p> }
}

/// `/alerts`.
#[component]
pub fn AlertsPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Alerts/> }/> }
}

#[component]
fn Alerts() -> impl IntoView {
    let changed = RwSignal::new(0_u32);
    let opened = RwSignal::new(Vec::<i64>::new());
    let ack = ServerAction::<AckAlert>::new();
    let silence = ServerAction::<SilenceAlert>::new();
    let alerts = Resource::new(
        move || (changed.get(), ack.version().get(), silence.version().get()),
        |_| list_alerts(None),
    );
    follow_alerts(changed);
    let errors = move || {
        [
            ack.value().get().and_then(|r| r.err()),
            silence.value().get().and_then(|r| r.err()),
        ]
        .into_iter()
        .flatten()
        .map(error_line)
        .collect_view()
    };
    view! {
        {sub_nav("alerts")}
        <section class="card">
            <h1>"Alerts"</h1>
            {errors}
            {move || silence.value().get().and_then(|r| r.ok()).map(|s| view! {
                <p class="notice" role="status">{format!("Silenced until {}.", s.ends_at.unwrap_or_default())}</p>
            })}
            <Transition fallback=|| view! { <p class="muted">"Loading alerts…"</p> }>
                {move || Suspend::new(async move {
                    match alerts.await {
                        Ok(list) => {
                            let (firing, past): (Vec<Alert>, Vec<Alert>) =
                                list.into_iter().partition(|a| a.state == AlertState::Firing);
                            view! {
                                <h2>"Firing now"</h2>
                                {if firing.is_empty() {
                                    view! { <p class="muted" id="no-firing">"Nothing is firing."</p> }.into_any()
                                } else {
                                    view! { <div class="alert-list" id="firing">{firing.into_iter().map(|a| view! { <AlertCard alert=a ack silence opened/> }).collect_view()}</div> }.into_any()
                                }}
                                <h2>"History"</h2>
                                {if past.is_empty() {
                                    view! { <p class="muted">"No resolved alerts yet."</p> }.into_any()
                                } else {
                                    view! { <div class="alert-list" id="resolved">{past.into_iter().take(100).map(|a| view! { <AlertCard alert=a ack silence opened/> }).collect_view()}</div> }.into_any()
                                }}
                            }.into_any()
                        }
                        Err(e) => error_line(e).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AlertCard(
    alert: Alert,
    ack: ServerAction<AckAlert>,
    silence: ServerAction<SilenceAlert>,
    opened: RwSignal<Vec<i64>>,
) -> impl IntoView {
    let id = alert.id;
    // Which timelines are open lives above the cards: a live update rebuilds them.
    let open = Signal::derive(move || opened.get().contains(&id));
    let toggle = move || {
        opened.update(|o| {
            if !o.contains(&id) {
                o.push(id);
            } else {
                o.retain(|x| *x != id);
            }
        })
    };
    let comment = RwSignal::new(String::new());
    let firing = alert.state == AlertState::Firing;
    let acked = alert.acknowledged_by.clone();
    let when = match (&alert.resolved_at, &alert.fired_at) {
        (Some(r), _) => format!("resolved {r}"),
        (None, Some(f)) => format!("firing since {f}"),
        (None, None) => format!("since {}", alert.started_at),
    };
    view! {
        <article class="card alert" data-alert-id=id.to_string() data-state=alert.state.as_str()>
            <header>
                {severity_badge(alert.severity)}
                <strong class="alert-summary">{alert.summary.clone()}</strong>
            </header>
            <p class="muted">
                {format!("{} · rule {} · {when}", if alert.host_label.is_empty() { "fleet".to_owned() } else { alert.host_label.clone() }, alert.rule_name)}
                {alert.silenced_by.map(|s| view! { " · " <span class="badge">{format!("silenced ({s})")}</span> })}
                {acked.clone().map(|who| view! { " · " <span class="badge ok" data-testid="acked">{format!("acknowledged by {who}")}</span> })}
            </p>
            {(!alert.culprits.is_empty()).then(|| view! {
                <p class="culprits" data-testid="culprits">"Likely cause: "{alert.culprits.join(", ")}</p>
            })}
            <div class="actions">
                <button class="link" aria-expanded=move || open.get().to_string() on:click=move |_| toggle()>
                    {move || if open.get() { "Hide timeline" } else { "Timeline" }}
                </button>
                {(firing && acked.is_none()).then(|| view! {
                    <form class="inline-form" on:submit=move |ev| {
                        ev.prevent_default();
                        ack.dispatch(AckAlert { id, comment: comment.get_untracked() });
                    }>
                        <input aria-label="Comment" placeholder="comment (optional)" maxlength="500"
                            prop:value=move || comment.get() on:input=move |ev| comment.set(event_target_value(&ev))/>
                        <button type="submit">"Acknowledge"</button>
                    </form>
                })}
                {firing.then(|| view! {
                    <button title="Silence this rule on this host for an hour"
                        on:click=move |_| { silence.dispatch(SilenceAlert { id, lasting_s: 3_600 }); }>"Silence 1 h"</button>
                })}
            </div>
            <Show when=move || open.get()>
                <Timeline id/>
            </Show>
        </article>
    }
}

/// One alert's timeline, loaded when opened. Read with `get` rather than awaited: the card
/// is rebuilt whenever the list changes, and a disposed card must not wait on its load.
#[component]
fn Timeline(id: i64) -> impl IntoView {
    let detail = Resource::new(|| (), move |_| get_alert(id));
    view! {
        {move || match detail.get() {
            None => view! { <p class="muted">"Loading the timeline…"</p> }.into_any(),
            Some(Ok(d)) => view! {
                <ol class="timeline" data-testid="timeline">
                    {d.timeline.into_iter().map(|e| view! {
                        <li data-kind=e.kind.as_str()><time>{e.at}</time>" "<span class="badge">{e.kind.as_str()}</span>" "{e.text}</li>
                    }).collect_view()}
                </ol>
            }.into_any(),
            Some(Err(e)) => error_line(e).into_any(),
        }}
    }
}

/// `/alerts/rules`.
#[component]
pub fn RulesPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Rules/> }/> }
}

/// The rule editor's fields, as typed.
#[derive(Clone, Copy)]
struct RuleForm {
    editing: RwSignal<Option<i64>>,
    name: RwSignal<String>,
    severity: RwSignal<String>,
    kind: RwSignal<String>,
    metric: RwSignal<String>,
    container_metric: RwSignal<String>,
    mount: RwSignal<String>,
    above: RwSignal<String>,
    clear_below: RwSignal<String>,
    silent_s: RwSignal<String>,
    restarts: RwSignal<String>,
    window_s: RwSignal<String>,
    days: RwSignal<String>,
    hold: RwSignal<String>,
    recover_for: RwSignal<String>,
    agent: RwSignal<String>,
    tag: RwSignal<String>,
    container: RwSignal<String>,
    channels: RwSignal<Vec<i64>>,
    enabled: RwSignal<bool>,
}

const KINDS: [(&str, &str); 9] = [
    ("host_threshold", "Host figure above a threshold"),
    ("container_threshold", "Container figure above a threshold"),
    ("agent_down", "Agent silent"),
    ("container_stopped", "Container stopped"),
    ("container_unhealthy", "Container unhealthy"),
    ("container_restarting", "Container restarting"),
    ("certificate_expiring", "Certificate expiring"),
    ("certificate_invalid", "Certificate invalid"),
    ("app_mismatch", "App not as expected"),
];

impl RuleForm {
    fn new() -> Self {
        let s = |v: &str| RwSignal::new(v.to_owned());
        RuleForm {
            editing: RwSignal::new(None),
            name: s(""),
            severity: s("warning"),
            kind: s("host_threshold"),
            metric: s("cpu"),
            container_metric: s("cpu"),
            mount: s(""),
            above: s("90"),
            clear_below: s(""),
            silent_s: s("120"),
            restarts: s("3"),
            window_s: s("600"),
            days: s("14"),
            hold: s("3"),
            recover_for: s("2"),
            agent: s(""),
            tag: s(""),
            container: s(""),
            channels: RwSignal::new(Vec::new()),
            enabled: RwSignal::new(true),
        }
    }

    fn reset(&self) {
        let fresh = RuleForm::new();
        self.load_from(&fresh);
        self.editing.set(None);
    }

    fn load_from(&self, other: &RuleForm) {
        for (to, from) in [
            (self.name, other.name),
            (self.severity, other.severity),
            (self.kind, other.kind),
            (self.metric, other.metric),
            (self.container_metric, other.container_metric),
            (self.mount, other.mount),
            (self.above, other.above),
            (self.clear_below, other.clear_below),
            (self.silent_s, other.silent_s),
            (self.restarts, other.restarts),
            (self.window_s, other.window_s),
            (self.days, other.days),
            (self.hold, other.hold),
            (self.recover_for, other.recover_for),
            (self.agent, other.agent),
            (self.tag, other.tag),
            (self.container, other.container),
        ] {
            to.set(from.get_untracked());
        }
        self.channels.set(other.channels.get_untracked());
        self.enabled.set(other.enabled.get_untracked());
    }

    /// Fills the form from a stored rule, to edit it.
    fn edit(&self, rule: &AlertRule) {
        self.reset();
        let spec = &rule.spec;
        self.editing.set(Some(rule.id));
        self.name.set(spec.name.clone());
        self.severity.set(spec.severity.as_str().to_owned());
        let wire = serde_json::to_value(spec).unwrap_or(Value::Null);
        let field = |k: &str| match &wire["condition"][k] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let kind = field("kind");
        self.kind.set(kind.clone());
        match kind.as_str() {
            "container_threshold" => self.container_metric.set(field("metric")),
            _ => self.metric.set(field("metric")),
        }
        for (signal, key) in [
            (self.mount, "mount"),
            (self.above, "above"),
            (self.clear_below, "clear_below"),
            (self.silent_s, "silent_s"),
            (self.restarts, "restarts"),
            (self.window_s, "window_s"),
            (self.days, "days"),
        ] {
            let v = field(key);
            if !v.is_empty() || key == "mount" || key == "clear_below" {
                signal.set(v);
            }
        }
        self.hold.set(match &wire["for"] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        });
        self.recover_for.set(spec.recover_for.to_string());
        self.agent
            .set(spec.scope.agent_id.clone().unwrap_or_default());
        self.tag.set(spec.scope.tag.clone().unwrap_or_default());
        self.container
            .set(spec.scope.container.clone().unwrap_or_default());
        self.channels.set(spec.channels.clone());
        self.enabled.set(spec.enabled);
    }

    /// The rule as the API takes it, or what is wrong with the form.
    fn spec(&self) -> Result<AlertRuleSpec, String> {
        let number = |label: &str, text: String| -> Result<Value, String> {
            let t = text.trim();
            t.parse::<f64>()
                .map_err(|_| format!("{label} is a number."))
                .map(|v| {
                    if v.fract() == 0.0 && v.abs() < 1e15 {
                        json!(v as i64)
                    } else {
                        json!(v)
                    }
                })
        };
        let kind = self.kind.get_untracked();
        let mut condition = Map::new();
        condition.insert("kind".into(), json!(kind));
        match kind.as_str() {
            "host_threshold" | "container_threshold" => {
                let metric = if kind == "host_threshold" {
                    self.metric.get_untracked()
                } else {
                    self.container_metric.get_untracked()
                };
                condition.insert("metric".into(), json!(metric));
                condition.insert(
                    "above".into(),
                    number("The threshold", self.above.get_untracked())?,
                );
                let clear = self.clear_below.get_untracked();
                if !clear.trim().is_empty() {
                    condition.insert("clear_below".into(), number("The clear threshold", clear)?);
                }
                let mount = self.mount.get_untracked();
                if kind == "host_threshold" && metric == "disk" && !mount.trim().is_empty() {
                    condition.insert("mount".into(), json!(mount.trim()));
                }
            }
            "agent_down" => {
                condition.insert(
                    "silent_s".into(),
                    number("Silent for", self.silent_s.get_untracked())?,
                );
            }
            "container_restarting" => {
                condition.insert(
                    "restarts".into(),
                    number("Restarts", self.restarts.get_untracked())?,
                );
                condition.insert(
                    "window_s".into(),
                    number("The window", self.window_s.get_untracked())?,
                );
            }
            "certificate_expiring" => {
                condition.insert("days".into(), number("Days", self.days.get_untracked())?);
            }
            _ => {}
        }
        let mut scope = Map::new();
        for (key, signal) in [
            ("agent_id", self.agent),
            ("tag", self.tag),
            ("container", self.container),
        ] {
            let v = signal.get_untracked();
            if !v.trim().is_empty() {
                scope.insert(key.into(), json!(v.trim()));
            }
        }
        let hold = self.hold.get_untracked();
        let hold = match hold.trim().parse::<u32>() {
            Ok(n) => json!(n),
            Err(_) => json!(hold.trim()),
        };
        let body = json!({
            "name": self.name.get_untracked(),
            "severity": self.severity.get_untracked(),
            "condition": condition,
            "scope": scope,
            "for": hold,
            "recover_for": number("Recover after", self.recover_for.get_untracked())?,
            "channels": self.channels.get_untracked(),
            "enabled": self.enabled.get_untracked(),
        });
        serde_json::from_value(body).map_err(|e| format!("The rule is not complete: {e}."))
    }
}

fn preview_text(p: &RulePreview) -> String {
    if !p.supported {
        return format!("No preview: {}.", p.note.clone().unwrap_or_default());
    }
    let times = |n: u32| {
        if n == 1 {
            "once".to_owned()
        } else {
            format!("{n} times")
        }
    };
    let mut text = match (p.windows.first(), p.windows.get(1)) {
        (Some(day), Some(week)) => format!(
            "Would have fired {} in the last 24 h and {} in the last 7 d",
            times(day.fired),
            times(week.fired)
        ),
        _ => "No history to replay".to_owned(),
    };
    if let Some(week) = p.windows.get(1)
        && week.fired > 0
    {
        text.push_str(&format!(
            " (on {} of {} hosts)",
            week.hosts_fired, p.hosts_evaluated
        ));
    }
    text.push('.');
    if p.hosts_evaluated < p.hosts_in_scope {
        text.push_str(&format!(
            " Replayed on {} of the {} hosts it covers.",
            p.hosts_evaluated, p.hosts_in_scope
        ));
    }
    if let Some(note) = &p.note {
        text.push_str(&format!(" Note: {note}."));
    }
    text
}

#[component]
fn Rules() -> impl IntoView {
    let save = ServerAction::<SaveAlertRule>::new();
    let delete = ServerAction::<DeleteAlertRule>::new();
    let preview = ServerAction::<PreviewAlertRule>::new();
    let changed = RwSignal::new(0_u32);
    follow_alerts(changed);
    let rules = Resource::new(
        move || (save.version().get(), delete.version().get(), changed.get()),
        |_| list_alert_rules(),
    );
    let channels = Resource::new(|| (), |_| list_channels());
    let form = RuleForm::new();
    let form_error = RwSignal::new(None::<String>);
    // A saved rule empties the form.
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            form.reset();
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match form.spec() {
            Ok(spec) => {
                form_error.set(None);
                save.dispatch(SaveAlertRule {
                    id: form.editing.get_untracked(),
                    spec,
                });
            }
            Err(e) => form_error.set(Some(e)),
        }
    };
    let run_preview = move |_| match form.spec() {
        Ok(spec) => {
            form_error.set(None);
            preview.dispatch(PreviewAlertRule { spec });
        }
        Err(e) => form_error.set(Some(e)),
    };
    let kind_is = move |kinds: &'static [&'static str]| kinds.contains(&form.kind.get().as_str());
    let fields = view! {
                <div class="form-grid">
                    {text_input("Name", form.name, "CPU hot")}
                    <label>"Severity " <select prop:value=move || form.severity.get() on:change=move |ev| form.severity.set(event_target_value(&ev))>
                        {Severity::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
                    </select></label>
                    <label>"Condition " <select name="kind" prop:value=move || form.kind.get() on:change=move |ev| form.kind.set(event_target_value(&ev))>
                        {KINDS.iter().map(|(k, text)| view! { <option value=*k>{*text}</option> }).collect_view()}
                    </select></label>
                    <Show when=move || kind_is(&["host_threshold"])>
                        <label>"Figure " <select name="metric" prop:value=move || form.metric.get() on:change=move |ev| form.metric.set(event_target_value(&ev))>
                            {HostFigure::ALL.iter().map(|m| view! { <option value=m.as_str()>{m.as_str()}</option> }).collect_view()}
                        </select></label>
                    </Show>
                    <Show when=move || kind_is(&["host_threshold"]) && form.metric.get() == "disk">
                        {text_input("Mount (empty: the fullest)", form.mount, "/var")}
                    </Show>
                    <Show when=move || kind_is(&["container_threshold"])>
                        <label>"Figure " <select prop:value=move || form.container_metric.get() on:change=move |ev| form.container_metric.set(event_target_value(&ev))>
                            {ContainerFigure::ALL.iter().map(|m| view! { <option value=m.as_str()>{m.as_str()}</option> }).collect_view()}
                        </select></label>
                    </Show>
                    <Show when=move || kind_is(&["host_threshold", "container_threshold"])>
                        {text_input("Fire above", form.above, "90")}
                        {text_input("Clear below (optional)", form.clear_below, "80")}
                    </Show>
                    <Show when=move || kind_is(&["agent_down"])>
                        {text_input("Silent for (s)", form.silent_s, "120")}
                    </Show>
                    <Show when=move || kind_is(&["container_restarting"])>
                        {text_input("Restarts", form.restarts, "3")}
                        {text_input("Within (s)", form.window_s, "600")}
                    </Show>
                    <Show when=move || kind_is(&["certificate_expiring"])>
                        {text_input("Within (days)", form.days, "14")}
                    </Show>
                    {text_input("For (evaluations, or 2m)", form.hold, "3")}
                    {text_input("Recover after (good evaluations)", form.recover_for, "2")}
                    {text_input("Agent id (empty: every host)", form.agent, "local")}
                    {text_input("Tag", form.tag, "prod")}
                    <Show when=move || form.kind.get().starts_with("container")>
                        {text_input("Containers (glob)", form.container, "web-*")}
                    </Show>
                    <label class="check"><input type="checkbox" prop:checked=move || form.enabled.get() on:change=move |ev| form.enabled.set(event_target_checked(&ev))/>" Enabled"</label>
                </div>
    }
    .into_any();
    let list = view! {
        <section class="card">
            <h1>"Alert rules"</h1>
            {move || delete.value().get().and_then(|r| r.err()).map(error_line)}
            <Transition fallback=|| view! { <p class="muted">"Loading rules…"</p> }>
                {move || Suspend::new(async move {
                    match rules.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted" id="no-rules">"No rules yet: write the first one below."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="rules">
                                <thead><tr><th>"Rule"</th><th>"Severity"</th><th>"Condition"</th><th>"Now"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|r| {
                                    let id = r.id;
                                    let for_edit = r.clone();
                                    view! {
                                        <tr data-rule-id=id.to_string()>
                                            <td>{r.spec.name.clone()}{(!r.spec.enabled).then(|| view! { " " <span class="badge">"disabled"</span> })}</td>
                                            <td>{severity_badge(r.spec.severity)}</td>
                                            <td><code>{r.spec.condition.kind()}</code></td>
                                            <td data-testid="rule-now">{format!("{} firing, {} pending", r.firing, r.pending)}</td>
                                            <td class="actions">
                                                <button class="link" on:click=move |_| form.edit(&for_edit)>"Edit"</button>
                                                <button class="danger" on:click=move |_| { delete.dispatch(DeleteAlertRule { id }); }>"Delete"</button>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => error_line(e).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any();
    let editor = view! {
        <section class="card" id="rule-editor">
            <h2>{move || if form.editing.get().is_some() { "Edit rule" } else { "New rule" }}</h2>
            <form class="editor" on:submit=submit>
                {fields}
                <fieldset class="choice">
                    <legend>"Notify"</legend>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match channels.await {
                                Ok(list) if list.is_empty() => view! { <p class="muted">"No channels yet: add one under Channels. The rule still records alerts."</p> }.into_any(),
                                Ok(list) => list.into_iter().map(|c| {
                                    let id = c.id;
                                    view! {
                                        <label><input type="checkbox" prop:checked=move || form.channels.get().contains(&id)
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                form.channels.update(|list| { list.retain(|c| *c != id); if on { list.push(id); } });
                                            }/>{format!(" {} ({})", c.name, c.kind.as_str())}</label>
                                    }
                                }).collect_view().into_any(),
                                Err(e) => error_line(e).into_any(),
                            }
                        })}
                    </Transition>
                </fieldset>
                {move || form_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                {move || save.value().get().and_then(|r| r.err()).map(error_line)}
                <div class="actions">
                    <button type="button" on:click=run_preview disabled=move || preview.pending().get()>"Preview"</button>
                    <button type="submit" disabled=move || save.pending().get()>{move || if form.editing.get().is_some() { "Save changes" } else { "Create rule" }}</button>
                    <Show when=move || form.editing.get().is_some()>
                        <button type="button" class="link" on:click=move |_| form.reset()>"Cancel"</button>
                    </Show>
                </div>
                <p class="preview" data-testid="preview" aria-live="polite">{move || match preview.value().get() {
                    None => String::new(),
                    Some(Ok(p)) => preview_text(&p),
                    Some(Err(e)) => e.message(),
                }}</p>
            </form>
        </section>
    }
    .into_any();
    view! {
        {sub_nav("rules")}
        {list}
        {editor}
    }
}

/// `/alerts/channels`.
#[component]
pub fn ChannelsPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Channels/> }/> }
}

/// The settings each kind takes: (key, label, secret).
fn settings_fields(kind: ChannelKind) -> &'static [(&'static str, &'static str, bool)] {
    match kind {
        ChannelKind::Slack | ChannelKind::Discord => &[("url", "Webhook URL", true)],
        ChannelKind::Webhook => &[
            ("url", "URL", true),
            ("secret", "Signing secret (16+ characters)", true),
        ],
        ChannelKind::Ntfy => &[
            ("url", "Server and topic URL", true),
            ("token", "Access token (optional)", true),
        ],
        ChannelKind::Telegram => &[
            ("bot_token", "Bot token", true),
            ("chat_id", "Chat id", false),
            ("api_url", "API URL (optional)", false),
        ],
        ChannelKind::Pagerduty => &[
            ("routing_key", "Routing key", true),
            ("url", "Events URL (optional)", false),
        ],
        ChannelKind::Email => &[
            ("host", "SMTP host", false),
            ("port", "Port", false),
            ("security", "starttls or tls", false),
            ("username", "User name", false),
            ("password", "Password", true),
            ("from", "From", false),
            ("to", "To (comma-separated)", false),
        ],
    }
}

#[component]
fn Channels() -> impl IntoView {
    let save = ServerAction::<SaveChannel>::new();
    let delete = ServerAction::<DeleteChannel>::new();
    let test = ServerAction::<TestChannel>::new();
    let tested = RwSignal::new(None::<i64>);
    let channels = Resource::new(
        move || (save.version().get(), delete.version().get()),
        |_| list_channels(),
    );
    let editing = RwSignal::new(None::<i64>);
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(ChannelKind::Webhook);
    let settings = RwSignal::new(std::collections::BTreeMap::<String, String>::new());
    let severities = RwSignal::new(Vec::<Severity>::new());
    let group_wait = RwSignal::new("10".to_owned());
    let repeat = RwSignal::new(String::new());
    let send_resolved = RwSignal::new(true);
    let form_error = RwSignal::new(None::<String>);
    let reset = move || {
        editing.set(None);
        name.set(String::new());
        settings.set(Default::default());
        severities.set(Vec::new());
        group_wait.set("10".into());
        repeat.set(String::new());
        send_resolved.set(true);
    };
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            reset();
        }
    });
    let edit = move |c: &NotificationChannel| {
        editing.set(Some(c.id));
        name.set(c.name.clone());
        kind.set(c.kind);
        // Secrets come back masked: left empty, the stored value is kept.
        let secret = |k: &str| {
            settings_fields(c.kind)
                .iter()
                .any(|(key, _, s)| *key == k && *s)
        };
        settings.set(
            c.settings
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| !secret(k))
                        .map(|(k, v)| {
                            let text = match v {
                                Value::String(s) => s.clone(),
                                Value::Array(items) => items
                                    .iter()
                                    .filter_map(|i| i.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                other => other.to_string(),
                            };
                            (k.clone(), text)
                        })
                        .collect()
                })
                .unwrap_or_default(),
        );
        severities.set(c.severities.clone());
        group_wait.set(c.group_wait_s.to_string());
        repeat.set(
            c.repeat_interval_s
                .map(|s| s.to_string())
                .unwrap_or_default(),
        );
        send_resolved.set(c.send_resolved);
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let k = kind.get_untracked();
        let mut object = Map::new();
        for (key, text) in settings.get_untracked() {
            if !settings_fields(k).iter().any(|(f, _, _)| *f == key) || text.trim().is_empty() {
                continue;
            }
            let value = match (k, key.as_str()) {
                (ChannelKind::Email, "port") => text
                    .trim()
                    .parse::<u16>()
                    .map(|p| json!(p))
                    .unwrap_or(json!(text)),
                (ChannelKind::Email, "to") => json!(
                    text.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .collect::<Vec<_>>()
                ),
                _ => json!(text.trim()),
            };
            object.insert(key, value);
        }
        let group_wait_s = match group_wait.get_untracked().trim().parse::<u64>() {
            Ok(v) => v,
            Err(_) => {
                return form_error.set(Some("Group wait is a whole number of seconds.".into()));
            }
        };
        let repeat_text = repeat.get_untracked();
        let repeat_interval_s = match repeat_text.trim() {
            "" => None,
            t => match t.parse::<u64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    return form_error.set(Some(
                        "The reminder interval is a whole number of seconds, or empty.".into(),
                    ));
                }
            },
        };
        form_error.set(None);
        save.dispatch(SaveChannel {
            id: editing.get_untracked(),
            spec: ChannelSpec {
                name: name.get_untracked(),
                kind: k,
                settings: Value::Object(object),
                severities: severities.get_untracked(),
                group_wait_s,
                repeat_interval_s,
                send_resolved: send_resolved.get_untracked(),
            },
        });
    };
    let fields = view! {
                <div class="form-grid">
                    <label>"Name " <input name="name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) placeholder="ops webhook"/></label>
                    <label>"Kind " <select name="kind" prop:value=move || kind.get().as_str() on:change=move |ev| {
                        if let Ok(k) = event_target_value(&ev).parse() { kind.set(k); }
                    }>
                        {ChannelKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.as_str()}</option> }).collect_view()}
                    </select></label>
                    {move || settings_fields(kind.get()).iter().map(|(key, label, secret)| {
                        let key = *key;
                        view! {
                            <label>{*label}" "<input name=key type=if *secret { "password" } else { "text" }
                                placeholder=if *secret && editing.get_untracked().is_some() { "unchanged" } else { "" }
                                prop:value=move || settings.with(|s| s.get(key).cloned().unwrap_or_default())
                                on:input=move |ev| { let v = event_target_value(&ev); settings.update(|s| { s.insert(key.to_owned(), v); }); }/></label>
                        }
                    }).collect_view()}
                    <label>"Group wait (s) " <input prop:value=move || group_wait.get() on:input=move |ev| group_wait.set(event_target_value(&ev))/></label>
                    <label>"Remind every (s, empty: never) " <input prop:value=move || repeat.get() on:input=move |ev| repeat.set(event_target_value(&ev))/></label>
                    <label class="check"><input type="checkbox" prop:checked=move || send_resolved.get() on:change=move |ev| send_resolved.set(event_target_checked(&ev))/>" Send resolve notices"</label>
                </div>
    }
    .into_any();
    let list = view! {
        <section class="card">
            <h1>"Notification channels"</h1>
            {move || delete.value().get().and_then(|r| r.err()).map(error_line)}
            <Transition fallback=|| view! { <p class="muted">"Loading channels…"</p> }>
                {move || Suspend::new(async move {
                    match channels.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted" id="no-channels">"No channels yet: add one below, then pick it in a rule."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="channels">
                                <thead><tr><th>"Channel"</th><th>"Kind"</th><th>"Target"</th><th>"Test"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|c| {
                                    let id = c.id;
                                    let for_edit = c.clone();
                                    let target = ["url", "host", "chat_id", "routing_key"].iter()
                                        .find_map(|k| c.settings.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
                                        .unwrap_or_default();
                                    view! {
                                        <tr data-channel-id=id.to_string()>
                                            <td>{c.name.clone()}</td>
                                            <td>{c.kind.as_str()}</td>
                                            <td><code>{target}</code></td>
                                            <td data-testid="test-result">{move || (tested.get() == Some(id)).then(|| match test.value().get() {
                                                None => "sending…".to_owned(),
                                                Some(Ok(r)) if r.ok => format!("delivered in {} ms (status {})", r.latency_ms, r.status.map(|s| s.to_string()).unwrap_or_else(|| "ok".into())),
                                                Some(Ok(r)) => format!("failed: {}", r.error.unwrap_or_default()),
                                                Some(Err(e)) => e.message(),
                                            })}</td>
                                            <td class="actions">
                                                <button on:click=move |_| { tested.set(Some(id)); test.dispatch(TestChannel { id }); }>"Send test"</button>
                                                <button class="link" on:click=move |_| edit(&for_edit)>"Edit"</button>
                                                <button class="danger" on:click=move |_| { delete.dispatch(DeleteChannel { id }); }>"Delete"</button>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => error_line(e).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any();
    let editor = view! {
        <section class="card" id="channel-editor">
            <h2>{move || if editing.get().is_some() { "Edit channel" } else { "New channel" }}</h2>
            <form class="editor" on:submit=submit>
                {fields}
                <fieldset class="choice">
                    <legend>"Severities (none ticked: all)"</legend>
                    {Severity::ALL.iter().map(|s| {
                        let s = *s;
                        view! { <label><input type="checkbox" prop:checked=move || severities.get().contains(&s)
                            on:change=move |ev| { let on = event_target_checked(&ev); severities.update(|l| { l.retain(|x| *x != s); if on { l.push(s); } }); }/>{format!(" {}", s.as_str())}</label> }
                    }).collect_view()}
                </fieldset>
                {move || form_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                {move || save.value().get().and_then(|r| r.err()).map(error_line)}
                <div class="actions">
                    <button type="submit" disabled=move || save.pending().get()>{move || if editing.get().is_some() { "Save changes" } else { "Add channel" }}</button>
                    <Show when=move || editing.get().is_some()>
                        <button type="button" class="link" on:click=move |_| reset()>"Cancel"</button>
                    </Show>
                </div>
            </form>
        </section>
    }
    .into_any();
    view! {
        {sub_nav("channels")}
        {list}
        {editor}
    }
}

/// `/alerts/silences`.
#[component]
pub fn SilencesPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Silences/> }/> }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn matcher_text(m: &SilenceMatcher) -> String {
    let mut parts = Vec::new();
    if let Some(r) = m.rule_id {
        parts.push(format!("rule {r}"));
    }
    if let Some(a) = &m.agent_id {
        parts.push(format!("agent {a}"));
    }
    if let Some(t) = &m.tag {
        parts.push(format!("tag {t}"));
    }
    if let Some(c) = &m.container {
        parts.push(format!("containers {c}"));
    }
    if parts.is_empty() {
        "everything".into()
    } else {
        parts.join(", ")
    }
}

fn when_text(s: &Silence) -> String {
    match &s.weekly {
        Some(w) => format!(
            "every {} at {} UTC for {} min",
            w.days.join(", "),
            w.start,
            w.duration_minutes
        ),
        None => format!(
            "{} to {}",
            s.starts_at,
            s.ends_at.clone().unwrap_or_default()
        ),
    }
}

#[component]
fn Silences() -> impl IntoView {
    let create = ServerAction::<CreateSilence>::new();
    let delete = ServerAction::<DeleteSilence>::new();
    let silences = Resource::new(
        move || (create.version().get(), delete.version().get()),
        |_| list_silences(),
    );
    let rules = Resource::new(|| (), |_| list_alert_rules());
    let rule = RwSignal::new(String::new());
    let agent = RwSignal::new(String::new());
    let tag = RwSignal::new(String::new());
    let container = RwSignal::new(String::new());
    let lasting = RwSignal::new("3600".to_owned());
    let weekly = RwSignal::new(false);
    let days = RwSignal::new(vec!["sun".to_owned()]);
    let start = RwSignal::new("23:00".to_owned());
    let minutes = RwSignal::new("180".to_owned());
    let comment = RwSignal::new(String::new());
    let form_error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = |s: RwSignal<String>| {
            Some(s.get_untracked().trim().to_owned()).filter(|t| !t.is_empty())
        };
        let rule_id = match text(rule) {
            None => None,
            Some(t) => match t.parse::<i64>() {
                Ok(id) => Some(id),
                Err(_) => return form_error.set(Some("Pick a rule from the list.".into())),
            },
        };
        let window = if weekly.get_untracked() {
            let Ok(duration_minutes) = minutes.get_untracked().trim().parse::<u32>() else {
                return form_error.set(Some(
                    "The window's length is a whole number of minutes.".into(),
                ));
            };
            Some(WeeklyWindow {
                days: days.get_untracked(),
                start: start.get_untracked().trim().to_owned(),
                duration_minutes,
            })
        } else {
            None
        };
        form_error.set(None);
        create.dispatch(CreateSilence {
            spec: SilenceSpec {
                matcher: SilenceMatcher {
                    rule_id,
                    agent_id: text(agent),
                    tag: text(tag),
                    container: text(container),
                },
                starts_at: None,
                ends_at: None,
                weekly: window,
                comment: comment.get_untracked(),
            },
            lasting_s: lasting.get_untracked().parse().ok(),
        });
    };
    let fields = view! {
                <div class="form-grid">
                    <label>"Rule " <select prop:value=move || rule.get() on:change=move |ev| rule.set(event_target_value(&ev))>
                        <option value="">"any rule"</option>
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                rules.await.unwrap_or_default().into_iter().map(|r| view! { <option value=r.id.to_string()>{r.spec.name}</option> }).collect_view()
                            })}
                        </Transition>
                    </select></label>
                    {text_input("Agent id", agent, "any")}
                    {text_input("Tag", tag, "any")}
                    {text_input("Containers (glob)", container, "any")}
                    <label class="check"><input type="checkbox" prop:checked=move || weekly.get() on:change=move |ev| weekly.set(event_target_checked(&ev))/>" Weekly maintenance window"</label>
                    <Show when=move || !weekly.get()>
                        <label>"For " <select prop:value=move || lasting.get() on:change=move |ev| lasting.set(event_target_value(&ev))>
                            <option value="3600">"1 hour"</option>
                            <option value="14400">"4 hours"</option>
                            <option value="86400">"1 day"</option>
                            <option value="604800">"7 days"</option>
                        </select></label>
                    </Show>
                    <Show when=move || weekly.get()>
                        {text_input("Starts (HH:MM, UTC)", start, "23:00")}
                        {text_input("Lasts (minutes)", minutes, "180")}
                    </Show>
                    {text_input("Why", comment, "database upgrade")}
                </div>
    }
    .into_any();
    let list = view! {
        <section class="card">
            <h1>"Silences"</h1>
            <p class="muted">"A silenced alert is still recorded, with the silence in its timeline; it notifies nobody."</p>
            {move || delete.value().get().and_then(|r| r.err()).map(error_line)}
            <Transition fallback=|| view! { <p class="muted">"Loading silences…"</p> }>
                {move || Suspend::new(async move {
                    match silences.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted" id="no-silences">"No silences."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="silences">
                                <thead><tr><th>"Covers"</th><th>"When"</th><th>"By"</th><th>"Why"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|s| {
                                    let id = s.id;
                                    view! {
                                        <tr data-silence-id=id.to_string()>
                                            <td>{matcher_text(&s.matcher)}" "{s.active.then(|| view! { <span class="badge ok">"active"</span> })}</td>
                                            <td>{when_text(&s)}</td>
                                            <td>{s.author.clone()}</td>
                                            <td>{s.comment.clone()}</td>
                                            <td><button class="danger" on:click=move |_| { delete.dispatch(DeleteSilence { id }); }>"End"</button></td>
                                        </tr>
                                    }
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => error_line(e).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any();
    let editor = view! {
        <section class="card" id="silence-editor">
            <h2>"New silence"</h2>
            <form class="editor" on:submit=submit>
                {fields}
                <Show when=move || weekly.get()>
                    <fieldset class="choice">
                        <legend>"Days"</legend>
                        {DAYS.iter().map(|d| {
                            let d = *d;
                            view! { <label><input type="checkbox" prop:checked=move || days.get().iter().any(|x| x == d)
                                on:change=move |ev| { let on = event_target_checked(&ev); days.update(|l| { l.retain(|x| x != d); if on { l.push(d.to_owned()); } }); }/>{format!(" {d}")}</label> }
                        }).collect_view()}
                    </fieldset>
                </Show>
                {move || form_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                {move || create.value().get().and_then(|r| r.err()).map(error_line)}
                <div class="actions"><button type="submit" disabled=move || create.pending().get()>"Silence"</button></div>
            </form>
        </section>
    }
    .into_any();
    view! {
        {sub_nav("silences")}
        {list}
        {editor}
    }
}

/// The navigation's "Alerts" link, with how many alerts fire now (live).
#[component]
pub fn AlertsNavLink() -> impl IntoView {
    let changed = RwSignal::new(0_u32);
    follow_alerts(changed);
    let firing = Resource::new(move || changed.get(), |_| firing_alert_count());
    view! {
        <a href="/alerts">"Alerts"
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let n = firing.await.unwrap_or(0);
                    (n > 0).then(|| view! { " " <span class="count crit" data-testid="firing-count" aria-label=format!("{n} firing")>{n}</span> })
                })}
            </Transition>
        </a>
    }
}
