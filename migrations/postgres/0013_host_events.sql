-- A host's timeline beside its container lifecycle (container_event): stream connects and
-- disconnects and certificate changes (new, renewed, validity changed).
create table host_event (
    host_event_id bigint generated always as identity primary key,
    agent_id text not null references agent(agent_id) on delete cascade,
    ts bigint not null,
    kind text not null,
    subject text not null,
    detail text not null
);
create index host_event_agent_ts on host_event(agent_id, ts);
