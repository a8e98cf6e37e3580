//! `GET /api/v1/openapi.json`: the OpenAPI document, generated from the handlers' own
//! annotations and the request and answer types in `app` (their `ToSchema`). Every route of
//! the REST API, the operations endpoints and the downloads is listed; a test compares the
//! list with the routers.
use axum::Json;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{api, install, ops};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vantage",
        description = "Monitor and repair fleets of Linux hosts. Errors are `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "AGPL-3.0-only")
    ),
    paths(
        api::auth::setup,
        api::auth::login,
        api::auth::logout,
        api::auth::me,
        api::tokens::list_tokens,
        api::tokens::create_token,
        api::tokens::delete_token,
        api::agents::list_agents,
        api::agents::list_builds,
        api::agents::create_enrollment_token,
        api::agents::list_enrollment_tokens,
        api::agents::get_enrollment_token,
        api::agents::delete_enrollment_token,
        api::agents::get_agent,
        api::agents::patch_agent,
        api::agents::revoke_agent,
        api::agents::delete_agent,
        api::agents::agent_events,
        api::resources::hosts,
        api::resources::top,
        api::resources::summary,
        api::resources::history,
        api::resources::series,
        api::resources::containers,
        api::resources::certificates,
        api::events::events,
        api::alerts::list_rules,
        api::alerts::create_rule,
        api::alerts::preview_rule,
        api::alerts::get_rule,
        api::alerts::put_rule,
        api::alerts::delete_rule,
        api::alerts::list_alerts,
        api::alerts::get_alert,
        api::alerts::ack_alert,
        api::alerts::list_silences,
        api::alerts::create_silence,
        api::alerts::delete_silence,
        api::alerts::list_channels,
        api::alerts::create_channel,
        api::alerts::get_channel,
        api::alerts::put_channel,
        api::alerts::delete_channel,
        api::alerts::test_channel,
        api::alerts::list_deliveries,
        api::audit::list_audit,
        api::audit::checkpoint,
        api::audit::proof,
        api::audit::consistency,
        api::users::list_users,
        api::users::create_user,
        api::users::update_user,
        api::users::get_me,
        api::users::patch_me,
        api::users::begin_totp,
        api::users::confirm_totp,
        api::users::disable_totp,
        api::users::get_policy,
        api::users::put_policy,
        api::apps::list_apps,
        api::apps::create_app,
        api::apps::get_app,
        api::apps::patch_app,
        api::apps::delete_app,
        api::apps::restart_app,
        api::apps::list_actions,
        api::apps::inventory,
        openapi_json,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        install::install_script,
        install::agent,
        install::image,
    ),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`vtg_…`): Settings, or `vantage admin create-token`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "vantage_session",
                "The dashboard's session cookie; writes also need the X-CSRF-Token header.",
            ))),
        );
    }
}

/// The document, with this build's version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    summary = "This OpenAPI document.",
    responses((status = 200, description = "OpenAPI 3.1 JSON.", content_type = "application/json"))
)]
pub async fn openapi_json() -> impl IntoResponse {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route("…")` of the REST API, operations and download routers.
    fn routes_in(source: &str, prefix: &str) -> Vec<String> {
        source
            .split(".route(")
            .skip(1)
            .filter_map(|rest| {
                let rest = rest.trim_start();
                let path = rest.strip_prefix('"')?.split('"').next()?;
                Some(format!("{prefix}{path}"))
            })
            .collect()
    }

    #[test]
    fn every_route_is_in_the_document() {
        let doc = document();
        let mut routes = Vec::new();
        for source in [
            include_str!("api/auth.rs"),
            include_str!("api/tokens.rs"),
            include_str!("api/agents.rs"),
            include_str!("api/resources.rs"),
            include_str!("api/events.rs"),
        ] {
            routes.extend(routes_in(source, "/api/v1"));
        }
        routes.extend(routes_in(include_str!("ops.rs"), ""));
        routes.extend(routes_in(include_str!("install.rs"), ""));
        routes.push("/api/v1/openapi.json".into());
        routes.push("/download/vantage-agent-image.tar".into());
        assert!(routes.len() >= 26, "{routes:?}");
        for route in &routes {
            assert!(
                doc.paths.paths.contains_key(route),
                "{route} is served but not in the OpenAPI document"
            );
        }
        assert_eq!(doc.info.version, env!("CARGO_PKG_VERSION"));
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            json["components"]["schemas"]["TokenState"]["enum"],
            serde_json::json!(["active", "used", "expired"]),
            "states are documented by their wire names"
        );
        let schemes = &json["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
    }
}
