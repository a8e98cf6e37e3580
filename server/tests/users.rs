//! Users, roles and one-time codes over a real server: what a viewer, an operator and an
//! admin may do, disabling, narrower tokens, TOTP enrollment and the sign-in second factor.
mod common;

use common::*;
use serde_json::{Value, json};

async fn add_user(server: &Server, admin: &reqwest::Client, csrf: &str, name: &str, role: &str) {
    let res = post_json(
        admin,
        server.path("/api/v1/users"),
        Some(csrf),
        &json!({"username": name, "password": PASSWORD, "role": role}),
    )
    .await;
    assert_eq!(
        res.status(),
        201,
        "create {name}: {}",
        res.text().await.unwrap()
    );
}

async fn user_id(server: &Server, admin: &reqwest::Client, name: &str) -> i64 {
    let users: Vec<app::users::UserInfo> = get_json(admin, server.path("/api/v1/users")).await;
    users.iter().find(|u| u.username == name).unwrap().id
}

async fn send(
    http: &reqwest::Client,
    method: &str,
    url: String,
    csrf: &str,
    body: &Value,
) -> reqwest::Response {
    http.request(method.parse().unwrap(), url)
        .header("x-csrf-token", csrf)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The writes open to every signed-in user: their own session and account.
const OWN_ACCOUNT: &[&str] = &[
    "/api/v1/setup",
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/api/v1/users/me",
    "/api/v1/users/me/totp",
    "/api/v1/users/me/totp/confirm",
];

#[tokio::test]
async fn a_viewer_is_refused_every_write_the_api_has() {
    let server = Server::start_with(&["--mode", "server"], None);
    let (admin, csrf) = signed_in(&server).await;
    add_user(&server, &admin, &csrf, "vera", "viewer").await;
    let (viewer, viewer_csrf) = sign_in_as(&server, "vera").await;
    let spec: Value = get_json(&admin, server.path("/api/v1/openapi.json")).await;
    let mut tried = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        if OWN_ACCOUNT.contains(&path.as_str()) {
            continue;
        }
        for method in ["post", "put", "patch", "delete"] {
            if ops.get(method).is_none() {
                continue;
            }
            let url = server.path(
                &path
                    .replace("{id}", "1")
                    .replace("{index}", "0")
                    .replace("{target}", "linux-x86_64"),
            );
            let res = send(&viewer, method, url, &viewer_csrf, &json!({})).await;
            assert_eq!(
                error_code(res, 403).await,
                "forbidden",
                "{method} {path} as a viewer"
            );
            tried += 1;
        }
    }
    assert!(tried >= 20, "only {tried} writes in the OpenAPI document");
    // Reads stay open to the viewer.
    for path in ["/api/v1/agents", "/api/v1/alerts", "/api/v1/audit"] {
        let res = viewer.get(server.path(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "GET {path} as a viewer");
    }
    // The dashboard's server functions go through the same rules.
    let res = viewer
        .post(server.path("/_sf/create_token"))
        .header("origin", server.path(""))
        .form(&[("name", "sneaky")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a viewer's token through the dashboard");
    // And the admin list of users is the admin's.
    let res = viewer
        .get(server.path("/api/v1/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "forbidden");
}

#[tokio::test]
async fn operators_run_things_admins_manage_who_and_what() {
    let server = Server::start_with(&["--mode", "server"], None);
    let (admin, csrf) = signed_in(&server).await;
    add_user(&server, &admin, &csrf, "olga", "operator").await;
    let (op, op_csrf) = sign_in_as(&server, "olga").await;
    // Admin-only, with bodies that would pass for an admin.
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/users",
            json!({"username": "x", "password": PASSWORD, "role": "viewer"}),
        ),
        ("PUT", "/api/v1/users/policy", json!({"require_totp": true})),
        ("POST", "/api/v1/agents/enrollment-tokens", json!({})),
        (
            "POST",
            "/api/v1/notification-channels",
            json!({"name": "hook", "kind": "webhook", "settings": {"url": "https://example.com/h"}}),
        ),
    ] {
        let res = send(&op, method, server.path(path), &op_csrf, &body).await;
        assert_eq!(
            error_code(res, 403).await,
            "forbidden",
            "{method} {path} as an operator"
        );
    }
    // An operator silences and keeps their own tokens.
    let res = post_json(
        &op,
        server.path("/api/v1/silences"),
        Some(&op_csrf),
        &json!({"matcher": {}, "ends_at": proto::clock::now_s() + 600, "comment": "maintenance"}),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = post_json(
        &op,
        server.path("/api/v1/api-tokens"),
        Some(&op_csrf),
        &json!({"name": "deploy"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    // A token never gets a wider role than its user's.
    let res = post_json(
        &op,
        server.path("/api/v1/api-tokens"),
        Some(&op_csrf),
        &json!({"name": "wide", "role": "admin"}),
    )
    .await;
    assert_eq!(error_code(res, 422).await, "invalid_role");
    // The audit log names who was created with which role.
    let audit: Value = get_json(&admin, server.path("/api/v1/audit")).await;
    let text = audit.to_string();
    assert!(
        text.contains("user.create") && text.contains("role operator"),
        "{text}"
    );
}

#[tokio::test]
async fn a_narrower_token_acts_with_its_role_and_follows_a_demotion() {
    let server = Server::start();
    let (admin, csrf) = signed_in(&server).await;
    let make = |name: &str, role: Option<&str>| {
        let mut body = json!({"name": name});
        if let Some(role) = role {
            body["role"] = json!(role);
        }
        body
    };
    let read_only: Value = post_json(
        &admin,
        server.path("/api/v1/api-tokens"),
        Some(&csrf),
        &make("dashboards", Some("viewer")),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(read_only["role"], "viewer");
    let token = read_only["token"].as_str().unwrap();
    let bare = reqwest::Client::new();
    let me: app::Me = bare
        .get(server.path("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.role, app::Role::Viewer);
    let res = bare
        .post(server.path("/api/v1/api-tokens"))
        .bearer_auth(token)
        .json(&make("escalate", None))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "forbidden");
    let res = bare
        .get(server.path("/api/v1/resources/hosts"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // A token that follows its user: demoting the user narrows it at once.
    let follows: Value = post_json(
        &admin,
        server.path("/api/v1/api-tokens"),
        Some(&csrf),
        &make("ops", None),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(follows["follows_user_role"], true);
    add_user(&server, &admin, &csrf, "second", "admin").await;
    let (other, other_csrf) = sign_in_as(&server, "second").await;
    let first = user_id(&server, &other, ADMIN).await;
    let res = patch_json(
        &other,
        server.path(&format!("/api/v1/users/{first}")),
        &other_csrf,
        &json!({"role": "operator"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let me: app::Me = bare
        .get(server.path("/api/v1/auth/me"))
        .bearer_auth(follows["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.role, app::Role::Operator);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_tokens_and_streams_at_once() {
    let server = Server::start();
    let (admin, csrf) = signed_in(&server).await;
    add_user(&server, &admin, &csrf, "olga", "operator").await;
    let (op, op_csrf) = sign_in_as(&server, "olga").await;
    let created: Value = post_json(
        &op,
        server.path("/api/v1/api-tokens"),
        Some(&op_csrf),
        &json!({"name": "cron"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let bare = reqwest::Client::new();
    let mut stream = bare
        .get(server.path("/api/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.unwrap().is_some(), "the stream starts");

    let olga = user_id(&server, &admin, "olga").await;
    let res = patch_json(
        &admin,
        server.path(&format!("/api/v1/users/{olga}")),
        &csrf,
        &json!({"disabled": true}),
    )
    .await;
    let shown: app::users::UserInfo = res.json().await.unwrap();
    assert!(shown.disabled);

    let res = op.get(server.path("/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(error_code(res, 401).await, "unauthorized", "the session");
    let res = bare
        .get(server.path("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "unauthorized", "the token");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the live stream ends when its user is disabled"
    );
    let res = post_json(
        &client(),
        server.path("/api/v1/auth/login"),
        None,
        &json!({"username": "olga", "password": PASSWORD}),
    )
    .await;
    assert_eq!(error_code(res, 401).await, "invalid_credentials");

    // Enabled again, the user signs in; the tokens stay gone.
    let res = patch_json(
        &admin,
        server.path(&format!("/api/v1/users/{olga}")),
        &csrf,
        &json!({"disabled": false}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let _ = sign_in_as(&server, "olga").await;
    let res = bare
        .get(server.path("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let audit: Value = get_json(&admin, server.path("/api/v1/audit")).await;
    let text = audit.to_string();
    assert!(
        text.contains("user.disable") && text.contains("user.enable"),
        "{text}"
    );
}

#[tokio::test]
async fn the_last_admin_stays_an_admin() {
    let server = Server::start();
    let (admin, csrf) = signed_in(&server).await;
    let me = user_id(&server, &admin, ADMIN).await;
    for patch in [json!({"role": "operator"}), json!({"disabled": true})] {
        let res = patch_json(
            &admin,
            server.path(&format!("/api/v1/users/{me}")),
            &csrf,
            &patch,
        )
        .await;
        assert_eq!(error_code(res, 409).await, "last_admin", "{patch}");
    }
    let res = patch_json(
        &admin,
        server.path("/api/v1/users/999"),
        &csrf,
        &json!({"role": "viewer"}),
    )
    .await;
    assert_eq!(error_code(res, 404).await, "not_found");
    let res = post_json(
        &admin,
        server.path("/api/v1/users"),
        Some(&csrf),
        &json!({"username": "x", "password": PASSWORD, "role": "root"}),
    )
    .await;
    assert_eq!(res.status(), 422, "an unknown role");
}

#[tokio::test]
async fn totp_enrollment_sign_in_and_recovery() {
    let server = Server::start();
    let (admin, csrf) = signed_in(&server).await;
    let url = |p: &str| server.path(p);
    let res = post_json(
        &admin,
        url("/api/v1/users/me/totp"),
        Some(&csrf),
        &json!({}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let enrollment: app::users::TotpEnrollment = res.json().await.unwrap();
    assert!(
        enrollment
            .otpauth_uri
            .starts_with("otpauth://totp/Vantage:admin?")
    );
    assert!(enrollment.otpauth_uri.contains(&enrollment.secret));
    assert!(enrollment.qr_svg.contains("<svg"));
    let step = totp_step();

    // Not yet confirmed: signing in needs no code, and turning it on is refused.
    let res = patch_json(
        &admin,
        url("/api/v1/users/me"),
        &csrf,
        &json!({"totp_at_sign_in": true}),
    )
    .await;
    assert_eq!(error_code(res, 409).await, "totp_not_enabled");
    let res = post_json(
        &admin,
        url("/api/v1/users/me/totp/confirm"),
        Some(&csrf),
        &json!({"code": "000000"}),
    )
    .await;
    assert_eq!(error_code(res, 401).await, "invalid_totp");
    let res = post_json(
        &admin,
        url("/api/v1/users/me/totp/confirm"),
        Some(&csrf),
        &json!({"code": "12ab"}),
    )
    .await;
    assert_eq!(error_code(res, 422).await, "invalid_totp_code");
    let res = post_json(
        &admin,
        url("/api/v1/users/me/totp/confirm"),
        Some(&csrf),
        &json!({"code": totp_code(&enrollment.secret, step - 1)}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let recovery: app::users::RecoveryCodes = res.json().await.unwrap();
    assert_eq!(recovery.recovery_codes.len(), 10);
    let res = post_json(
        &admin,
        url("/api/v1/users/me/totp"),
        Some(&csrf),
        &json!({}),
    )
    .await;
    assert_eq!(error_code(res, 409).await, "totp_already_enabled");

    let res = patch_json(
        &admin,
        url("/api/v1/users/me"),
        &csrf,
        &json!({"totp_at_sign_in": true}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let login = |code: Option<String>| {
        let mut body = json!({"username": ADMIN, "password": PASSWORD});
        if let Some(code) = code {
            body["totp_code"] = json!(code);
        }
        let http = client();
        let url = url("/api/v1/auth/login");
        async move { post_json(&http, url, None, &body).await }
    };
    assert_eq!(error_code(login(None).await, 401).await, "totp_required");
    // The code that confirmed is spent, and so is every older one.
    assert_eq!(
        error_code(
            login(Some(totp_code(&enrollment.secret, step - 1))).await,
            401
        )
        .await,
        "invalid_totp"
    );
    assert_eq!(
        login(Some(totp_code(&enrollment.secret, step)))
            .await
            .status(),
        200
    );
    assert_eq!(
        error_code(login(Some(totp_code(&enrollment.secret, step))).await, 401).await,
        "invalid_totp",
        "a code is taken once"
    );
    // A recovery code signs in once.
    let spare = recovery.recovery_codes[3].clone();
    assert_eq!(login(Some(spare.to_lowercase())).await.status(), 200);
    assert_eq!(
        error_code(login(Some(spare)).await, 401).await,
        "invalid_totp"
    );

    // Wrong codes are throttled per user: five free, then a wait.
    for _ in 0..4 {
        assert_eq!(
            error_code(login(Some("000000".into())).await, 401).await,
            "invalid_totp"
        );
    }
    assert_eq!(
        error_code(login(Some("000000".into())).await, 429).await,
        "too_many_attempts"
    );
    assert_eq!(
        error_code(
            login(Some(totp_code(&enrollment.secret, step + 1))).await,
            429
        )
        .await,
        "too_many_attempts",
        "even a right code waits out the throttle"
    );
    let audit: Value = get_json(&admin, url("/api/v1/audit")).await;
    assert!(audit.to_string().contains("totp.enable"));
}

#[tokio::test]
async fn an_admin_can_require_one_time_codes_for_everyone() {
    let server = Server::start();
    let (admin, csrf) = signed_in(&server).await;
    add_user(&server, &admin, &csrf, "vera", "viewer").await;
    let res = send(
        &admin,
        "PUT",
        server.path("/api/v1/users/policy"),
        &csrf,
        &json!({"require_totp": true}),
    )
    .await;
    assert_eq!(res.status(), 200);

    // Vera has no second factor: signed in, she can only enroll one.
    let (vera, vera_csrf) = sign_in_as(&server, "vera").await;
    let me: app::Me = get_json(&vera, server.path("/api/v1/auth/me")).await;
    assert!(me.must_enroll_totp);
    let res = vera
        .get(server.path("/api/v1/resources/hosts"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "totp_enrollment_required");
    let page = vera.get(server.path("/")).send().await.unwrap();
    assert_eq!(
        page.url().path(),
        "/settings",
        "the dashboard sends her to enroll"
    );
    assert_eq!(page.status(), 200);
    let enrollment: app::users::TotpEnrollment = post_json(
        &vera,
        server.path("/api/v1/users/me/totp"),
        Some(&vera_csrf),
        &json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    let code = totp_code(&enrollment.secret, totp_step());
    let res = post_json(
        &vera,
        server.path("/api/v1/users/me/totp/confirm"),
        Some(&vera_csrf),
        &json!({"code": code}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = vera
        .get(server.path("/api/v1/resources/hosts"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "enrolled, she reads again");
    // From now on she signs in with a code, though she did not ask for it herself.
    let res = post_json(
        &client(),
        server.path("/api/v1/auth/login"),
        None,
        &json!({"username": "vera", "password": PASSWORD}),
    )
    .await;
    assert_eq!(error_code(res, 401).await, "totp_required");
}
