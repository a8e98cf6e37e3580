//! Accounts and what they may do: roles (the one check every write goes through, [`allow`]),
//! the admin's user management, each user's one-time codes (enrollment, confirmation,
//! recovery codes, the sign-in second factor) and the admin's sign-in policy.
use app::users::{
    MyAccountPatch, NewUser, RecoveryCodes, SignInPolicy, TotpEnrollment, UserInfo, UserPatch,
};
use app::{ApiError, Field, Me, Role};
use proto::clock::now_s;

use super::{Vantage, audit, internal, subscriptions};
use crate::auth;
use crate::store::{StoreError, UserRow};
use crate::totp;

/// The purpose TOTP secrets are sealed under.
const TOTP_SEAL: &str = "totp-secret";
/// The setting that makes one-time codes required for every account.
pub(crate) const REQUIRE_TOTP: &str = "require_totp";
/// Wrong one-time codes a user may send before each further try waits (doubling).
const FREE_TOTP_FAILURES: i64 = 5;

/// Refuses a caller whose role does not reach `needed` (403, naming both).
pub(crate) fn allow(me: &Me, needed: Role) -> Result<(), ApiError> {
    if me.role.allows(needed) {
        Ok(())
    } else {
        tracing::info!(user = %me.username, role = %me.role, %needed, "refused: role");
        Err(ApiError::Forbidden {
            needed,
            have: me.role,
        })
    }
}

/// Refuses a viewer any write (the HTTP layer asks before it reads a body); the finer
/// rules of each write are checked again where it is made.
pub(crate) fn writes_allowed(me: &Me) -> Result<(), ApiError> {
    allow(me, Role::Operator)
}

fn user_info(u: &UserRow) -> UserInfo {
    UserInfo {
        id: u.user_id,
        username: u.username.clone(),
        role: u.role,
        disabled: u.disabled,
        totp_enabled: u.totp_enabled,
        totp_at_sign_in: u.totp_at_sign_in,
        created_at: app::rfc3339_from_millis(u.created_at * 1000),
    }
}

fn unknown_user(id: i64) -> ApiError {
    ApiError::UnknownItem { kind: "user", id }
}

/// Which purpose a one-time code is checked for (what the log and the throttle see).
#[derive(Debug, Clone, Copy)]
pub(crate) enum CodeUse {
    /// The second factor at sign-in: a recovery code also serves.
    SignIn,
    /// Confirming a new secret: only a code from it.
    Confirm,
    /// Turning TOTP off: a code or a recovery code.
    TurnOff,
    /// Approving a restart: only a code from the app.
    Action,
}

impl Vantage {
    /// Every account (admin).
    pub async fn users(&self, me: &Me) -> Result<Vec<UserInfo>, ApiError> {
        allow(me, Role::Admin)?;
        Ok(self.store.users().await?.iter().map(user_info).collect())
    }

    /// Creates an account with a role (admin).
    pub async fn add_user(&self, me: &Me, new: NewUser) -> Result<UserInfo, ApiError> {
        allow(me, Role::Admin)?;
        let user_id = self
            .insert_user(
                &me.username,
                new.username.trim(),
                &new.password,
                new.role,
                "",
            )
            .await?;
        self.user_info_of(user_id).await
    }

    /// Creates an account (from the API or the CLI) and logs it; its id.
    pub(crate) async fn insert_user(
        &self,
        actor: &str,
        username: &str,
        password: &str,
        role: Role,
        how: &str,
    ) -> Result<i64, ApiError> {
        let hash = self.checked_password_hash(username, password).await?;
        let user_id = self
            .store
            .create_user(username, &hash, role)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => ApiError::UsernameTaken(username.to_owned()),
                e => e.into(),
            })?;
        tracing::info!(by = %actor, %username, %role, "user created");
        self.audit(audit::Act {
            actor,
            action: "user.create",
            subject: username,
            detail: &format!("role {role}{how}"),
        })
        .await?;
        Ok(user_id)
    }

    async fn user_info_of(&self, user_id: i64) -> Result<UserInfo, ApiError> {
        self.store
            .user_by_id(user_id)
            .await?
            .map(|u| user_info(&u))
            .ok_or_else(|| unknown_user(user_id))
    }

    /// Changes a user's role or disables (or enables) them (admin). Disabling ends their
    /// sessions, deletes their API tokens and closes their live streams at once. The last
    /// active admin can be neither demoted nor disabled.
    pub async fn update_user(
        &self,
        me: &Me,
        user_id: i64,
        patch: UserPatch,
    ) -> Result<UserInfo, ApiError> {
        allow(me, Role::Admin)?;
        let before = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| unknown_user(user_id))?;
        match self
            .store
            .update_user(user_id, patch.role, patch.disabled)
            .await?
        {
            None => return Err(unknown_user(user_id)),
            Some(false) => return Err(ApiError::LastAdmin),
            Some(true) => {}
        }
        if patch.disabled == Some(true) {
            self.cancel_pending_actions(user_id, &before.username)
                .await?;
        }
        if patch.disabled == Some(true) || patch.role.is_some_and(|r| r != before.role) {
            // Live streams were opened with the old rights: they end, and reopen with the new.
            self.subscriptions.end(&subscriptions::user_key(user_id));
        }
        let mut changes = Vec::new();
        if let Some(role) = patch.role.filter(|r| *r != before.role) {
            changes.push(("user.role", format!("{} → {role}", before.role)));
        }
        match patch.disabled {
            Some(true) if !before.disabled => {
                changes.push(("user.disable", "sessions and API tokens ended".to_owned()))
            }
            Some(false) if before.disabled => changes.push(("user.enable", String::new())),
            _ => {}
        }
        for (action, detail) in &changes {
            tracing::info!(by = %me.username, user = %before.username, action, %detail, "user changed");
            self.audit(audit::Act {
                actor: &me.username,
                action,
                subject: &before.username,
                detail,
            })
            .await?;
        }
        self.user_info_of(user_id).await
    }

    /// The caller's own account.
    pub async fn my_account(&self, me: &Me) -> Result<UserInfo, ApiError> {
        self.user_info_of(me.user_id).await
    }

    /// Changes the caller's own settings: the sign-in second factor.
    pub async fn update_my_account(
        &self,
        me: &Me,
        patch: MyAccountPatch,
    ) -> Result<UserInfo, ApiError> {
        if let Some(on) = patch.totp_at_sign_in {
            let confirmed = self
                .store
                .totp(me.user_id)
                .await?
                .is_some_and(|t| t.confirmed);
            if on && !confirmed {
                return Err(ApiError::TotpNotEnabled);
            }
            self.store.set_totp_at_sign_in(me.user_id, on).await?;
            self.audit(audit::Act {
                actor: &me.username,
                action: if on {
                    "totp.sign_in_on"
                } else {
                    "totp.sign_in_off"
                },
                subject: &me.username,
                detail: "",
            })
            .await?;
        }
        self.my_account(me).await
    }

    /// A new TOTP secret for the caller, shown this once; it counts once confirmed. Any
    /// role may enroll. A confirmed secret must be turned off first (409).
    pub async fn begin_totp(&self, me: &Me) -> Result<TotpEnrollment, ApiError> {
        let secret = totp::new_secret().map_err(internal)?;
        let sealed = self
            .seal_key()?
            .seal(TOTP_SEAL, &secret)
            .map_err(internal)?;
        if !self.store.begin_totp(me.user_id, &sealed).await? {
            return Err(ApiError::TotpAlreadyEnabled);
        }
        let otpauth_uri = totp::otpauth_uri(&secret, &me.username).map_err(internal)?;
        Ok(TotpEnrollment {
            secret: totp::secret_base32(&secret),
            qr_svg: totp::qr_svg(&otpauth_uri).map_err(internal)?,
            otpauth_uri,
        })
    }

    /// Confirms the caller's new secret with a code from it; answers the ten recovery
    /// codes, shown this once.
    pub async fn confirm_totp(&self, me: &Me, code: &str) -> Result<RecoveryCodes, ApiError> {
        let codes = totp::new_recovery_codes().map_err(internal)?;
        let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
        self.check_code(me.user_id, code, CodeUse::Confirm, Some(&hashes))
            .await?;
        tracing::info!(user = %me.username, "TOTP confirmed");
        self.audit(audit::Act {
            actor: &me.username,
            action: "totp.enable",
            subject: &me.username,
            detail: "",
        })
        .await?;
        Ok(RecoveryCodes {
            recovery_codes: codes,
        })
    }

    /// Turns the caller's one-time codes off, with a current code or a recovery code.
    pub async fn disable_totp(&self, me: &Me, code: &str) -> Result<(), ApiError> {
        self.check_code(me.user_id, code, CodeUse::TurnOff, None)
            .await?;
        self.store.delete_totp(me.user_id).await?;
        tracing::info!(user = %me.username, "TOTP turned off");
        self.audit(audit::Act {
            actor: &me.username,
            action: "totp.disable",
            subject: &me.username,
            detail: "",
        })
        .await?;
        Ok(())
    }

    /// The sign-in rules (any signed-in caller may read them).
    pub async fn sign_in_policy(&self, _me: &Me) -> Result<SignInPolicy, ApiError> {
        self.sign_in_policy_now().await
    }

    pub(crate) async fn sign_in_policy_now(&self) -> Result<SignInPolicy, ApiError> {
        Ok(SignInPolicy {
            require_totp: self.store.setting(REQUIRE_TOTP).await?.as_deref() == Some("1"),
        })
    }

    /// Sets the sign-in rules (admin). Requiring one-time codes applies at each user's
    /// next request: one without a confirmed secret can then only enroll one.
    pub async fn set_sign_in_policy(
        &self,
        me: &Me,
        policy: SignInPolicy,
    ) -> Result<SignInPolicy, ApiError> {
        allow(me, Role::Admin)?;
        self.store
            .set_setting(REQUIRE_TOTP, if policy.require_totp { "1" } else { "0" })
            .await?;
        self.audit(audit::Act {
            actor: &me.username,
            action: "policy.require_totp",
            subject: "sign-in",
            detail: if policy.require_totp { "on" } else { "off" },
        })
        .await?;
        self.sign_in_policy(me).await
    }

    /// Checks a one-time code (or, where `purpose` allows, a recovery code) of a user:
    /// throttled per user (five free failures, then each try waits, doubling), each code
    /// accepted once. `confirm` carries the recovery codes' hashes when the code confirms a
    /// new secret.
    pub(crate) async fn check_code(
        &self,
        user_id: i64,
        code: &str,
        purpose: CodeUse,
        confirm: Option<&[String]>,
    ) -> Result<(), ApiError> {
        let scope = format!("totp:{user_id}");
        let now = now_s();
        for (_, failures, last_at) in self.store.login_failures(&[&scope]).await? {
            if let Some(seconds) = auth::retry_after(failures, last_at, FREE_TOTP_FAILURES, now) {
                tracing::warn!(
                    user_id,
                    ?purpose,
                    "one-time code refused: too many failures"
                );
                return Err(ApiError::TooManyAttempts {
                    retry_after_s: seconds,
                });
            }
        }
        let accepted = self.code_matches(user_id, code, purpose, confirm).await?;
        if !accepted {
            self.store
                .record_login_failure(&[&scope], auth::FORGET_AFTER_S)
                .await?;
            tracing::info!(user_id, ?purpose, "one-time code refused");
            return Err(ApiError::InvalidTotp);
        }
        self.store.clear_login_failures(&scope).await?;
        Ok(())
    }

    async fn code_matches(
        &self,
        user_id: i64,
        code: &str,
        purpose: CodeUse,
        confirm: Option<&[String]>,
    ) -> Result<bool, ApiError> {
        let Some(row) = self.store.totp(user_id).await? else {
            return Err(ApiError::TotpNotEnabled);
        };
        match (purpose, row.confirmed) {
            (CodeUse::Confirm, true) => return Err(ApiError::TotpAlreadyEnabled),
            (CodeUse::Confirm, false) => {}
            (_, false) => return Err(ApiError::TotpNotEnabled),
            (_, true) => {}
        }
        let code = code.trim();
        if code.len() > 64 {
            return Err(ApiError::invalid(
                Field::TotpCode,
                "A one-time code is six digits; a recovery code XXXXX-XXXXX.",
            ));
        }
        let recovery_allowed = matches!(purpose, CodeUse::SignIn | CodeUse::TurnOff);
        if recovery_allowed && !code.bytes().all(|b| b.is_ascii_digit()) {
            let kept = self.store.recovery_codes(user_id).await?;
            let hashes: Vec<String> = kept.iter().map(|(_, h)| h.clone()).collect();
            return match totp::find_recovery_code(&hashes, code) {
                Some(i) => {
                    let used = self.store.use_recovery_code(kept[i].0).await?;
                    if used {
                        tracing::info!(user_id, left = kept.len() - 1, "recovery code used");
                    }
                    Ok(used)
                }
                None => Ok(false),
            };
        }
        let plain = self
            .seal_key()?
            .open(TOTP_SEAL, &row.secret_sealed)
            .map_err(internal)?;
        let secret: [u8; 20] = plain.try_into().map_err(|_| {
            tracing::error!(user_id, "a stored TOTP secret is not 20 bytes");
            ApiError::Internal
        })?;
        let last = u64::try_from(row.last_step).ok().filter(|s| *s > 0);
        let step = match totp::check(&secret, code, now_s().max(0) as u64, last) {
            Ok(step) => step,
            Err(totp::TotpError::Malformed) => {
                return Err(ApiError::invalid(
                    Field::TotpCode,
                    "A one-time code is the six digits the authenticator app shows.",
                ));
            }
            Err(_) => return Ok(false),
        };
        let step = i64::try_from(step).map_err(internal)?;
        // The conditional update takes the step once, however many requests race with it.
        Ok(self.store.take_totp_step(user_id, step, confirm).await?)
    }

    /// The caller as a session shows them, with the sign-in policy applied.
    pub(crate) fn me_of_session(&self, u: crate::store::SessionUser) -> Me {
        Me {
            user_id: u.user_id,
            username: u.username,
            role: u.role,
            must_enroll_totp: u.totp_required && !u.totp_enabled,
            csrf_token: Some(u.csrf_token),
        }
    }
}
