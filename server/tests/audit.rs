//! The audit log over a real server: the acts it records, and the transparency log's signed
//! heads and proofs checked as an agent or an auditor would, with `agent::tlog` alone.
mod common;

use agent::tlog::{self, Checkpoint, Hash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use ed25519_dalek::VerifyingKey;
use serde_json::{Value, json};

fn hash(text: &Value) -> Hash {
    BASE64
        .decode(text.as_str().expect("a base64 hash"))
        .unwrap()
        .try_into()
        .expect("32 bytes")
}

/// The leaf of an entry as shown, made here from its fields (not taken from the server).
fn leaf_of(entry: &Value) -> Hash {
    let row = server::store::AuditRow {
        leaf_index: entry["index"].as_u64().unwrap(),
        ts_ms: entry["ts_ms"].as_i64().unwrap(),
        actor: entry["actor"].as_str().unwrap().into(),
        action: entry["action"].as_str().unwrap().into(),
        subject: entry["subject"].as_str().unwrap().into(),
        detail: entry["detail"].as_str().unwrap().into(),
    };
    server::transparency::leaf_hash(&row)
}

/// The signed head now, its signature checked with the key the server names.
async fn head(http: &reqwest::Client, server: &Server) -> (Checkpoint, VerifyingKey, Value) {
    let body: Value = get_json(http, server.path("/api/v1/transparency/checkpoint")).await;
    let key: [u8; 32] = BASE64
        .decode(body["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&key).unwrap();
    let origin = body["origin"].as_str().unwrap();
    let head = Checkpoint::verify(body["note"].as_str().unwrap(), origin, &key)
        .expect("the checkpoint verifies with the log's key");
    assert_eq!(head.size, body["size"].as_u64().unwrap());
    assert_eq!(head.root, hash(&body["root"]));
    (head, key, body)
}

async fn scenario(database_url: Option<String>) {
    let mut server = Server::start_with(&["--mode", "server"], database_url.clone());
    let (http, csrf) = signed_in(&server).await;
    let created: Value = post_json(
        &http,
        server.path("/api/v1/api-tokens"),
        Some(&csrf),
        &json!({"name": "ci"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let token_id = created["id"].as_i64().unwrap();
    let res = http
        .delete(server.path(&format!("/api/v1/api-tokens/{token_id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let enrollment: Value = post_json(
        &http,
        server.path("/api/v1/agents/enrollment-tokens"),
        Some(&csrf),
        &json!({"ttl_hours": 1}),
    )
    .await
    .json()
    .await
    .unwrap();
    let enrollment_id = enrollment["id"].as_i64().unwrap();

    // Every act, newest first, by whom and on what.
    let entries: Vec<Value> = get_json(&http, server.path("/api/v1/audit")).await;
    let acts: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        acts,
        vec![
            ("enrollment_token.create", ADMIN),
            ("api_token.revoke", ADMIN),
            ("api_token.create", ADMIN),
            ("login", ADMIN),
            ("setup", ADMIN),
        ],
        "{entries:?}"
    );
    assert_eq!(entries[0]["subject"], enrollment_id.to_string());
    assert_eq!(entries[2]["subject"], token_id.to_string());
    assert!(
        !entries[0]["detail"]
            .as_str()
            .unwrap()
            .contains(enrollment["token"].as_str().unwrap()),
        "the secret is never in the log"
    );
    let indexes: Vec<u64> = entries
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, vec![4, 3, 2, 1, 0]);
    let page: Vec<Value> = get_json(&http, server.path("/api/v1/audit?before=2&limit=1")).await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["action"], "login");
    let all: Vec<Value> = get_json(
        &http,
        server.path("/api/v1/audit?before=18446744073709551615"),
    )
    .await;
    assert_eq!(all.len(), 5, "a cursor past the end is no cursor");

    // Each entry is in the signed head, by a proof that leads from its own fields.
    let (first, key, first_body) = head(&http, &server).await;
    assert_eq!(first.size, 5);
    for entry in &entries {
        let index = entry["index"].as_u64().unwrap();
        let proof: Value = get_json(
            &http,
            server.path(&format!(
                "/api/v1/transparency/proof/{index}?size={}",
                first.size
            )),
        )
        .await;
        assert_eq!(&proof["entry"], entry);
        let path: Vec<Hash> = proof["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(hash)
            .collect();
        assert_eq!(hash(&proof["leaf_hash"]), leaf_of(entry));
        tlog::verify_inclusion(&leaf_of(entry), index, first.size, &path, &first.root)
            .expect("the entry is in the signed head");
        // The entry with one field changed is not.
        let mut edited = entry.clone();
        edited["detail"] = json!("something else");
        assert!(
            tlog::verify_inclusion(&leaf_of(&edited), index, first.size, &path, &first.root)
                .is_err()
        );
    }
    // The same head is answered until the log grows.
    let (again, _, again_body) = head(&http, &server).await;
    assert_eq!(again, first);
    assert_eq!(again_body["note"], first_body["note"]);

    // After a restart on the same data, the log keeps its key and grows consistently.
    assert!(
        server
            .terminate(std::time::Duration::from_secs(10))
            .success()
    );
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let server = Server::start_in(data_dir, &["--mode", "server"], database_url);
    let (http, _) = logged_in_as_admin(&server, client()).await;
    let (later, later_key, _) = head(&http, &server).await;
    assert_eq!(later_key, key, "the log's key survives a restart");
    assert_eq!(later.origin, first.origin);
    assert_eq!(later.size, 6);
    let proof: Value = get_json(
        &http,
        server.path(&format!(
            "/api/v1/transparency/consistency?from={}&to={}",
            first.size, later.size
        )),
    )
    .await;
    let path: Vec<Hash> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    tlog::verify_consistency(first.size, later.size, &path, &first.root, &later.root)
        .expect("the later head extends the first");
    assert!(
        tlog::verify_consistency(
            first.size,
            later.size,
            &path,
            &tlog::leaf_hash(b"fork"),
            &later.root
        )
        .is_err()
    );

    // Questions outside the log are answered in the API's words.
    for (path, status, code) in [
        ("/api/v1/transparency/proof/6", 422, "invalid_log_index"),
        (
            "/api/v1/transparency/proof/0?size=99",
            422,
            "invalid_log_size",
        ),
        (
            "/api/v1/transparency/consistency?from=2&to=99",
            422,
            "invalid_log_size",
        ),
        (
            "/api/v1/transparency/consistency?from=5&to=3",
            422,
            "invalid_log_size",
        ),
        (
            "/api/v1/transparency/consistency?from=x&to=3",
            400,
            "invalid_query",
        ),
        ("/api/v1/transparency/proof/-1", 400, "invalid_id"),
    ] {
        let res = http.get(server.path(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        assert_eq!(error_code(res, status).await, code, "{path}");
    }
    let res = client()
        .get(server.path("/api/v1/transparency/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "unauthorized");
}

#[tokio::test]
async fn every_act_is_an_entry_in_a_signed_log_that_proves_it_on_sqlite() {
    scenario(None).await;
}

#[tokio::test]
async fn every_act_is_an_entry_in_a_signed_log_that_proves_it_on_postgres() {
    if let Some(url) = postgres_database().await {
        scenario(Some(url)).await;
    }
}

/// A copy of a stopped server's data dir, changed by `sql`, for `vantage verify-log`.
async fn tampered(data: &std::path::Path, sql: &[String]) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(data).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        }
    }
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", copy.path().join("vantage.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    for statement in sql {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    copy
}

fn verify_log(data: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(binary())
        .args(["verify-log", "--log", "off", "--data-dir"])
        .arg(data)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn verify_log_catches_an_edited_a_deleted_and_a_reordered_entry_and_a_fork() {
    let mut server = Server::start_with(&["--mode", "server"], None);
    let (http, csrf) = signed_in(&server).await;
    for name in ["one", "two", "three"] {
        let res = post_json(
            &http,
            server.path("/api/v1/api-tokens"),
            Some(&csrf),
            &json!({ "name": name }),
        )
        .await;
        assert_eq!(res.status(), 201);
    }
    // An auditor keeps a signed head of the log as it is now: 5 entries.
    let saved: Value = get_json(&http, server.path("/api/v1/transparency/checkpoint")).await;
    assert_eq!(saved["size"], 5);
    let saved_file = server.data_path().join("saved-checkpoint.json");
    std::fs::write(&saved_file, saved.to_string()).unwrap();
    let public_key = saved["public_key"].as_str().unwrap().to_owned();
    assert!(
        server
            .terminate(std::time::Duration::from_secs(10))
            .success()
    );
    let data = server.data_path().to_path_buf();
    let saved_arg = ["--checkpoint", saved_file.to_str().unwrap()];

    let (ok, text) = verify_log(&data, &saved_arg);
    assert!(ok, "{text}");
    assert!(text.contains("5 entries"), "{text}");
    let (ok, text) = verify_log(&data, &["--public-key", &public_key]);
    assert!(ok, "{text}");
    let other_key = BASE64.encode(
        ed25519_dalek::SigningKey::from_bytes(&[9; 32])
            .verifying_key()
            .as_bytes(),
    );
    let (ok, text) = verify_log(&data, &["--public-key", &other_key]);
    assert!(!ok && text.contains("does not verify"), "{text}");

    let cases: [(&str, Vec<String>, &str); 4] = [
        (
            "an edited entry",
            vec!["update audit_log set detail = 'nothing to see' where leaf_index = 2".into()],
            "entry 2 was edited or moved",
        ),
        (
            "a deleted entry",
            vec!["delete from audit_log where leaf_index = 3".into()],
            "entry 3 is missing",
        ),
        (
            "two entries swapped",
            vec![
                "update audit_log set leaf_index = 99 where leaf_index = 1".into(),
                "update audit_log set leaf_index = 1 where leaf_index = 3".into(),
                "update audit_log set leaf_index = 3 where leaf_index = 99".into(),
            ],
            "entry 1 was edited or moved",
        ),
        (
            "the last entry deleted",
            vec!["delete from audit_log where leaf_index = 4".into()],
            "the log's head says 5 entries but 4 are stored",
        ),
    ];
    for (what, sql, expected) in cases {
        let copy = tampered(&data, &sql).await;
        let (ok, text) = verify_log(copy.path(), &[]);
        assert!(!ok, "{what} passed: {text}");
        assert!(text.contains(expected), "{what}: {text}");
        assert_eq!(text.lines().count(), 1, "{what}: one sentence: {text}");
    }

    // A log rewritten whole, leaves and kept heads included (all but the signing key): only
    // the saved checkpoint still tells.
    let rows: Vec<Value> = {
        let copy = tampered(&data, &[]).await;
        let url = format!("sqlite://{}", copy.path().join("vantage.db").display());
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let rows = sqlx::query("select leaf_index, ts, actor, action, subject, detail from audit_log where leaf_index = 1")
            .fetch_all(&pool)
            .await
            .unwrap();
        use sqlx::Row;
        let out = rows
            .iter()
            .map(|r| {
                json!({
                    "index": r.get::<i64, _>("leaf_index"), "ts_ms": r.get::<i64, _>("ts"),
                    "actor": r.get::<String, _>("actor"), "action": r.get::<String, _>("action"),
                    "subject": r.get::<String, _>("subject"), "detail": r.get::<String, _>("detail"),
                })
            })
            .collect();
        pool.close().await;
        out
    };
    let mut forged = rows[0].clone();
    forged["detail"] = json!("from somewhere else");
    let leaf: String = leaf_of(&forged)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let copy = tampered(
        &data,
        &[
            "update audit_log set detail = 'from somewhere else' where leaf_index = 1".into(),
            format!("update tlog_node set hash = X'{leaf}' where level = 0 and node_index = 1"),
            "delete from tlog_checkpoint".into(),
        ],
    )
    .await;
    let (ok, text) = verify_log(copy.path(), &[]);
    assert!(
        ok,
        "without a head to hold it to, a rewrite looks whole: {text}"
    );
    let (ok, text) = verify_log(copy.path(), &saved_arg);
    assert!(!ok, "{text}");
    assert!(
        text.contains("the log forked") && text.contains("the saved checkpoint (5 entries)"),
        "{text}"
    );

    let (ok, text) = verify_log(std::path::Path::new("/nonexistent"), &[]);
    assert!(!ok && text.contains("there is no database"), "{text}");
}
