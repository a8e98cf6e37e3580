//! The dashboard's pages.
mod agents;
mod alerts;
mod apps;
mod audit;
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
mod users;

use leptos::hydration::{AutoReload, HydrationScripts};
use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{A, FlatRoutes, Redirect, Route, Router};
use leptos_router::{Lazy, path};

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

/// The routes of the dashboard. The fleet overview and signing in are in the bundle's main
/// module; a host's page is a chunk of its own (`host_page`) and the other pages share one
/// (`secondary_page`), each loaded the first time one of its pages is shown. The server
/// renders every page whole; pages stream their data out of order as it is read.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Vantage"/>
        <Router>
            <FlatRoutes fallback=|| view! { <main class="narrow"><h1>"Page not found"</h1><p><a href="/">"Back to the dashboard"</a></p></main> }>
                <Route path=path!("/") view=fleet::HomePage/>
                <Route path=path!("/hosts/:id") view={Lazy::<HostRoute>::new()}/>
                <Route path=path!("/login") view=auth_pages::LoginPage/>
                <Route path=path!("/setup") view=auth_pages::SetupPage/>
                <Route path=path!("/containers") view={Lazy::<ContainersRoute>::new()}/>
                <Route path=path!("/certificates") view={Lazy::<CertificatesRoute>::new()}/>
                <Route path=path!("/agents") view={Lazy::<AgentsRoute>::new()}/>
                <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()}/>
                <Route path=path!("/users") view={Lazy::<UsersRoute>::new()}/>
                <Route path=path!("/apps") view={Lazy::<AppsRoute>::new()}/>
                <Route path=path!("/apps/:id") view={Lazy::<AppRoute>::new()}/>
                <Route path=path!("/audit") view={Lazy::<AuditRoute>::new()}/>
                <Route path=path!("/alerts") view={Lazy::<AlertsRoute>::new()}/>
                <Route path=path!("/alerts/rules") view={Lazy::<RulesRoute>::new()}/>
                <Route path=path!("/alerts/channels") view={Lazy::<ChannelsRoute>::new()}/>
                <Route path=path!("/alerts/silences") view={Lazy::<SilencesRoute>::new()}/>
            </FlatRoutes>
        </Router>
    }
}

/// The pages outside the bundle's main module.
#[derive(Debug, Clone, Copy)]
enum Secondary {
    Containers,
    Certificates,
    Agents,
    Settings,
    Users,
    Apps,
    App,
    Audit,
    Alerts,
    Rules,
    Channels,
    Silences,
}

/// A split point of the bundle: what only a host's page uses is in its chunk.
#[leptos::lazy]
fn host_page() -> AnyView {
    dashboard::HostPage().into_any()
}

/// A split point of the bundle: what only these pages use is in their chunk.
#[leptos::lazy]
fn secondary_page(page: Secondary) -> AnyView {
    match page {
        Secondary::Containers => containers::ContainersPage().into_any(),
        Secondary::Certificates => certificates::CertificatesPage().into_any(),
        Secondary::Agents => agents::AgentsPage().into_any(),
        Secondary::Settings => settings::SettingsPage().into_any(),
        Secondary::Users => users::UsersPage().into_any(),
        Secondary::Apps => apps::AppsPage().into_any(),
        Secondary::App => apps::AppPage().into_any(),
        Secondary::Audit => audit::AuditPage().into_any(),
        Secondary::Alerts => alerts::AlertsPage().into_any(),
        Secondary::Rules => alerts::RulesPage().into_any(),
        Secondary::Channels => alerts::ChannelsPage().into_any(),
        Secondary::Silences => alerts::SilencesPage().into_any(),
    }
}

/// Routes to the pages outside the main module: the router waits for their chunk (and, in
/// the browser, hydration does too) before it shows one.
macro_rules! lazy_routes {
    ($($route:ident => $page:expr),* $(,)?) => {$(
        struct $route;

        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            async fn view(_this: Self) -> AnyView {
                $page.await
            }
        }
    )*};
}

lazy_routes! {
    HostRoute => host_page(),
    ContainersRoute => secondary_page(Secondary::Containers),
    CertificatesRoute => secondary_page(Secondary::Certificates),
    AgentsRoute => secondary_page(Secondary::Agents),
    SettingsRoute => secondary_page(Secondary::Settings),
    UsersRoute => secondary_page(Secondary::Users),
    AppsRoute => secondary_page(Secondary::Apps),
    AppRoute => secondary_page(Secondary::App),
    AuditRoute => secondary_page(Secondary::Audit),
    AlertsRoute => secondary_page(Secondary::Alerts),
    RulesRoute => secondary_page(Secondary::Rules),
    ChannelsRoute => secondary_page(Secondary::Channels),
    SilencesRoute => secondary_page(Secondary::Silences),
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

/// The refusals of a page's last actions, a line each (`errors`: each action's last error).
fn error_lines(errors: impl IntoIterator<Item = Option<crate::ApiError>>) -> impl IntoView {
    errors
        .into_iter()
        .flatten()
        .map(|e| view! { <p class="error" role="alert">{e.message()}</p> })
        .collect_view()
}

/// Header with navigation and sign-out around a signed-in page.
#[component]
fn Frame(viewer: Resource<Result<Viewer, crate::ApiError>>, children: Children) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let me = move || viewer.get().and_then(Result::ok).and_then(|v| v.user);
    let username = move || me().map(|me| me.username);
    let is_admin = move || me().is_some_and(|me| me.role == crate::Role::Admin);
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Vantage"</a>
            <nav>
                <A href="/">"Dashboard"</A>
                <A href="/containers">"Containers"</A>
                <A href="/certificates">"Certificates"</A>
                <A href="/agents">"Agents"</A>
                <A href="/apps">"Apps"</A>
                <alerts::AlertsNavLink/>
                <A href="/audit">"Audit"</A>
                <Suspense>{move || is_admin().then(|| view! { <A href="/users">"Users"</A> })}</Suspense>
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
