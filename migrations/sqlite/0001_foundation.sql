-- Accounts, sessions, API tokens, agents and host samples. Times are unix seconds (UTC),
-- sample times unix milliseconds. agent_id NULL means the local host.
create table "user" (
    user_id integer primary key autoincrement,
    username text not null unique,
    password_hash text not null,
    created_at integer not null
);

create table session (
    session_id integer primary key autoincrement,
    user_id integer not null references "user"(user_id) on delete cascade,
    token_hash text not null unique,
    csrf_token text not null,
    created_at integer not null,
    expires_at integer not null
);
create index session_expires_at on session(expires_at);

create table api_token (
    api_token_id integer primary key autoincrement,
    user_id integer not null references "user"(user_id) on delete cascade,
    name text not null,
    token_hash text not null unique,
    token_hint text not null,
    created_at integer not null,
    last_used_at integer
);
create index api_token_user on api_token(user_id);

create table agent (
    agent_id text primary key,
    label text not null,
    hostname text not null,
    status text not null default 'active',
    created_at integer not null,
    last_seen_at integer
);

create table host_sample (
    agent_id text references agent(agent_id) on delete cascade,
    ts integer not null,
    cpu_pct real not null,
    load1 real not null,
    load5 real not null,
    load15 real not null,
    mem_total integer not null,
    mem_used integer not null,
    swap_total integer not null,
    swap_used integer not null,
    disk_total integer not null,
    disk_used integer not null,
    net_rx_bps real not null,
    net_tx_bps real not null
);
create index host_sample_agent_ts on host_sample(agent_id, ts);

-- One row once the first-run setup has created the admin: makes setup work exactly once,
-- even when two requests race.
create table first_run (
    first_run_id integer primary key check (first_run_id = 1),
    completed_at integer not null
);
