-- Host history moves to packed chunks (server/src/store/history.rs): one row per host and
-- hour of raw samples, per host and hour of 1-minute rollups, per host and day of 1-hour
-- rollups. The row tables of earlier versions are renamed; the server converts their rows
-- into chunks when it starts and then drops them.
create table host_chunk (
    host_chunk_id bigint generated always as identity primary key,
    agent_id text references agent(agent_id) on delete cascade,
    layer bigint not null,
    period bigint not null,
    first_ts bigint not null,
    last_ts bigint not null,
    n bigint not null,
    pending bigint not null,
    data bytea not null
);
create index host_chunk_series on host_chunk(agent_id, layer, period);
create index host_chunk_layer_period on host_chunk(layer, period);
create index host_chunk_pending on host_chunk(agent_id, period) where pending = 1;

alter table host_sample rename to legacy_host_sample;
alter table host_rollup_1m rename to legacy_host_rollup_1m;
alter table host_rollup_1h rename to legacy_host_rollup_1h;
drop table rollup_position;
