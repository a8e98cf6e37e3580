-- host_sample gets an insertion-ordered id (SQLite's rowid, so no extra space) that the
-- rollup worker follows, and 1-minute and 1-hour rollups with count, mean, min and max.
create table host_sample_new (
    host_sample_id integer primary key autoincrement,
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
insert into host_sample_new (agent_id, ts, cpu_pct, load1, load5, load15, mem_total, mem_used, swap_total,
    swap_used, disk_total, disk_used, net_rx_bps, net_tx_bps)
select agent_id, ts, cpu_pct, load1, load5, load15, mem_total, mem_used, swap_total, swap_used, disk_total,
    disk_used, net_rx_bps, net_tx_bps from host_sample order by ts;
drop table host_sample;
alter table host_sample_new rename to host_sample;
create index host_sample_agent_ts on host_sample(agent_id, ts);
create index host_sample_ts on host_sample(ts);

create table host_rollup_1m (
    agent_id text references agent(agent_id) on delete cascade,
    ts integer not null,
    n integer not null,
    cpu_avg real not null, cpu_min real not null, cpu_max real not null,
    mem_avg real not null, mem_min real not null, mem_max real not null,
    disk_avg real not null, disk_min real not null, disk_max real not null,
    rx_avg real not null, rx_min real not null, rx_max real not null,
    tx_avg real not null, tx_min real not null, tx_max real not null
);
create index host_rollup_1m_agent_ts on host_rollup_1m(agent_id, ts);
create index host_rollup_1m_ts on host_rollup_1m(ts);

create table host_rollup_1h (
    agent_id text references agent(agent_id) on delete cascade,
    ts integer not null,
    n integer not null,
    cpu_avg real not null, cpu_min real not null, cpu_max real not null,
    mem_avg real not null, mem_min real not null, mem_max real not null,
    disk_avg real not null, disk_min real not null, disk_max real not null,
    rx_avg real not null, rx_min real not null, rx_max real not null,
    tx_avg real not null, tx_min real not null, tx_max real not null
);
create index host_rollup_1h_agent_ts on host_rollup_1h(agent_id, ts);
create index host_rollup_1h_ts on host_rollup_1h(ts);

create table rollup_position (
    rollup_position_id integer primary key check (rollup_position_id = 1),
    host_sample_id integer not null
);
insert into rollup_position (rollup_position_id, host_sample_id) values (1, 0);
