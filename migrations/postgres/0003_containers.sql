-- Containers reported by agents: the current list with the newest figures, their samples and
-- their lifecycle events.
create table container (
    agent_id text not null references agent(agent_id) on delete cascade,
    container_id text not null,
    name text not null,
    image text not null,
    state text not null,
    status text not null,
    health text not null default '',
    created_unix bigint not null default 0,
    labels text not null default '{}',
    listed_at bigint not null,
    cpu_pct double precision,
    memory_bytes bigint,
    memory_limit_bytes bigint,
    net_rx_bps double precision,
    net_tx_bps double precision,
    block_read_bps double precision,
    block_write_bps double precision,
    stats_at bigint,
    primary key (agent_id, container_id)
);

create table container_sample (
    agent_id text not null references agent(agent_id) on delete cascade,
    container_id text not null,
    ts bigint not null,
    cpu_pct double precision not null,
    memory_bytes bigint not null,
    memory_limit_bytes bigint not null,
    net_rx_bps double precision not null,
    net_tx_bps double precision not null,
    block_read_bps double precision not null,
    block_write_bps double precision not null
);
create index container_sample_agent_ts on container_sample(agent_id, ts);

create table container_event (
    container_event_id bigint generated always as identity primary key,
    agent_id text not null references agent(agent_id) on delete cascade,
    container_id text not null,
    name text not null,
    action text not null,
    detail text not null,
    ts bigint not null
);
create index container_event_agent_ts on container_event(agent_id, ts);
