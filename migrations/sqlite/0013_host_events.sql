-- A host's timeline beside its container lifecycle (container_event): stream connects and
-- disconnects and certificate changes (new, renewed, validity changed).
create table host_event (
    host_event_id integer primary key,
    agent_id text not null references agent(agent_id) on delete cascade,
    ts integer not null,
    kind text not null,
    subject text not null,
    detail text not null
);
create index host_event_agent_ts on host_event(agent_id, ts);
