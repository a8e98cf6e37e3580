-- The newest scan of each certificate target an agent watches.
create table certificate (
    agent_id text not null references agent(agent_id) on delete cascade,
    target text not null,
    subject text not null,
    issuer text not null,
    sans text not null default '[]',
    not_after integer,
    chain_valid integer not null,
    error text not null default '',
    scanned_at integer not null,
    primary key (agent_id, target)
);
