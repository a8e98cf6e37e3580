//! `/agents`: every agent with its live status, label and tag editing, revoke and delete; the
//! enrollment tokens with the agents each enrolled; and the "Generate enrollment token" dialog
//! (one host or a fleet) with one tab per install snippet and the state of the agent builds.
use leptos::prelude::*;

use super::RequireUser;
use super::format;
use super::server_fns::*;
use crate::{
    AgentBuildInfo, AgentInfo, AgentStatus, BuildState, ConnectionState, CreatedEnrollmentToken,
    EnrollmentTokenInfo, TokenState,
};

#[component]
pub fn AgentsPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Agents/> }/> }
}

#[component]
fn Agents() -> impl IntoView {
    let update = ServerAction::<UpdateAgent>::new();
    let revoke = ServerAction::<RevokeAgent>::new();
    let delete = ServerAction::<DeleteAgent>::new();
    let live_status = RwSignal::new(0_u32);
    let agents = Resource::new(
        move || {
            (
                update.version().get(),
                revoke.version().get(),
                delete.version().get(),
                live_status.get(),
            )
        },
        |_| list_agents(),
    );
    let dialog_open = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        super::live::on_event("agent_status", move |_| live_status.update(|n| *n += 1))
    });
    let errors = action_errors(update, revoke, delete);
    view! {
        <section class="card">
            <div class="section-head">
                <h1>"Agents"</h1>
                <button on:click=move |_| dialog_open.set(true)>"Generate enrollment token"</button>
            </div>
            {errors}
            <Transition fallback=|| view! { <p class="muted">"Loading agents…"</p> }>
                {move || Suspend::new(async move {
                    match agents.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted" id="no-agents">"No agents yet. Generate an enrollment token and run its snippet on a host."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="agent-list">
                                {list.into_iter().map(|a| view! { <AgentRow agent=a update revoke delete/> }).collect_view()}
                            </div>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <EnrollmentTokens refresh=dialog_open agents_changed=live_status/>
        <Show when=move || dialog_open.get()>
            <EnrollmentDialog close=move || dialog_open.set(false)/>
        </Show>
    }
}

/// The enrollment tokens: uses, state, the agents each enrolled, and deletion.
#[component]
fn EnrollmentTokens(refresh: RwSignal<bool>, agents_changed: RwSignal<u32>) -> impl IntoView {
    let delete = ServerAction::<DeleteEnrollmentToken>::new();
    // An agent that enrolls (or goes) changes a token's uses and agents.
    let tokens = Resource::new(
        move || (refresh.get(), delete.version().get(), agents_changed.get()),
        |_| list_enrollment_tokens(),
    );
    view! {
        <section class="card" id="enrollment-tokens">
            <h2>"Enrollment tokens"</h2>
            {move || delete.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.message()}</p> })}
            <Transition fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No enrollment tokens."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="enrollment-tokens">
                                <thead><tr><th>"Token"</th><th>"State"</th><th>"Uses"</th><th>"Expires"</th><th>"Enrolled"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|t| view! { <TokenRow token=t delete/> }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TokenRow(
    token: EnrollmentTokenInfo,
    delete: ServerAction<DeleteEnrollmentToken>,
) -> impl IntoView {
    let badge = match token.state {
        TokenState::Active => "badge ok",
        TokenState::Used => "badge",
        TokenState::Expired => "badge warn",
    };
    let uses = match token.max_uses {
        Some(max) => format!("{} of {max}", token.uses),
        None => format!("{} (fleet, no limit)", token.uses),
    };
    let id = token.id;
    view! {
        <tr data-token-id=id.to_string()>
            <td><code>{token.masked.clone()}</code></td>
            <td><span class=badge>{token.state.to_string()}</span></td>
            <td data-testid="token-uses">{uses}</td>
            <td>{token.expires_at.clone()}</td>
            <td>{if token.agents.is_empty() {
                view! { <span class="muted">"none"</span> }.into_any()
            } else {
                token.agents.iter().map(|a| view! { <span class="tag" title=a.agent_id.clone()>{a.label.clone()}</span> }).collect_view().into_any()
            }}</td>
            <td><button class="danger" title="It enrolls no one from now on; enrolled agents stay"
                on:click=move |_| { delete.dispatch(DeleteEnrollmentToken { id }); }>"Delete"</button></td>
        </tr>
    }
}

/// One line per agent download: what the snippets fetch, and whether it is there.
fn builds_view(builds: Vec<AgentBuildInfo>) -> impl IntoView {
    let line = |b: &AgentBuildInfo| {
        let (class, text) = match b.state {
            BuildState::Ready => ("badge ok", "ready"),
            BuildState::Building => ("badge warn", "still building"),
            BuildState::Missing => ("badge crit", "missing"),
        };
        view! { <li data-build=b.target.clone()><span class=class>{text}</span>" "{b.target.clone()}</li> }
    };
    view! { <ul class="builds" aria-label="Agent downloads">{builds.iter().map(line).collect_view()}</ul> }
}

/// The refusals of the last label/tags update, revoke and delete, a line each.
fn action_errors(
    update: ServerAction<UpdateAgent>,
    revoke: ServerAction<RevokeAgent>,
    delete: ServerAction<DeleteAgent>,
) -> impl IntoView {
    move || {
        super::error_lines([
            update.value().get().and_then(Result::err),
            revoke.value().get().and_then(Result::err),
            delete.value().get().and_then(Result::err),
        ])
    }
}

/// On a host's page: its agent's facts and actions (label, tags, revoke, delete). After a
/// delete the page goes back to the overview.
#[component]
pub(super) fn HostAgent(agent_id: String) -> impl IntoView {
    let update = ServerAction::<UpdateAgent>::new();
    let revoke = ServerAction::<RevokeAgent>::new();
    let delete = ServerAction::<DeleteAgent>::new();
    let live_status = RwSignal::new(0_u32);
    let agents = Resource::new(
        move || {
            (
                update.version().get(),
                revoke.version().get(),
                live_status.get(),
            )
        },
        |_| list_agents(),
    );
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        super::live::on_event("agent_status", move |_| live_status.update(|n| *n += 1))
    });
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/", Default::default());
        }
    });
    let errors = action_errors(update, revoke, delete);
    view! {
        <section class="card host-agent">
            <h2>"Agent"</h2>
            {errors}
            <Transition fallback=|| view! { <p class="muted">"Loading the agent…"</p> }>
                {move || {
                    let agent_id = agent_id.clone();
                    Suspend::new(async move {
                        match agents.await {
                            Ok(list) => list.into_iter().find(|a| a.id == agent_id).map(|agent| view! {
                                <AgentRow agent update revoke delete/>
                            }.into_any()).unwrap_or_else(|| view! {
                                <p class="muted">"This agent is not enrolled (any more)."</p>
                            }.into_any()),
                            Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn AgentRow(
    agent: AgentInfo,
    update: ServerAction<UpdateAgent>,
    revoke: ServerAction<RevokeAgent>,
    delete: ServerAction<DeleteAgent>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let (badge, badge_text) = match (agent.status, agent.connection_state) {
        (AgentStatus::Revoked, _) => ("badge crit", "revoked"),
        (_, ConnectionState::Connected) => ("badge ok", "connected"),
        (_, ConnectionState::Disconnected) => ("badge warn", "disconnected"),
    };
    let id = agent.id.clone();
    let (id_revoke, id_delete, id_form) = (id.clone(), id.clone(), id.clone());
    let revoked = agent.status == AgentStatus::Revoked;
    view! {
        <article class="agent" data-agent-id=id>
            <header>
                <strong class="agent-label">{agent.label.clone()}</strong>
                <span class=badge data-testid="agent-status">{badge_text}</span>
                <span class="muted">{format!("{} · {} {} · v{}", agent.hostname, agent.os, agent.arch, agent.agent_version)}</span>
                <span class="muted">{format!("runtime {}", agent.runtime)}</span>
                <span class="muted" data-testid="last-seen" title=agent.last_seen.clone().unwrap_or_default()>{agent.last_seen.as_deref().map(|t| match crate::millis_from_rfc3339(t) {
                    Some(ms) => format!("last seen {}", format::ago((format::now_ms() - ms) / 1000)),
                    None => format!("last seen {t}"),
                }).unwrap_or_else(|| "never seen".into())}</span>
                {(agent.dropped_events > 0).then(|| view! {
                    <span class="warning" title="Events the agent's spool dropped because it was full or too old">
                        {format!("{} events dropped", agent.dropped_events)}
                    </span>
                })}
            </header>
            <ActionForm action=update>
                <div class="inline-form">
                    <input type="hidden" name="agent_id" value=id_form/>
                    <label>"Label" <input name="label" value=agent.label.clone() required maxlength=crate::text::LABEL_MAX/></label>
                    <label>"Tags" <input name="tags" value=agent.tags.join(", ") placeholder="prod, db"/></label>
                    <button type="submit">"Save"</button>
                </div>
            </ActionForm>
            <div class="actions">
                <Show when=move || !revoked>
                    <button class="danger" on:click={
                        let id = id_revoke.clone();
                        move |_| { revoke.dispatch(RevokeAgent { agent_id: id.clone() }); }
                    }>"Revoke"</button>
                </Show>
                <Show
                    when=move || confirming.get()
                    fallback=move || view! { <button class="danger" on:click=move |_| confirming.set(true)>"Delete"</button> }
                >
                    <span class="confirm">
                        "Delete this agent and all its data?"
                        <button class="danger" on:click={
                            let id = id_delete.clone();
                            move |_| { delete.dispatch(DeleteAgent { agent_id: id.clone() }); }
                        }>"Delete for good"</button>
                        <button class="link" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </span>
                </Show>
            </div>
        </article>
    }
}

const TABS: [(&str, &str); 4] = [
    ("standalone", "Standalone"),
    ("docker_run", "Docker run"),
    ("docker_compose", "Compose"),
    ("kubernetes", "Kubernetes"),
];

fn snippet(created: &CreatedEnrollmentToken, tab: &str) -> String {
    let t = &created.install_templates;
    match tab {
        "docker_run" => t.docker_run.clone(),
        "docker_compose" => t.docker_compose.clone(),
        "kubernetes" => t.kubernetes.clone(),
        _ => t.standalone.clone(),
    }
}

#[component]
fn EnrollmentDialog(close: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let create = ServerAction::<CreateEnrollment>::new();
    let builds = Resource::new(|| (), |_| agent_builds());
    let fleet = RwSignal::new(false);
    let tab = RwSignal::new("standalone");
    let copied = RwSignal::new(false);
    let close_button = close.clone();
    view! {
        <div class="modal-backdrop">
            <div class="modal card" role="dialog" aria-modal="true" aria-labelledby="enroll-title">
                <div class="section-head">
                    <h2 id="enroll-title">"Enroll a host"</h2>
                    <button class="link" on:click=move |_| close_button()>"Close"</button>
                </div>
                {move || match create.value().get() {
                    None => view! {
                        <ActionForm action=create>
                            <fieldset class="choice">
                                <legend>"Enrolls"</legend>
                                <label><input type="radio" name="hosts" value="single" checked on:change=move |_| fleet.set(false)/>"A single host (the token works once)"</label>
                                <label><input type="radio" name="hosts" value="fleet" on:change=move |_| fleet.set(true)/>"A fleet: DaemonSet, autoscaling group, golden image"</label>
                            </fieldset>
                            <div class="inline-form">
                                <label>"Valid for (hours)" <input name="ttl_hours" type="number" min=*crate::text::ENROLLMENT_TTL_HOURS.start() max=*crate::text::ENROLLMENT_TTL_HOURS.end() value="24" required/></label>
                                <label class:hidden=move || !fleet.get()>"Hosts (empty: no limit)" <input name="fleet_uses" type="number" min=*crate::text::ENROLLMENT_MAX_USES.start() max=*crate::text::ENROLLMENT_MAX_USES.end() placeholder="unlimited"/></label>
                                <button type="submit" disabled=move || create.pending().get()>"Generate"</button>
                            </div>
                            <Transition fallback=|| ()>
                                {move || Suspend::new(async move {
                                    builds.await.ok().map(|b| {
                                        let short = b.iter().filter(|b| b.state != BuildState::Ready).count();
                                        view! {
                                            {(short > 0).then(|| view! { <p class="warning" role="alert">"Some downloads the snippets fetch are not there yet: the snippets for them fail until they are."</p> })}
                                            {builds_view(b)}
                                        }
                                    })
                                })}
                            </Transition>
                        </ActionForm>
                    }.into_any(),
                    Some(Err(e)) => view! { <p class="error" role="alert">{e.message()}</p> }.into_any(),
                    Some(Ok(created)) => {
                        let warnings = created.warnings.clone();
                        let built = builds_view(created.builds.clone());
                        let image_load = created.install_templates.image_load.clone();
                        let for_tab = created.clone();
                        let for_copy = created.clone();
                        view! {
                            {warnings.into_iter().map(|w| view! { <p class="warning" role="alert">{w}</p> }).collect_view()}
                            <div class="tabs" role="tablist">
                                {TABS.iter().map(|(key, name)| {
                                    let key = *key;
                                    view! {
                                        <button role="tab" class:active=move || tab.get() == key aria-selected=move || (tab.get() == key).to_string()
                                            on:click=move |_| { tab.set(key); copied.set(false); }>{*name}</button>
                                    }
                                }).collect_view()}
                            </div>
                            {built}
                            {image_load.map(|load| view! {
                                <Show when=move || tab.get() == "docker_compose">
                                    <p class="muted">"First load the image on the host (the Docker run snippet starts with this), then save the YAML below as docker-compose.yml and run docker-compose up -d:"</p>
                                    <pre class="snippet" data-testid="image-load">{load.clone()}</pre>
                                </Show>
                            })}
                            <pre class="snippet" data-testid="snippet">{move || snippet(&for_tab, tab.get())}</pre>
                            <button on:click=move |_| {
                                let text = snippet(&for_copy, tab.get_untracked());
                                #[cfg(feature = "hydrate")]
                                {
                                    let _ = window().navigator().clipboard().write_text(&text);
                                }
                                #[cfg(not(feature = "hydrate"))]
                                let _ = text;
                                copied.set(true);
                            }>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
                            <p class="muted">{format!("Token {} ({}) expires {}.", created.info.masked,
                                match created.info.max_uses { Some(1) => "one host".to_owned(), Some(n) => format!("up to {n} hosts"), None => "any number of hosts".to_owned() },
                                created.info.expires_at)}</p>
                        }.into_any()
                    }
                }}
            </div>
        </div>
    }
}
