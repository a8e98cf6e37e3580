//! Accounts against the real server: setup, login, sessions, CSRF, API tokens, throttling, CLI.
mod common;

use common::*;
use serde_json::{Value, json};

async fn setup_login_tokens(server: Server) {
    let http = client();
    // Before setup every protected route is closed.
    let res = http
        .get(server.path("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "unauthorized");

    let res = http
        .post(server.path("/api/v1/setup"))
        .json(&json!({"username": ADMIN, "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 422).await, "invalid_password");
    let res = http
        .post(server.path("/api/v1/setup"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = http
        .post(server.path("/api/v1/setup"))
        .json(&json!({"username": "second", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 409).await, "setup_already_done");

    let res = http
        .post(server.path("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "invalid_credentials");
    let res = http
        .post(server.path("/api/v1/auth/login"))
        .json(&json!({"username": "nobody", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "invalid_credentials");

    let res = http
        .post(server.path("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("vantage_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP must not set Secure: {cookie}"
    );
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["username"], ADMIN);
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();

    let me: Value = get_json(&http, server.path("/api/v1/auth/me")).await;
    assert_eq!(me["username"], ADMIN);

    // Cookie-authenticated writes need the CSRF token.
    let res = http
        .post(server.path("/api/v1/api-tokens"))
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "csrf_token_mismatch");
    let res = http
        .post(server.path("/api/v1/api-tokens"))
        .header("x-csrf-token", "not-the-token")
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "csrf_token_mismatch");
    let res = http
        .post(server.path("/api/v1/api-tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("vtg_api_"));

    // The token works on its own, without cookie or CSRF header.
    let bearer = reqwest::Client::new();
    let me: Value = bearer
        .get(server.path("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], ADMIN);
    assert!(me["csrf_token"].is_null());
    let res = bearer
        .post(server.path("/api/v1/api-tokens"))
        .bearer_auth(&token)
        .json(&json!({"name": "made-by-token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // Listed masked: the secret never appears again.
    let list = bearer
        .get(server.path("/api/v1/api-tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !list.contains(&token[8..]),
        "listing leaks the token: {list}"
    );
    let list: Vec<Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(list.len(), 2);
    let ci = list.iter().find(|t| t["name"] == "ci").unwrap();
    assert!(ci["masked"].as_str().unwrap().starts_with("vtg_api_"));
    assert!(ci["last_used_at"].is_string(), "use is recorded");

    // Revoked tokens stop working at once.
    let id = ci["id"].as_i64().unwrap();
    let res = http
        .delete(server.path(&format!("/api/v1/api-tokens/{id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = bearer
        .get(server.path("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "unauthorized");
    let res = http
        .delete(server.path(&format!("/api/v1/api-tokens/{id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 404).await, "unknown_token");

    // Logout ends the session on the server, not just in the browser.
    let stolen = http
        .get(server.path("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 200);
    let session_cookie = cookie.split(';').next().unwrap().to_owned();
    let res = http
        .post(server.path("/api/v1/auth/logout"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let replay = reqwest::Client::new()
        .get(server.path("/api/v1/auth/me"))
        .header("cookie", session_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(replay, 401).await, "unauthorized");
}

#[tokio::test]
async fn accounts_on_sqlite() {
    setup_login_tokens(Server::start()).await;
}

#[tokio::test]
async fn accounts_on_postgres() {
    let Some(url) = postgres_database().await else {
        return;
    };
    setup_login_tokens(Server::start_with(&[], Some(url))).await;
}

#[tokio::test]
async fn every_api_route_but_setup_and_login_needs_credentials() {
    let server = Server::start();
    let _ = signed_in(&server).await;
    let anonymous = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/api/v1/auth/me"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/api-tokens"),
        ("POST", "/api/v1/api-tokens"),
        ("DELETE", "/api/v1/api-tokens/1"),
        ("GET", "/api/v1/resources/hosts"),
        ("GET", "/api/v1/resources/summary?agent_id=local"),
        ("GET", "/api/v1/resources/history?metric=cpu"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/no-such-route"),
    ] {
        let req = anonymous.request(method.parse().unwrap(), server.path(path));
        let res = req.send().await.unwrap();
        assert_eq!(
            error_code(res, 401).await,
            "unauthorized",
            "{method} {path}"
        );
        let res = anonymous
            .request(method.parse().unwrap(), server.path(path))
            .bearer_auth("vtg_api_forged")
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(res, 401).await,
            "unauthorized",
            "{method} {path} with a forged token"
        );
    }
}

#[tokio::test]
async fn logins_are_throttled_per_username_and_address() {
    let server = Server::start();
    let _ = signed_in(&server).await;
    let http = client();
    for _ in 0..5 {
        let res = http
            .post(server.path("/api/v1/auth/login"))
            .json(&json!({"username": ADMIN, "password": "guess guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res, 401).await, "invalid_credentials");
    }
    // Even the right password is refused now, and the answer says why.
    let res = http
        .post(server.path("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 429).await, "too_many_attempts");
    // Other users are not affected.
    let res = http
        .post(server.path("/api/v1/auth/login"))
        .json(&json!({"username": "someone-else", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "invalid_credentials");
}

#[tokio::test]
async fn admin_cli_creates_users_and_tokens() {
    let server = Server::start();
    let out = server.admin(
        &[
            "admin",
            "create-user",
            "--username",
            "robot",
            "--password-stdin",
        ],
        Some("a long password\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = server.admin(
        &[
            "admin",
            "create-token",
            "--username",
            "robot",
            "--name",
            "deploy",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "prints only the token");
    assert!(token.starts_with("vtg_api_"));
    let me: Value = reqwest::Client::new()
        .get(server.path("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "robot");

    // A user now exists, so first-run setup is closed.
    let res = client()
        .post(server.path("/api/v1/setup"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 409).await, "setup_already_done");

    // Mistakes get one plain sentence and a non-zero exit.
    for (args, stdin, expected) in [
        (
            vec![
                "admin",
                "create-user",
                "--username",
                "robot",
                "--password-stdin",
            ],
            Some("another password\n"),
            "already exists",
        ),
        (
            vec![
                "admin",
                "create-user",
                "--username",
                "bad name",
                "--password-stdin",
            ],
            Some("long enough!\n"),
            "username",
        ),
        (
            vec![
                "admin",
                "create-user",
                "--username",
                "empty",
                "--password-stdin",
            ],
            Some(""),
            "no password",
        ),
        (
            vec![
                "admin",
                "create-token",
                "--username",
                "ghost",
                "--name",
                "x",
            ],
            None,
            "No user is named",
        ),
    ] {
        let out = server.admin(&args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[tokio::test]
async fn dashboard_calls_refuse_cross_site_and_anonymous_use() {
    let server = Server::start();
    let (http, _) = signed_in(&server).await;
    let count = |http: reqwest::Client| {
        let url = server.path("/api/v1/api-tokens");
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Vec<Value>>()
                .await
                .unwrap()
                .len()
        }
    };
    let form = [("name", "sneaky")];

    // A page on another site posting with the victim's cookie is refused.
    let res = http
        .post(server.path("/_sf/create_token"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "cross_origin_request");
    let res = http
        .post(server.path("/_sf/create_token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, 403).await,
        "cross_origin_request",
        "no Origin or Referer at all"
    );
    // Without a session the call does nothing.
    let res = reqwest::Client::new()
        .post(server.path("/_sf/create_token"))
        .header("origin", &server.url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(!res.status().is_success());
    assert_eq!(count(http.clone()).await, 0);

    // The dashboard itself (same origin) may.
    let res = http
        .post(server.path("/_sf/create_token"))
        .header("origin", &server.url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(count(http).await, 1);
}

#[tokio::test]
async fn pages_redirect_to_setup_then_login() {
    let server = Server::start();
    // As a browser navigates: accepting HTML, not following redirects.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("accept", "text/html,application/xhtml+xml".parse().unwrap());
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    let res = no_redirects.get(server.path("/")).send().await.unwrap();
    assert_eq!(res.status().as_u16() / 100, 3);
    assert_eq!(res.headers()["location"], "/setup");
    let _ = signed_in(&server).await;
    for page in ["/", "/settings", "/setup"] {
        let res = no_redirects.get(server.path(page)).send().await.unwrap();
        assert_eq!(res.status().as_u16() / 100, 3, "{page}");
        assert_eq!(res.headers()["location"], "/login", "{page}");
    }
    let res = no_redirects
        .get(server.path("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Sign in to Vantage"));
    let res = no_redirects
        .get(server.path("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
