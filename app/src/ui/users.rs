//! `/users` (admins): accounts with their roles, creating, disabling and enabling them, and
//! the sign-in policy; and, on Settings, each user's own one-time codes (`Account`).
use leptos::prelude::*;

use super::RequireUser;
use super::server_fns::*;
use crate::Role;
use crate::users::UserInfo;

#[component]
pub fn UsersPage() -> impl IntoView {
    view! { <RequireUser signed_in=|| view! { <Users/> }/> }
}

#[component]
fn Users() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let policy = ServerAction::<SetSignInPolicy>::new();
    let users = Resource::new(
        move || (add.version().get(), update.version().get()),
        |_| list_users(),
    );
    let account = Resource::new(move || policy.version().get(), |_| my_account());
    // A user added: the form is empty again for the next one.
    let add_form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(form)) = (add.value().get(), add_form.get()) {
            form.reset();
        }
    });
    let errors = move || {
        super::error_lines([
            add.value().get().and_then(Result::err),
            update.value().get().and_then(Result::err),
            policy.value().get().and_then(Result::err),
        ])
    };
    view! {
        <section class="card">
            <h1>"Users"</h1>
            <p class="muted">
                "Viewers read everything and change nothing. Operators also track and restart apps, acknowledge alerts and edit rules and silences. Admins also manage users, agents, enrollment tokens and notification channels."
            </p>
            {errors}
            <ActionForm action=add node_ref=add_form>
                <div class="inline-form">
                    <label>"Username" <input name="username" required maxlength="64" autocomplete="off"/></label>
                    <label>"Password" <input name="password" type="password" required minlength="12" autocomplete="new-password"/></label>
                    <label>"Role"
                        <select name="role" aria-label="Role">
                            {Role::ALL.iter().map(|r| view! { <option value=r.as_str() selected=*r == Role::Viewer>{r.as_str()}</option> }).collect_view()}
                        </select>
                    </label>
                    <button type="submit" disabled=move || add.pending().get()>"Add user"</button>
                </div>
            </ActionForm>
            <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! {
                            <table class="users" data-testid="users">
                                <thead><tr><th>"User"</th><th>"Role"</th><th>"One-time codes"</th><th class="col-since">"Since"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|u| view! { <UserRow user=u update/> }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card">
            <h2>"Sign-in policy"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    account.await.map(|(_, p)| {
                        let require = p.require_totp;
                        view! {
                            <p>{if require {
                                "Every account signs in with a one-time code; one without codes set up must enroll them first."
                            } else {
                                "One-time codes at sign-in are each user's choice."
                            }}</p>
                            <button type="button" data-testid="require-totp"
                                on:click=move |_| { policy.dispatch(SetSignInPolicy { require_totp: !require }); }>
                                {if require { "Stop requiring one-time codes" } else { "Require one-time codes for everyone" }}
                            </button>
                        }
                    }).map_err(|e| e.message())
                })}
            </Transition>
        </section>
    }
}

#[component]
fn UserRow(user: UserInfo, update: ServerAction<UpdateUser>) -> impl IntoView {
    let id = user.id;
    let disabled = user.disabled;
    let patch = move |role: Option<Role>, disabled: Option<bool>| {
        update.dispatch(UpdateUser {
            id,
            patch: crate::users::UserPatch { role, disabled },
        });
    };
    view! {
        <tr data-user=user.username.clone() class:disabled=disabled>
            <td>{user.username.clone()}{disabled.then(|| view! { " " <span class="badge">"disabled"</span> })}</td>
            <td>
                <select aria-label=format!("Role of {}", user.username) on:change=move |ev| {
                    if let Ok(role) = event_target_value(&ev).parse::<Role>() {
                        patch(Some(role), None);
                    }
                }>
                    {Role::ALL.iter().map(|r| view! { <option value=r.as_str() selected=*r == user.role>{r.as_str()}</option> }).collect_view()}
                </select>
            </td>
            <td>{match (user.totp_enabled, user.totp_at_sign_in) {
                (false, _) => "not set up",
                (true, false) => "set up",
                (true, true) => "set up, at sign-in",
            }}</td>
            <td class="col-since">{user.created_at.get(..10).unwrap_or_default().to_owned()}</td>
            <td>
                <button type="button" class="danger" on:click=move |_| patch(None, Some(!disabled))>
                    {if disabled { "Enable" } else { "Disable" }}
                </button>
            </td>
        </tr>
    }
}

/// On Settings: the caller's one-time codes (set up with a QR code, confirmed with a code,
/// recovery codes shown once), asking for one at every sign-in, and turning them off.
#[component]
pub fn Account() -> impl IntoView {
    let begin = ServerAction::<BeginTotp>::new();
    let confirm = ServerAction::<ConfirmTotp>::new();
    let at_sign_in = ServerAction::<SetTotpAtSignIn>::new();
    let disable = ServerAction::<DisableTotp>::new();
    let account = Resource::new(
        move || {
            (
                confirm.version().get(),
                at_sign_in.version().get(),
                disable.version().get(),
            )
        },
        |_| my_account(),
    );
    let errors = move || {
        super::error_lines([
            begin.value().get().and_then(Result::err),
            confirm.value().get().and_then(Result::err),
            at_sign_in.value().get().and_then(Result::err),
            disable.value().get().and_then(Result::err),
        ])
    };
    view! {
        <section class="card" id="totp">
            <h1>"One-time codes"</h1>
            {errors}
            {move || confirm.value().get().and_then(Result::ok).map(|r| view! {
                <div class="new-token" role="status">
                    <p>"One-time codes are on. Keep these recovery codes somewhere safe: each signs in once if the phone is lost, and they will not be shown again."</p>
                    <ul class="recovery-codes" data-testid="recovery-codes">
                        {r.recovery_codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                    </ul>
                </div>
            })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match account.await {
                        Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
                        Ok((me, policy)) if !me.totp_enabled => view! {
                            {policy.require_totp.then(|| view! {
                                <p class="warning" role="alert">"An admin requires one-time codes for every account: set them up to use the dashboard."</p>
                            })}
                            <p class="muted">"Sign-in and restarts can ask for a six-digit code from an authenticator app (any TOTP app)."</p>
                            <button type="button" data-testid="begin-totp" on:click=move |_| { begin.dispatch(BeginTotp {}); }
                                disabled=move || begin.pending().get()>"Set up one-time codes"</button>
                            {move || begin.value().get().and_then(Result::ok).map(|e| view! {
                                <div class="totp-enroll">
                                    <div class="qr" inner_html=e.qr_svg></div>
                                    <div>
                                        <p>"Scan the code with the app, or type the key:"</p>
                                        <p><code data-testid="totp-secret">{e.secret}</code></p>
                                        <ActionForm action=confirm>
                                            <div class="inline-form">
                                                <label>"Code from the app" <input name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="6"/></label>
                                                <button type="submit" disabled=move || confirm.pending().get()>"Confirm"</button>
                                            </div>
                                        </ActionForm>
                                    </div>
                                </div>
                            })}
                        }.into_any(),
                        Ok((me, policy)) => {
                            let on = me.totp_at_sign_in || policy.require_totp;
                            view! {
                                <p data-testid="totp-on">{if on {
                                    "One-time codes are on, and signing in asks for one."
                                } else {
                                    "One-time codes are on (for restarts); signing in does not ask for one."
                                }}</p>
                                {(!policy.require_totp).then(|| view! {
                                    <p>
                                        <button type="button" data-testid="totp-at-sign-in"
                                            on:click=move |_| { at_sign_in.dispatch(SetTotpAtSignIn { on: !on }); }>
                                            {if on { "Stop asking at sign-in" } else { "Ask for a code at every sign-in" }}
                                        </button>
                                    </p>
                                })}
                                <ActionForm action=disable>
                                    <div class="inline-form">
                                        <label>"Turn off with a code or a recovery code" <input name="code" required maxlength="64" autocomplete="off"/></label>
                                        <button type="submit" class="danger">"Turn off"</button>
                                    </div>
                                </ActionForm>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}
