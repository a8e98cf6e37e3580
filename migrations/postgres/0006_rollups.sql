-- host_sample gets an insertion-ordered id that the rollup worker follows, and 1-minute and
-- 1-hour rollups with count, mean, min and max.
alter table host_sample add column host_sample_id bigint generated always as identity;
create index host_sample_id on host_sample(host_sample_id);
create index host_sample_ts on host_sample(ts);

create table host_rollup_1m (
    agent_id text references agent(agent_id) on delete cascade,
    ts bigint not null,
    n bigint not null,
    cpu_avg double precision not null, cpu_min double precision not null, cpu_max double precision not null,
    mem_avg double precision not null, mem_min double precision not null, mem_max double precision not null,
    disk_avg double precision not null, disk_min double precision not null, disk_max double precision not null,
    rx_avg double precision not null, rx_min double precision not null, rx_max double precision not null,
    tx_avg double precision not null, tx_min double precision not null, tx_max double precision not null
);
create index host_rollup_1m_agent_ts on host_rollup_1m(agent_id, ts);
create index host_rollup_1m_ts on host_rollup_1m(ts);

create table host_rollup_1h (
    agent_id text references agent(agent_id) on delete cascade,
    ts bigint not null,
    n bigint not null,
    cpu_avg double precision not null, cpu_min double precision not null, cpu_max double precision not null,
    mem_avg double precision not null, mem_min double precision not null, mem_max double precision not null,
    disk_avg double precision not null, disk_min double precision not null, disk_max double precision not null,
    rx_avg double precision not null, rx_min double precision not null, rx_max double precision not null,
    tx_avg double precision not null, tx_min double precision not null, tx_max double precision not null
);
create index host_rollup_1h_agent_ts on host_rollup_1h(agent_id, ts);
create index host_rollup_1h_ts on host_rollup_1h(ts);

create table rollup_position (
    rollup_position_id bigint primary key check (rollup_position_id = 1),
    host_sample_id bigint not null
);
insert into rollup_position (rollup_position_id, host_sample_id) values (1, 0);
