//! `/audit`: the audit log, newest first and paged, with the transparency log's signed head
//! (its size, root and origin) and how to check it offline.
use leptos::prelude::*;

use super::RequireUser;
use super::server_fns::*;

#[component]
pub fn AuditPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Audit/> }/> }
}

/// Entries per page.
const PAGE: u32 = 100;

#[component]
fn Audit() -> impl IntoView {
    // The index the page starts before (None: the newest).
    let before = RwSignal::new(None::<u64>);
    let entries = Resource::new(move || before.get(), |before| audit_entries(before, PAGE));
    let head = Resource::new(|| (), |_| audit_checkpoint());
    view! {
        <section class="card">
            <h1>"Audit log"</h1>
            <Transition fallback=|| view! { <p class="muted">"Reading the signed head…"</p> }>
                {move || Suspend::new(async move {
                    match head.await {
                        Ok(h) => view! {
                            <div class="checkpoint" data-testid="checkpoint">
                                <p>
                                    <span class="badge ok">"signed"</span>
                                    {format!(" {} entries · root {} · ", h.size, h.root)}
                                    <code>{h.origin.clone()}</code>
                                </p>
                                <p class="muted">
                                    "Every entry is a leaf of an RFC 6962 tree whose heads the server signs (C2SP checkpoints, Ed25519). Save this head and check the log offline at any time: "
                                    <code>"vantage verify-log --checkpoint head.json"</code>
                                </p>
                                <details>
                                    <summary>"The signed note and key"</summary>
                                    <pre class="output">{h.note.clone()}</pre>
                                    <p>"Public key: "<code>{h.public_key.clone()}</code></p>
                                </details>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card">
            <Transition fallback=|| view! { <p class="muted">"Loading entries…"</p> }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Ok(list) => {
                            let oldest = list.last().map(|e| e.index);
                            let full = list.len() as u32 == PAGE;
                            view! {
                                <table class="audit" data-testid="audit">
                                    <thead><tr><th>"#"</th><th class="col-when">"When"</th><th>"Who"</th><th>"What"</th><th>"On"</th><th class="col-detail">"Detail"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|e| {
                                            let action = e.action.clone();
                                            view! {
                                            <tr data-action=action>
                                                <td>{e.index}</td>
                                                <td class="muted col-when">{e.time}</td>
                                                <td>{e.actor}</td>
                                                <td><code>{e.action}</code></td>
                                                <td class="wrap">{e.subject}</td>
                                                <td class="wrap col-detail">{e.detail}</td>
                                            </tr>
                                        }}).collect_view()}
                                    </tbody>
                                </table>
                                <div class="inline-form">
                                    <button type="button" class="link" disabled=move || before.get().is_none()
                                        on:click=move |_| before.set(None)>"Newest"</button>
                                    {(full && oldest.is_some_and(|i| i > 0)).then(|| view! {
                                        <button type="button" class="link" on:click=move |_| before.set(oldest)>"Older"</button>
                                    })}
                                </div>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
