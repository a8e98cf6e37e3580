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
use leptos_router::path;

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
                <Route path=path!("/") view=fleet::HomePage/>
                <Route path=path!("/hosts/:id") view=dashboard::HostPage/>
                <Route path=path!("/containers") view=containers::ContainersPage/>
                <Route path=path!("/certificates") view=certificates::CertificatesPage/>
                <Route path=path!("/login") view=auth_pages::LoginPage/>
                <Route path=path!("/setup") view=auth_pages::SetupPage/>
                <Route path=path!("/agents") view=agents::AgentsPage/>
                <Route path=path!("/settings") view=settings::SettingsPage/>
                <Route path=path!("/alerts") view=alerts::AlertsPage/>
                <Route path=path!("/alerts/rules") view=alerts::RulesPage/>
                <Route path=path!("/alerts/channels") view=alerts::ChannelsPage/>
                <Route path=path!("/alerts/silences") view=alerts::SilencesPage/>
            </Routes>
        </Router>
    }
}

/// Renders `signed_in` with the viewer when someone is signed in; otherwise redirects to
/// setup (no account yet) or login.
#[component]
fn RequireUser<F, V>(signed_in: F) -> impl IntoView
where
    F: FnOnce() -> V + 'static,
    V: IntoView + 'static,
{
    let viewer = Resource::new(|| (), |_| get_viewer());
    // The page is built once, here, and reads its own resources in its own suspense: built
    // inside the suspense below, it was built again on each pass the suspense makes over its
    // children on the server, every resource read and sent two or three times, and a copy
    // that failed could leave the browser hydrating another copy's data (a hydration panic).
    // The server sends a visitor who is not signed in to the sign-in page before any page
    // renders (`http::ui::signed_in_pages`); this check is for navigation in the browser.
    let page = signed_in();
    view! {
        <Suspense>
            {move || viewer.get().map(|viewer| match viewer {
                Ok(Viewer { needs_setup: true, .. }) => view! { <Redirect path="/setup"/> }.into_any(),
                Ok(Viewer { user: None, .. }) => view! { <Redirect path="/login"/> }.into_any(),
                Ok(Viewer { user: Some(_), .. }) => {
                    mark_hydrated();
                    ().into_any()
                }
                Err(e) => view! { <p class="error">{e.message()}</p> }.into_any(),
            })}
        </Suspense>
        <Frame viewer>{page}</Frame>
    }
}

/// Marks the page as interactive once the calling component has hydrated, for people
/// debugging and for the browser tests. Called inside suspended content (once a signed-in
/// page's viewer is known, the sign-in and setup forms), not by the app around them: that
/// hydrates before the content its suspense waits for.
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
fn Frame(viewer: Resource<Result<Viewer, crate::ApiError>>, children: Children) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let username = move || {
        viewer
            .get()
            .and_then(Result::ok)
            .and_then(|v| v.user)
            .map(|me| me.username)
    };
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
                <span class="muted user"><Suspense>{username}</Suspense></span>
                <button type="submit" class="link">"Sign out"</button>
            </ActionForm>
        </header>
        <main>{children()}</main>
    }
}
