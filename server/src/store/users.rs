use sqlx::Row;

use super::{Store, StoreError};
use proto::clock::now_s;

/// A user account.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub user_id: i64,
    pub username: String,
    pub password_hash: String,
}

/// The user behind a live session.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: i64,
    pub username: String,
    pub csrf_token: String,
}

impl Store {
    /// True when at least one account exists.
    pub async fn has_users(&self) -> Result<bool, StoreError> {
        let row = sqlx::query(r#"select count(*) as n from "user""#)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Creates the first account; `Conflict` if setup already ran or any user exists.
    pub async fn create_first_user(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let existing: i64 = sqlx::query(r#"select count(*) as n from "user""#)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if existing > 0 {
            return Err(StoreError::Conflict);
        }
        // The singleton row makes a concurrent second setup fail on the primary key.
        sqlx::query("insert into first_run (first_run_id, completed_at) values (1, $1)")
            .bind(now_s())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        let user_id = insert_user(&mut tx, username, password_hash).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(user_id)
    }

    /// Creates an account (admin CLI); `Conflict` if the username is taken.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let user_id = insert_user(&mut tx, username, password_hash).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(user_id)
    }

    /// Looks an account up by name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        let row = sqlx::query(
            r#"select user_id, username, password_hash from "user" where username = $1"#,
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(UserRow {
                user_id: r.try_get("user_id")?,
                username: r.try_get("username")?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    /// Stores a new session under the hash of its cookie value.
    pub async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        csrf_token: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into session (user_id, token_hash, csrf_token, created_at, expires_at) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(csrf_token)
        .bind(now_s())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// The user of an unexpired session.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<SessionUser>, StoreError> {
        let row = sqlx::query(
            r#"select s.user_id, u.username, s.csrf_token from session s
               join "user" u on u.user_id = s.user_id
               where s.token_hash = $1 and s.expires_at > $2"#,
        )
        .bind(token_hash)
        .bind(now_s())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionUser {
                user_id: r.try_get("user_id")?,
                username: r.try_get("username")?,
                csrf_token: r.try_get("csrf_token")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("delete from session where token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from session where expires_at <= $1")
            .bind(now_s())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

async fn insert_user(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    username: &str,
    password_hash: &str,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        r#"insert into "user" (username, password_hash, created_at) values ($1, $2, $3) returning user_id"#,
    )
    .bind(username)
    .bind(password_hash)
    .bind(now_s())
    .fetch_one(&mut **tx)
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(row.try_get("user_id")?)
}

impl Store {
    /// Failures and time of the last one, for each scope that has any.
    pub async fn login_failures(
        &self,
        scopes: &[&str],
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let mut out = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let row =
                sqlx::query("select failures, last_failure_at from login_failure where scope = $1")
                    .bind(*scope)
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(r) = row {
                out.push((
                    (*scope).to_owned(),
                    r.try_get("failures")?,
                    r.try_get("last_failure_at")?,
                ));
            }
        }
        Ok(out)
    }

    /// Counts a failure in each scope; a count whose last failure is older than `forget_s`
    /// starts again from one.
    pub async fn record_login_failure(
        &self,
        scopes: &[&str],
        forget_s: i64,
    ) -> Result<(), StoreError> {
        let now = now_s();
        let mut tx = self.write_tx().await?;
        for scope in scopes {
            sqlx::query(
                "insert into login_failure (scope, failures, last_failure_at) values ($1, 1, $2) \
                 on conflict (scope) do update set \
                 failures = case when login_failure.last_failure_at < $3 then 1 else login_failure.failures + 1 end, \
                 last_failure_at = $2",
            )
            .bind(*scope)
            .bind(now)
            .bind(now - forget_s)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Forgets the failures of a scope (after a successful sign-in).
    pub async fn clear_login_failures(&self, scope: &str) -> Result<(), StoreError> {
        sqlx::query("delete from login_failure where scope = $1")
            .bind(scope)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops failure counts older than `forget_s`.
    pub async fn purge_login_failures(&self, forget_s: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from login_failure where last_failure_at < $1")
            .bind(now_s() - forget_s)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
