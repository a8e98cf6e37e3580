-- Labelled series beside the host totals (per core, file system, interface and container;
-- swap and load): their names live here, their values in host_chunk under their own layers
-- (server/src/store/history/series.rs). Container samples move there too: the row table
-- was written and never read.
create table series_name (
    series_id integer primary key,
    agent_id text references agent(agent_id) on delete cascade,
    family integer not null,
    label text not null
);
create unique index series_name_key on series_name(coalesce(agent_id, ''), family, label);

drop table container_sample;
