//! The dashboard's pages.
mod agents;
mod alerts;
mod auth_pages;
mod certificates;
mod chart;
mod containers;
mod dashboard;
mod fleet;
mod format;
mod live;
mod server_fns;
mod settings;
mod table;

use leptos::hydration::{AutoReload, HydrationScripts};
use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{A, Redirect, Route, Router, Routes};
use leptos_router::{SsrMode, path};

pub use server_fns::*;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="stylesheet" href="/style.css"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The routes of the dashboard. Pages wait for their data on the server (async SSR) so that
/// redirects to setup or login are real HTTP redirects.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Vantage"/>
        <Router>
            <Routes fallback=|| view! { <main class="narrow"><h1>"Page not found"</h1><p><a href="/">"Back to the dashboard"</a></p></main> }>
                <Route path=path!("/") view=fleet::HomePage ssr=SsrMode::Async/>
                <Route path=path!("/hosts/:id") view=dashboard::HostPage ssr=SsrMode::Async/>
                <Route path=path!("/containers") view=containers::ContainersPage ssr=SsrMode::Async/>
                <Route path=path!("/certificates") view=certificates::CertificatesPage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=auth_pages::LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/setup") view=auth_pages::SetupPage ssr=SsrMode::Async/>
                <Route path=path!("/agents") view=agents::AgentsPage ssr=SsrMode::Async/>
                <Route path=path!("/settings") view=settings::SettingsPage ssr=SsrMode::Async/>
                <Route path=path!("/alerts") view=alerts::AlertsPage ssr=SsrMode::Async/>
                <Route path=path!("/alerts/rules") view=alerts::RulesPage ssr=SsrMode::Async/>
                <Route path=path!("/alerts/channels") view=alerts::ChannelsPage ssr=SsrMode::Async/>
                <Route path=path!("/alerts/silences") view=alerts::SilencesPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}

/// Renders `signed_in` with the viewer when someone is signed in; otherwise redirects to
/// setup (no account yet) or login.
#[component]
fn RequireUser<F, V>(signed_in: F) -> impl IntoView
where
    F: Fn(crate::Me) -> V + Send + Sync + Clone + 'static,
    V: IntoView + 'static,
{
    let viewer = Resource::new(|| (), |_| get_viewer());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let signed_in = signed_in.clone();
                Suspend::new(async move {
                    match viewer.await {
                        Ok(Viewer { needs_setup: true, .. }) => view! { <Redirect path="/setup"/> }.into_any(),
                        Ok(Viewer { user: Some(me), .. }) => view! { <Frame me=me.clone()>{signed_in(me)}</Frame> }.into_any(),
                        Ok(Viewer { user: None, .. }) => view! { <Redirect path="/login"/> }.into_any(),
                        Err(e) => view! { <main class="narrow"><p class="error">{e.message()}</p></main> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// Marks the page as interactive once the calling component has hydrated, for people
/// debugging and for the browser tests. Called inside the pages' suspended content (the
/// frame of a signed-in page, the sign-in and setup forms), not by the app around them:
/// that hydrates before the content its suspense waits for.
fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

/// Header with navigation and sign-out around a signed-in page.
#[component]
fn Frame(me: crate::Me, children: Children) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    mark_hydrated();
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Vantage"</a>
            <nav>
                <A href="/">"Dashboard"</A>
                <A href="/containers">"Containers"</A>
                <A href="/certificates">"Certificates"</A>
                <A href="/agents">"Agents"</A>
                <alerts::AlertsNavLink/>
                <A href="/settings">"Settings"</A>
            </nav>
            <ActionForm action=logout>
                <span class="muted user">{me.username}</span>
                <button type="submit" class="link">"Sign out"</button>
            </ActionForm>
        </header>
        <main>{children()}</main>
    }
}
