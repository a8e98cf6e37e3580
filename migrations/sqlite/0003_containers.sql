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
    created_unix integer not null default 0,
    labels text not null default '{}',
    listed_at integer not null,
    cpu_pct real,
    memory_bytes integer,
    memory_limit_bytes integer,
    net_rx_bps real,
    net_tx_bps real,
    block_read_bps real,
    block_write_bps real,
    stats_at integer,
    primary key (agent_id, container_id)
);

create table container_sample (
    agent_id text not null references agent(agent_id) on delete cascade,
    container_id text not null,
    ts integer not null,
    cpu_pct real not null,
    memory_bytes integer not null,
    memory_limit_bytes integer not null,
    net_rx_bps real not null,
    net_tx_bps real not null,
    block_read_bps real not null,
    block_write_bps real not null
);
create index container_sample_agent_ts on container_sample(agent_id, ts);

create table container_event (
    container_event_id integer primary key autoincrement,
    agent_id text not null references agent(agent_id) on delete cascade,
    container_id text not null,
    name text not null,
    action text not null,
    detail text not null,
    ts integer not null
);
create index container_event_agent_ts on container_event(agent_id, ts);
