use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError};
use proto::clock::now_s;

/// A user account.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub user_id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: app::Role,
    pub disabled: bool,
    pub totp_at_sign_in: bool,
    /// One-time codes are set up and confirmed.
    pub totp_enabled: bool,
    pub created_at: i64,
}

/// The user behind a live session.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: i64,
    pub username: String,
    pub role: app::Role,
    pub totp_enabled: bool,
    /// An admin requires one-time codes for every account.
    pub totp_required: bool,
    pub csrf_token: String,
}

/// A user's TOTP secret as stored.
#[derive(Debug, Clone)]
pub struct TotpRow {
    pub secret_sealed: String,
    pub confirmed: bool,
    /// The step of the newest accepted code (0: none yet).
    pub last_step: i64,
}

/// What a user row holds that the API shows; `u` is the user table's alias.
const USER_COLUMNS: &str = r#"u.user_id, u.username, u.password_hash, u.role, u.disabled,
    u.totp_at_sign_in, u.created_at,
    (select count(*) from totp t where t.user_id = u.user_id and t.confirmed_at is not null) as totp_enabled"#;

/// A stored role name.
pub(super) fn parse_role(text: &str) -> Result<app::Role, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown role {text:?} in the store")))
}

fn user_row(r: sqlx::any::AnyRow) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        user_id: r.try_get("user_id")?,
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        role: parse_role(&r.try_get::<String, _>("role")?)?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        totp_at_sign_in: r.try_get::<i64, _>("totp_at_sign_in")? != 0,
        totp_enabled: r.try_get::<i64, _>("totp_enabled")? > 0,
        created_at: r.try_get("created_at")?,
    })
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
        let user_id = insert_user(&mut tx, username, password_hash, app::Role::Admin).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(user_id)
    }

    /// Creates an account; `Conflict` if the username is taken.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: app::Role,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let user_id = insert_user(&mut tx, username, password_hash, role).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(user_id)
    }

    /// Looks an account up by name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            r#"select {USER_COLUMNS} from "user" u where u.username = $1"#
        )))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_row).transpose()
    }

    /// Looks an account up by id.
    pub async fn user_by_id(&self, user_id: i64) -> Result<Option<UserRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            r#"select {USER_COLUMNS} from "user" u where u.user_id = $1"#
        )))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_row).transpose()
    }

    /// Every account, oldest first.
    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            r#"select {USER_COLUMNS} from "user" u order by u.user_id"#
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(user_row).collect()
    }

    /// Changes a user's role and whether they are disabled, in one transaction that refuses
    /// (with `false`) to leave no active admin. Disabling also ends their sessions and
    /// deletes their API tokens. `None` when there is no such user.
    pub async fn update_user(
        &self,
        user_id: i64,
        role: Option<app::Role>,
        disabled: Option<bool>,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.write_tx().await?;
        let exists = sqlx::query(r#"select 1 as one from "user" where user_id = $1"#)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        if let Some(role) = role {
            sqlx::query(r#"update "user" set role = $1 where user_id = $2"#)
                .bind(role.as_str())
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(disabled) = disabled {
            sqlx::query(r#"update "user" set disabled = $1 where user_id = $2"#)
                .bind(i64::from(disabled))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            if disabled {
                for table in ["session", "api_token"] {
                    sqlx::query(AssertSqlSafe(format!(
                        "delete from {table} where user_id = $1"
                    )))
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        let admins: i64 = sqlx::query(
            r#"select count(*) as n from "user" where role = 'admin' and disabled = 0"#,
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if admins == 0 {
            return Ok(Some(false));
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(Some(true))
    }

    /// Whether the user asks for a one-time code at sign-in.
    pub async fn set_totp_at_sign_in(&self, user_id: i64, on: bool) -> Result<(), StoreError> {
        sqlx::query(r#"update "user" set totp_at_sign_in = $1 where user_id = $2"#)
            .bind(i64::from(on))
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
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

    /// The user of an unexpired session, unless disabled.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<SessionUser>, StoreError> {
        let row = sqlx::query(
            r#"select s.user_id, u.username, u.role, s.csrf_token,
                      (select count(*) from totp t
                       where t.user_id = u.user_id and t.confirmed_at is not null) as totp_enabled,
                      (select value from setting where name = 'require_totp') as require_totp
               from session s join "user" u on u.user_id = s.user_id
               where s.token_hash = $1 and s.expires_at > $2 and u.disabled = 0"#,
        )
        .bind(token_hash)
        .bind(now_s())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionUser {
                user_id: r.try_get("user_id")?,
                username: r.try_get("username")?,
                role: parse_role(&r.try_get::<String, _>("role")?)?,
                totp_enabled: r.try_get::<i64, _>("totp_enabled")? > 0,
                totp_required: r.try_get::<Option<String>, _>("require_totp")?.as_deref()
                    == Some("1"),
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
    role: app::Role,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        r#"insert into "user" (username, password_hash, created_at, role) values ($1, $2, $3, $4) returning user_id"#,
    )
    .bind(username)
    .bind(password_hash)
    .bind(now_s())
    .bind(role.as_str())
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

impl Store {
    /// A user's TOTP secret, confirmed or not.
    pub async fn totp(&self, user_id: i64) -> Result<Option<TotpRow>, StoreError> {
        let row = sqlx::query(
            "select secret_sealed, confirmed_at, last_step from totp where user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(TotpRow {
                secret_sealed: r.try_get("secret_sealed")?,
                confirmed: r.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
                last_step: r.try_get("last_step")?,
            })
        })
        .transpose()
    }

    /// Keeps a new, unconfirmed secret (replacing an unconfirmed one); `false` when a
    /// confirmed one exists.
    pub async fn begin_totp(&self, user_id: i64, secret_sealed: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let confirmed = sqlx::query(
            "select 1 as one from totp where user_id = $1 and confirmed_at is not null",
        )
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if confirmed.is_some() {
            return Ok(false);
        }
        sqlx::query("delete from totp where user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("insert into totp (user_id, secret_sealed, created_at) values ($1, $2, $3)")
            .bind(user_id)
            .bind(secret_sealed)
            .bind(now_s())
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(true)
    }

    /// Takes `step` as the newest accepted code's, if it is later than the last one (and,
    /// with `confirm`, marks the secret confirmed and keeps the recovery codes' hashes).
    /// `false`: a code of this step or a later one was accepted already (or there is no
    /// secret, or confirming one that is confirmed).
    pub async fn take_totp_step(
        &self,
        user_id: i64,
        step: i64,
        confirm: Option<&[String]>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let confirmed_rule = if confirm.is_some() {
            "confirmed_at is null"
        } else {
            "confirmed_at is not null"
        };
        let done = sqlx::query(AssertSqlSafe(format!(
            "update totp set last_step = $1, confirmed_at = coalesce(confirmed_at, $2) \
             where user_id = $3 and last_step < $1 and {confirmed_rule}"
        )))
        .bind(step)
        .bind(now_s())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(hashes) = confirm {
            sqlx::query("delete from totp_recovery where user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            for hash in hashes {
                sqlx::query("insert into totp_recovery (user_id, code_hash) values ($1, $2)")
                    .bind(user_id)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(true)
    }

    /// The user's unused recovery codes: (id, SHA-256).
    pub async fn recovery_codes(&self, user_id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "select totp_recovery_id, code_hash from totp_recovery \
             where user_id = $1 and used_at is null order by totp_recovery_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("totp_recovery_id")?, r.try_get("code_hash")?)))
            .collect()
    }

    /// Spends a recovery code; `false` when it was spent already (a race).
    pub async fn use_recovery_code(&self, totp_recovery_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update totp_recovery set used_at = $1 where totp_recovery_id = $2 and used_at is null",
        )
        .bind(now_s())
        .bind(totp_recovery_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a user's secret and recovery codes, and their sign-in second factor.
    pub async fn delete_totp(&self, user_id: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for sql in [
            "delete from totp where user_id = $1",
            "delete from totp_recovery where user_id = $1",
            r#"update "user" set totp_at_sign_in = 0 where user_id = $1"#,
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// A server-wide setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("select value from setting where name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Sets a server-wide setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "insert into setting (name, value) values ($1, $2) \
             on conflict (name) do update set value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
