//! `/settings`: the caller's one-time codes and API tokens.
use leptos::prelude::*;

use super::RequireUser;
use super::server_fns::*;

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <super::users::Account/> <TokensUnlessEnrolling/> }/> }
}

/// The tokens, once the caller may use the dashboard (not while an admin's policy makes
/// them enroll one-time codes first).
#[component]
fn TokensUnlessEnrolling() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| get_viewer());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let enrolling = viewer
                    .await
                    .ok()
                    .and_then(|v| v.user)
                    .is_some_and(|me| me.must_enroll_totp);
                (!enrolling).then(|| view! { <Tokens/> })
            })}
        </Suspense>
    }
}

#[component]
fn Tokens() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let delete = ServerAction::<DeleteToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), delete.version().get()),
        |_| list_tokens(),
    );
    view! {
        <section class="card">
            <h1>"API tokens"</h1>
            <p class="muted">"Automation signs in with a token: " <code>"Authorization: Bearer vtg_api_…"</code></p>
            <ActionForm action=create>
                <div class="inline-form">
                    <label>"Name" <input name="name" required maxlength="100" placeholder="e.g. backup-script"/></label>
                    <label>"Acts as"
                        <select name="role" aria-label="Acts as">
                            <option value="" selected>"my role"</option>
                            {crate::Role::ALL.iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
                        </select>
                    </label>
                    <button type="submit" disabled=move || create.pending().get()>"Create token"</button>
                </div>
            </ActionForm>
            {move || match create.value().get() {
                Some(Ok(created)) => view! { <NewToken token=created.token/> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e.message()}</p> }.into_any(),
                None => ().into_any(),
            }}
            {move || delete.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.message()}</p> })}
            <Transition fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted" id="no-tokens">"No tokens yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="tokens">
                                <thead><tr><th>"Name"</th><th>"Token"</th><th>"Role"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|t| view! {
                                        <tr>
                                            <td>{t.name}</td>
                                            <td><code>{t.masked}</code></td>
                                            <td>{if t.follows_user_role { format!("{} (mine)", t.role) } else { t.role.to_string() }}</td>
                                            <td>{t.created_at}</td>
                                            <td>{t.last_used_at.unwrap_or_else(|| "never".into())}</td>
                                            <td>
                                                <ActionForm action=delete>
                                                    <input type="hidden" name="id" value=t.id/>
                                                    <button type="submit" class="danger">"Revoke"</button>
                                                </ActionForm>
                                            </td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The freshly created token, shown once, with a copy button.
#[component]
fn NewToken(token: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let value = token.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let _ = window().navigator().clipboard().write_text(&value);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &value;
        copied.set(true);
    };
    view! {
        <div class="new-token" role="status">
            <p>"Copy this token now: it will not be shown again."</p>
            <div class="inline-form">
                <code id="new-token">{token}</code>
                <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
            </div>
        </div>
    }
}
