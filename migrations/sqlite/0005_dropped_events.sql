-- Events an agent's spool dropped (size or age bound), as it last reported.
alter table agent add column dropped_events integer not null default 0;
