-- Accounts, sessions, API tokens, agents and host samples. Times are unix seconds (UTC),
-- sample times unix milliseconds. agent_id NULL means the local host.
create table "user" (
    user_id bigint generated always as identity primary key,
    username text not null unique,
    password_hash text not null,
    created_at bigint not null
);

create table session (
    session_id bigint generated always as identity primary key,
    user_id bigint not null references "user"(user_id) on delete cascade,
    token_hash text not null unique,
    csrf_token text not null,
    created_at bigint not null,
    expires_at bigint not null
);
create index session_expires_at on session(expires_at);

create table api_token (
    api_token_id bigint generated always as identity primary key,
    user_id bigint not null references "user"(user_id) on delete cascade,
    name text not null,
    token_hash text not null unique,
    token_hint text not null,
    created_at bigint not null,
    last_used_at bigint
);
create index api_token_user on api_token(user_id);

create table agent (
    agent_id text primary key,
    label text not null,
    hostname text not null,
    status text not null default 'active',
    created_at bigint not null,
    last_seen_at bigint
);

create table host_sample (
    agent_id text references agent(agent_id) on delete cascade,
    ts bigint not null,
    cpu_pct double precision not null,
    load1 double precision not null,
    load5 double precision not null,
    load15 double precision not null,
    mem_total bigint not null,
    mem_used bigint not null,
    swap_total bigint not null,
    swap_used bigint not null,
    disk_total bigint not null,
    disk_used bigint not null,
    net_rx_bps double precision not null,
    net_tx_bps double precision not null
);
create index host_sample_agent_ts on host_sample(agent_id, ts);

-- One row once the first-run setup has created the admin: makes setup work exactly once,
-- even when two requests race.
create table first_run (
    first_run_id bigint primary key check (first_run_id = 1),
    completed_at bigint not null
);
