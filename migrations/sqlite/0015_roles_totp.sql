-- Roles, disabled accounts, narrower API tokens and the second factor. Accounts that
-- existed before roles could do everything: they stay admins.
alter table "user" add column role text not null default 'admin';
alter table "user" add column disabled integer not null default 0;
-- 1: this user signs in with a one-time code after the password.
alter table "user" add column totp_at_sign_in integer not null default 0;
-- NULL: the token acts with its user's role; else with this one (never wider).
alter table api_token add column role text;

-- One TOTP secret per user, sealed; confirmed once a code from it was accepted. last_step
-- is the step of the newest accepted code: that code and every older one are refused.
create table totp (
    user_id integer primary key references "user"(user_id) on delete cascade,
    secret_sealed text not null,
    created_at integer not null,
    confirmed_at integer,
    last_step integer not null default 0
);
-- The ten one-time recovery codes, as SHA-256.
create table totp_recovery (
    totp_recovery_id integer primary key autoincrement,
    user_id integer not null references "user"(user_id) on delete cascade,
    code_hash text not null,
    used_at integer
);
create index totp_recovery_user on totp_recovery(user_id);

-- Server-wide settings an admin changes at run time (name → value).
create table setting (
    name text primary key,
    value text not null
);
