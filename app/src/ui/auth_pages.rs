//! First-run setup and login.
use leptos::prelude::*;
use leptos_router::components::Redirect;

use super::server_fns::*;

/// Shows the error of the last submission, if any.
fn error_line<T: 'static>(
    value: impl Fn() -> Option<Result<T, crate::ApiError>> + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        match value() {
        // The API's sentence names the field; a person is asked for the code.
        Some(Err(e)) if e.code() == "totp_required" => Some(view! {
            <p class="notice" role="alert">"Enter the one-time code from your authenticator app, or a recovery code."</p>
        }.into_any()),
        Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.message()}</p> }.into_any()),
        _ => None,
    }
    }
}

/// Create-admin page, shown while no account exists.
#[component]
pub fn SetupPage() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| get_viewer());
    let action = ServerAction::<SetupAdmin>::new();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(v) if !v.needs_setup => view! { <Redirect path="/login"/> }.into_any(),
                    _ => {
                        super::mark_hydrated();
                        view! {
                        <main class="narrow card">
                            <h1>"Welcome to Vantage"</h1>
                            <p class="muted">"Create the administrator account. You will sign in with it next."</p>
                            <ActionForm action=action>
                                <label>"Username" <input name="username" autocomplete="username" required maxlength="64"/></label>
                                <label>"Password" <input name="password" type="password" autocomplete="new-password" required minlength="8"/></label>
                                <button type="submit" disabled=move || action.pending().get()>"Create admin"</button>
                            </ActionForm>
                            {error_line(move || action.value().get())}
                        </main>
                    }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// Sign-in page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| get_viewer());
    let action = ServerAction::<Login>::new();
    // The code field appears once the server says this account signs in with one.
    let needs_code = move || {
        action.value().with(
            |v| matches!(v, Some(Err(e)) if matches!(e.code(), "totp_required" | "invalid_totp")),
        )
    };
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(v) if v.needs_setup => view! { <Redirect path="/setup"/> }.into_any(),
                    Ok(v) if v.user.is_some() => view! { <Redirect path="/"/> }.into_any(),
                    _ => {
                        super::mark_hydrated();
                        view! {
                        <main class="narrow card">
                            <h1>"Sign in to Vantage"</h1>
                            <ActionForm action=action>
                                <label>"Username" <input name="username" autocomplete="username" required/></label>
                                <label>"Password" <input name="password" type="password" autocomplete="current-password" required/></label>
                                <Show when=needs_code>
                                    <label>"One-time code"
                                        <input name="totp_code" inputmode="numeric" autocomplete="one-time-code" required autofocus
                                            placeholder="123456 or a recovery code" data-testid="totp-code"/>
                                    </label>
                                </Show>
                                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
                            </ActionForm>
                            {error_line(move || action.value().get())}
                        </main>
                    }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
