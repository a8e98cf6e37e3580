-- The newest inventory each agent sent (what runs there: systemd units, containers, Compose
-- services, executables), replaced whole by a newer one; the apps' observed states are read
-- from it.
create table inventory_snapshot (
    agent_id text primary key references agent(agent_id) on delete cascade,
    taken_ms integer not null,
    -- JSON array of why a part is missing (systemctl absent, Docker unreachable).
    errors text not null
);
-- One item of a snapshot. kind: systemd | docker | compose | process; identifier: the unit
-- name, the container name, project::service, the executable's absolute path. state is the
-- item's own (active/running/…); detail what else is shown (sub-state, image, user, pid).
create table inventory_item (
    agent_id text not null references agent(agent_id) on delete cascade,
    kind text not null,
    identifier text not null,
    name text not null,
    state text not null,
    detail text not null,
    primary key (agent_id, kind, identifier)
);
