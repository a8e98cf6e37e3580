-- Failed sign-ins, counted per (username, address) and per address, so the throttle survives
-- a restart and a stranger's failures cannot lock out a user signing in from elsewhere.
create table login_failure (
    scope text primary key,
    failures bigint not null,
    last_failure_at bigint not null
);
