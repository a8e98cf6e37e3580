//! `/api/v1`: the audit log and the transparency log over it (signed heads and proofs).
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use app::ApiError;

use crate::http::AppState;
use crate::http::extract::{ApiQuery, Authenticated};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(list_audit))
        .route("/transparency/checkpoint", get(checkpoint))
        .route("/transparency/proof/{index}", get(proof))
        .route("/transparency/consistency", get(consistency))
}

#[derive(serde::Deserialize)]
struct AuditQuery {
    before: Option<u64>,
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    summary = "The audit log, newest first: sign-ins, tokens issued and revoked, enrollments, agents revoked and deleted.",
    params(
        ("before" = Option<u64>, Query, description = "Only entries before this index (the next page)."),
        ("limit" = Option<u32>, Query, description = "At most this many: 1 to 1000 (default 100).")
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::AuditEntry>),
        (status = 400, description = "A bad query.", body = app::ErrorBody),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_audit(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let rows = state
        .vantage
        .audit_entries(&auth.me, q.before, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(crate::service::audit::entry)
            .collect::<Vec<_>>(),
    )
    .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/transparency/checkpoint",
    tag = "audit",
    summary = "The transparency log's signed head now: a C2SP checkpoint (Ed25519 signed note) and the key it verifies with.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::TransparencyCheckpoint),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn checkpoint(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let head = state.vantage.signed_head(&auth.me).await?;
    Ok(Json(crate::service::audit::checkpoint_info(head)).into_response())
}

#[derive(serde::Deserialize)]
struct ProofQuery {
    size: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/transparency/proof/{index}",
    tag = "audit",
    summary = "An audit entry, its leaf hash and the proof it is in the log of `size` entries (RFC 6962 / 9162).",
    params(
        ("index" = u64, Path, description = "The entry's index, from 0."),
        ("size" = Option<u64>, Query, description = "The size of the tree to prove it in (a checkpoint's); default: the log's size now.")
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::InclusionProof),
        (status = 422, description = "An index outside the tree, or a size past the log (`invalid_log_index`, `invalid_log_size`).", body = app::ErrorBody),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn proof(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(index): Path<String>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Response, ApiError> {
    let index: u64 = index.parse().map_err(|_| ApiError::InvalidId)?;
    let (row, size, proof) = state
        .vantage
        .inclusion_proof(&auth.me, index, q.size)
        .await?;
    Ok(Json(app::InclusionProof {
        index,
        size,
        leaf_hash: BASE64.encode(crate::transparency::leaf_hash(&row)),
        proof: proof.iter().map(|h| BASE64.encode(h)).collect(),
        entry: crate::service::audit::entry(row),
    })
    .into_response())
}

#[derive(serde::Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

#[utoipa::path(
    get,
    path = "/api/v1/transparency/consistency",
    tag = "audit",
    summary = "The proof that the log of `from` entries is a prefix of the log of `to` entries (RFC 6962 / 9162).",
    params(
        ("from" = u64, Query, description = "The older size."),
        ("to" = u64, Query, description = "The newer size, at most the log's.")
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::ConsistencyProof),
        (status = 400, description = "`from` or `to` missing or not a number.", body = app::ErrorBody),
        (status = 422, description = "`from` past `to`, or `to` past the log (`invalid_log_size`).", body = app::ErrorBody),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn consistency(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    let proof = state
        .vantage
        .consistency_proof(&auth.me, q.from, q.to)
        .await?;
    Ok(Json(app::ConsistencyProof {
        from: q.from,
        to: q.to,
        proof: proof.iter().map(|h| BASE64.encode(h)).collect(),
    })
    .into_response())
}
