-- Tracked applications (what should run on a host) and the restarts made on them.
create table app (
    app_id bigint generated always as identity primary key,
    agent_id text not null references agent(agent_id) on delete cascade,
    name text not null,
    app_type text not null,
    identifier text not null,
    expected_state text not null,
    owner_email text not null default '',
    runbook_url text not null default '',
    notes text not null default '',
    -- Process apps: the restart command, a JSON array (absolute path, then arguments).
    restart_command text not null default '[]',
    observed_state text not null default 'unknown',
    consecutive_mismatch bigint not null default 0,
    last_state_change bigint,
    last_checked bigint,
    created_at bigint not null,
    unique (agent_id, app_type, identifier)
);
create index app_agent on app(agent_id);

-- Each restart: the signed token's fields, where it is, and what came back.
create table action (
    action_id bigint generated always as identity primary key,
    eat_id text not null unique,
    app_id bigint references app(app_id) on delete set null,
    agent_id text not null references agent(agent_id) on delete cascade,
    user_id bigint references "user"(user_id) on delete set null,
    action text not null,
    app_type text not null,
    identifier text not null,
    requested_by text not null,
    reason text not null,
    -- The signed token and its signature, pushed again if the agent reconnects in time.
    eat bytea not null,
    signature bytea not null,
    log_index bigint not null,
    result_log_index bigint,
    state text not null,
    requested_ms bigint not null,
    issued_at bigint not null,
    expires_at bigint not null,
    finished_ms bigint,
    exit_code bigint,
    stdout text not null default '',
    stderr text not null default '',
    error text not null default ''
);
create index action_app on action(app_id, action_id);
create index action_pending on action(agent_id, state);

-- The size of the last checkpoint each agent accepted, so the next order proves
-- consistency from it.
alter table agent add column tlog_size bigint not null default 0;
