use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError};
use proto::clock::now_s;

/// An API token as stored: the hash, never the secret.
#[derive(Debug, Clone)]
pub struct ApiTokenRow {
    pub api_token_id: i64,
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub token_hint: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The narrower role chosen at creation; `None`: the user's.
    pub role: Option<app::Role>,
}

/// A token found by its hash, with what its owner is now.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub username: String,
    pub role: app::Role,
}

const COLUMNS: &str =
    "api_token_id, user_id, name, token_hash, token_hint, created_at, last_used_at, role";

fn from_row(r: sqlx::any::AnyRow) -> Result<ApiTokenRow, StoreError> {
    Ok(ApiTokenRow {
        api_token_id: r.try_get("api_token_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        token_hash: r.try_get("token_hash")?,
        token_hint: r.try_get("token_hint")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        role: r
            .try_get::<Option<String>, _>("role")?
            .map(|text| super::users::parse_role(&text))
            .transpose()?,
    })
}

impl Store {
    /// Stores a new token for `user_id`.
    pub async fn create_api_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        token_hint: &str,
        role: Option<app::Role>,
    ) -> Result<ApiTokenRow, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "insert into api_token (user_id, name, token_hash, token_hint, created_at, role) \
             values ($1, $2, $3, $4, $5, $6) returning {COLUMNS}"
        )))
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(token_hint)
        .bind(now_s())
        .bind(role.map(|r| r.as_str()))
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        from_row(row)
    }

    /// A user's tokens, newest first.
    pub async fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiTokenRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {COLUMNS} from api_token where user_id = $1 order by api_token_id desc"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// The token with this hash and its owner, unless the owner is disabled.
    pub async fn api_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(ApiTokenRow, TokenOwner)>, StoreError> {
        let row = sqlx::query(
            r#"select t.api_token_id, t.user_id, t.name, t.token_hash, t.token_hint,
                      t.created_at, t.last_used_at, t.role, u.username, u.role as user_role
               from api_token t join "user" u on u.user_id = t.user_id
               where t.token_hash = $1 and u.disabled = 0"#,
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => {
                let owner = TokenOwner {
                    username: r.try_get("username")?,
                    role: super::users::parse_role(&r.try_get::<String, _>("user_role")?)?,
                };
                Ok(Some((from_row(r)?, owner)))
            }
            None => Ok(None),
        }
    }

    /// Records that the token was used now.
    pub async fn touch_api_token(&self, api_token_id: i64) -> Result<(), StoreError> {
        sqlx::query("update api_token set last_used_at = $1 where api_token_id = $2")
            .bind(now_s())
            .bind(api_token_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes one of the user's tokens; false if no such token of theirs exists.
    pub async fn delete_api_token(
        &self,
        user_id: i64,
        api_token_id: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from api_token where api_token_id = $1 and user_id = $2")
            .bind(api_token_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
