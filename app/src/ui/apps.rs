//! `/apps`: tracked applications with their observed state (a red marker on a mismatch) and
//! filters; "Track an app" with the host's discovered units, containers, services and
//! executables; and `/apps/{id}`: owner, runbook, notes, budget, restart history, and Restart
//! (a one-time code and a reason) with its result as it comes back.
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::RequireUser;
use super::server_fns::*;
use crate::apps::{Action, App, AppType, ExpectedState, InventoryItem, ObservedState};

#[component]
pub fn AppsPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Apps/> }/> }
}

#[component]
pub fn AppPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <AppDetail/> }/> }
}

fn state_badge(observed: ObservedState, mismatch: bool) -> impl IntoView {
    let class = match (observed, mismatch) {
        (_, true) => "badge crit",
        (ObservedState::Running, _) => "badge ok",
        (ObservedState::Stopped, _) => "badge",
        (ObservedState::Unknown, _) => "badge warn",
    };
    view! { <span class=class data-testid="observed">{observed.as_str()}</span> }
}

#[component]
fn Apps() -> impl IntoView {
    let host = RwSignal::new(String::new());
    let tag = RwSignal::new(String::new());
    let state = RwSignal::new(String::new());
    let changed = RwSignal::new(0_u32);
    let tracking = RwSignal::new(false);
    let apps = Resource::new(
        move || {
            (
                host.get(),
                tag.get(),
                state.get(),
                changed.get(),
                tracking.get(),
            )
        },
        |(host, tag, state, _, _)| {
            list_apps(
                (!host.is_empty()).then_some(host),
                (!tag.is_empty()).then_some(tag),
                (!state.is_empty()).then_some(state),
            )
        },
    );
    let agents = Resource::new(|| (), |_| list_agents());
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| super::live::on_event("app_state", move |_| changed.update(|n| *n += 1)));
    view! {
        <section class="card">
            <div class="section-head">
                <h1>"Applications"</h1>
                <button on:click=move |_| tracking.set(true) data-testid="track-app">"Track an app"</button>
            </div>
            <div class="fleet-filters">
                <label>"Host"
                    <select on:change=move |ev| host.set(event_target_value(&ev))>
                        <option value="">"all"</option>
                        <HostOptions agents/>
                    </select>
                </label>
                <label>"Tag" <input placeholder="any" on:change=move |ev| tag.set(event_target_value(&ev))/></label>
                <label>"Observed"
                    <select on:change=move |ev| state.set(event_target_value(&ev))>
                        <option value="">"any"</option>
                        {ObservedState::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading apps…"</p> }>
                {move || Suspend::new(async move {
                    match apps.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted" id="no-apps">"No apps tracked. Track one: Vantage then watches that it runs and lets operators restart it."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <table class="apps" data-testid="apps">
                                <thead><tr><th>"App"</th><th>"Host"</th><th class="col-type">"Type"</th><th class="col-expected">"Expected"</th><th>"Observed"</th><th class="col-since">"Since"</th></tr></thead>
                                <tbody>{list.into_iter().map(app_row).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <Show when=move || tracking.get()>
            <TrackDialog close=move || tracking.set(false)/>
        </Show>
    }
}

/// One `<option>` per agent, by label.
#[component]
fn HostOptions(agents: Resource<Result<Vec<crate::AgentInfo>, crate::ApiError>>) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                agents.await.unwrap_or_default().into_iter().map(|a| view! {
                    <option value=a.id.clone()>{a.label.clone()}</option>
                }).collect_view()
            })}
        </Transition>
    }
}

fn app_row(a: App) -> impl IntoView {
    let href = format!("/apps/{}", a.id);
    view! {
        <tr data-app=a.name.clone() class:mismatch=a.mismatch>
            <td>
                {a.mismatch.then(|| view! { <span class="dot crit" title="observed state differs from expected"></span> })}
                <a href=href>{a.name.clone()}</a>
                <div class="muted small"><code>{a.identifier.clone()}</code></div>
            </td>
            <td>{a.host.clone()}</td>
            <td class="col-type">{a.app_type.as_str()}</td>
            <td class="col-expected">{a.expected_state.as_str()}</td>
            <td>{state_badge(a.observed_state, a.mismatch)}</td>
            <td class="muted col-since">{a.last_state_change.clone().map(|t| t.replace('T', " ").trim_end_matches('Z').to_owned()).unwrap_or_else(|| "—".into())}</td>
        </tr>
    }
}

/// "Track an app": pick a host, then a discovered item (or type one), then save.
#[component]
fn TrackDialog(close: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let create = ServerAction::<CreateApp>::new();
    let agents = Resource::new(|| (), |_| list_agents());
    let host = RwSignal::new(String::new());
    let kind = RwSignal::new(AppType::Systemd);
    let identifier = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let expected = RwSignal::new(ExpectedState::Running);
    let owner = RwSignal::new(String::new());
    let runbook = RwSignal::new(String::new());
    let notes = RwSignal::new(String::new());
    let command = RwSignal::new(String::new());
    let filter = RwSignal::new(String::new());
    let inventory = Resource::new(
        move || host.get(),
        |host| async move {
            if host.is_empty() {
                Ok(None)
            } else {
                agent_inventory(host).await.map(Some)
            }
        },
    );
    let pick = move |item: InventoryItem| {
        kind.set(item.kind);
        identifier.set(item.identifier.clone());
        name.set(item.name.clone());
        if item.kind == AppType::Process {
            command.set(String::new());
        }
    };
    let close_done = close.clone();
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            close_done();
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let new = crate::apps::NewApp {
            agent_id: host.get_untracked(),
            name: name.get_untracked(),
            app_type: kind.get_untracked(),
            identifier: identifier.get_untracked(),
            expected_state: expected.get_untracked(),
            owner_email: owner.get_untracked(),
            runbook_url: runbook.get_untracked(),
            notes: notes.get_untracked(),
            restart_command: command
                .get_untracked()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        };
        create.dispatch(CreateApp { new });
    };
    let close_button = close.clone();
    view! {
        <div class="modal-backdrop" role="dialog" aria-modal="true" aria-label="Track an app">
            <div class="card modal">
                <div class="section-head">
                    <h2>"Track an app"</h2>
                    <button class="link" on:click=move |_| close_button()>"Close"</button>
                </div>
                <form on:submit=submit>
                    <label>"Host"
                        <select required on:change=move |ev| host.set(event_target_value(&ev))>
                            <option value="">"choose a host"</option>
                            <HostOptions agents/>
                        </select>
                    </label>
                    <Transition fallback=|| view! { <p class="muted">"Reading the host's inventory…"</p> }>
                        {move || Suspend::new(async move {
                            match inventory.await {
                                Ok(None) => ().into_any(),
                                Ok(Some(inv)) if inv.items.is_empty() => view! {
                                    <p class="muted">"The host has sent no inventory yet; type the app below."</p>
                                }.into_any(),
                                Ok(Some(inv)) => {
                                    let items = inv.items;
                                    view! {
                                        <fieldset class="discovered">
                                            <legend>"Discovered on host"</legend>
                                            <input placeholder="filter" aria-label="Filter discovered" on:input=move |ev| filter.set(event_target_value(&ev))/>
                                            <ul data-testid="discovered">
                                                {move || {
                                                    let f = filter.get().to_lowercase();
                                                    items.iter().filter(|i| i.app_id.is_none() && (f.is_empty() || i.identifier.to_lowercase().contains(&f))).take(200).map(|i| {
                                                        let label = format!("{} · {}", i.kind.as_str(), i.identifier);
                                                        let detail = i.detail.clone();
                                                        let state = i.state.clone();
                                                        let item = i.clone();
                                                        view! {
                                                            <li><button type="button" class="link" on:click=move |_| pick(item.clone())>{label}</button>
                                                            " " <span class="muted small">{state}" · "{detail}</span></li>
                                                        }
                                                    }).collect_view()
                                                }}
                                            </ul>
                                        </fieldset>
                                    }.into_any()
                                }
                                Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                            }
                        })}
                    </Transition>
                    <div class="form-grid">
                        <label>"Type"
                            <select prop:value=move || kind.get().as_str() on:change=move |ev| {
                                if let Ok(k) = event_target_value(&ev).parse() { kind.set(k) }
                            }>
                                {AppType::ALL.iter().map(|t| view! { <option value=t.as_str()>{t.as_str()}</option> }).collect_view()}
                            </select>
                        </label>
                        <label>"Identifier" <input required prop:value=move || identifier.get() on:input=move |ev| identifier.set(event_target_value(&ev))/></label>
                        <label>"Name" <input required maxlength="64" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/></label>
                        <label>"Expected"
                            <select on:change=move |ev| if let Ok(e) = event_target_value(&ev).parse() { expected.set(e) }>
                                {ExpectedState::ALL.iter().map(|e| view! { <option value=e.as_str()>{e.as_str()}</option> }).collect_view()}
                            </select>
                        </label>
                        <label>"Owner e-mail" <input type="email" on:input=move |ev| owner.set(event_target_value(&ev))/></label>
                        <label>"Runbook URL" <input type="url" on:input=move |ev| runbook.set(event_target_value(&ev))/></label>
                    </div>
                    <Show when=move || kind.get() == AppType::Process>
                        <label>"Restart command (absolute path, then arguments; the agent must list it with --allow-command)"
                            <input placeholder="/usr/local/bin/restart-worker --graceful" on:input=move |ev| command.set(event_target_value(&ev))/>
                        </label>
                    </Show>
                    <label>"Notes" <textarea rows="2" on:input=move |ev| notes.set(event_target_value(&ev))></textarea></label>
                    {move || create.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.message()}</p> })}
                    <button type="submit" disabled=move || create.pending().get()>"Track"</button>
                </form>
            </div>
        </div>
    }
}

#[component]
fn AppDetail() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let restart = ServerAction::<RestartApp>::new();
    let remove = ServerAction::<DeleteApp>::new();
    let tick = RwSignal::new(0_u32);
    let app = Resource::new(
        move || (id(), restart.version().get(), tick.get()),
        |(id, _, _)| get_app(id),
    );
    let history = Resource::new(
        move || (id(), restart.version().get(), tick.get()),
        |(id, _, _)| list_actions(Some(id)),
    );
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        super::live::on_event("action_result", move |_| tick.update(|n| *n += 1));
        super::live::on_event("app_state", move |_| tick.update(|n| *n += 1));
    });
    // A restart sent and not yet answered: look again every second until it is.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let waiting = restart.value().get().and_then(Result::ok).is_some_and(|a| {
            matches!(
                a.state,
                crate::apps::ActionState::Pending | crate::apps::ActionState::Sent
            )
        });
        if waiting {
            set_timeout(
                move || tick.update(|n| *n += 1),
                std::time::Duration::from_secs(1),
            );
        }
    });
    let code = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let asking = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(_)) = remove.value().get() {
            #[cfg(feature = "hydrate")]
            let _ = window().location().set_href("/apps");
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the app…"</p> }>
            {move || Suspend::new(async move {
                match app.await {
                    Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                    Ok(a) => {
                        let app_id = a.id;
                        view! {
                            <section class="card" data-testid="app-detail">
                                <div class="section-head">
                                    <h1>{a.name.clone()}" "{state_badge(a.observed_state, a.mismatch)}</h1>
                                    <div class="actions">
                                        <button data-testid="restart" on:click=move |_| asking.set(true)>"Restart"</button>
                                        <button class="danger" on:click=move |_| { remove.dispatch(DeleteApp { id: app_id }); }>"Stop tracking"</button>
                                    </div>
                                </div>
                                <dl class="facts">
                                    <dt>"Host"</dt><dd>{a.host.clone()}</dd>
                                    <dt>"Type"</dt><dd>{a.app_type.as_str()}" "<code>{a.identifier.clone()}</code></dd>
                                    <dt>"Expected"</dt><dd>{a.expected_state.as_str()}</dd>
                                    <dt>"Observed"</dt><dd>{a.observed_state.as_str()}{(a.consecutive_mismatch > 0).then(|| format!(" (differs for {} checks)", a.consecutive_mismatch))}</dd>
                                    <dt>"Last change"</dt><dd>{a.last_state_change.clone().unwrap_or_else(|| "—".into())}</dd>
                                    <dt>"Owner"</dt><dd>{if a.owner_email.is_empty() { "—".to_owned() } else { a.owner_email.clone() }}</dd>
                                    <dt>"Runbook"</dt><dd>{if a.runbook_url.is_empty() { view! { "—" }.into_any() } else { view! { <a href=a.runbook_url.clone() rel="noopener noreferrer" target="_blank">{a.runbook_url.clone()}</a> }.into_any() }}</dd>
                                    <dt>"Restarts left this hour"</dt><dd data-testid="budget">{a.budget_left}</dd>
                                    {(!a.restart_command.is_empty()).then(|| view! { <dt>"Restart command"</dt><dd><code>{a.restart_command.join(" ")}</code></dd> })}
                                </dl>
                                {(!a.notes.is_empty()).then(|| view! { <p class="notes">{a.notes.clone()}</p> })}
                                <Show when=move || asking.get()>
                                    <form class="restart-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                                        ev.prevent_default();
                                        restart.dispatch(RestartApp { id: app_id, code: code.get_untracked(), reason: reason.get_untracked() });
                                        code.set(String::new());
                                    }>
                                        <p class="muted">"The restart is written to the audit log, signed, and run by the agent only if the log shows it."</p>
                                        <div class="inline-form">
                                            <label>"One-time code" <input inputmode="numeric" autocomplete="one-time-code" required maxlength="6" prop:value=move || code.get() on:input=move |ev| code.set(event_target_value(&ev))/></label>
                                            <label class="grow">"Reason" <input required minlength="3" maxlength="500" placeholder="why, for the log" on:input=move |ev| reason.set(event_target_value(&ev))/></label>
                                            <button type="submit" disabled=move || restart.pending().get()>"Restart now"</button>
                                        </div>
                                    </form>
                                </Show>
                                {move || restart.value().get().map(|r| match r {
                                    Ok(a) => {
                                        // The answer said pending or sent; the history knows how it ended.
                                        let state = history
                                            .get()
                                            .and_then(Result::ok)
                                            .and_then(|list| list.into_iter().find(|x| x.eat_id == a.eat_id))
                                            .map_or(a.state, |x| x.state);
                                        view! { <p class="notice" role="status" data-testid="restart-state">{format!("Restart {}: {}", a.eat_id.get(..8).unwrap_or_default(), state.as_str())}</p> }.into_any()
                                    }
                                    Err(e) => view! { <p class="error" role="alert">{e.message()}</p> }.into_any(),
                                })}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Transition>
        <section class="card">
            <h2>"Restarts"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match history.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No restarts yet."</p> }.into_any(),
                        Ok(list) => view! { <ol class="timeline" data-testid="actions">{list.into_iter().map(action_line).collect_view()}</ol> }.into_any(),
                        Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn action_line(a: Action) -> impl IntoView {
    let took = a
        .duration_ms
        .map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0))
        .unwrap_or_default();
    let exit = a
        .exit_code
        .map(|c| format!(", exit {c}"))
        .unwrap_or_default();
    let output = [a.stdout.trim(), a.stderr.trim(), a.error.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    view! {
        <li data-state=a.state.as_str()>
            // One flex item: the timeline's gap would otherwise part the state from its comma.
            <span><strong>{a.state.as_str()}</strong>{format!("{exit}{took} · {}: {}", a.requested_by, a.reason)}</span>
            <span class="muted">" · "{a.issued_at.clone()}" · log #"{a.log_index}{a.result_log_index.map(|i| format!(", #{i}"))}</span>
            {(!output.is_empty()).then(|| view! { <pre class="output">{output}</pre> })}
        </li>
    }
}
