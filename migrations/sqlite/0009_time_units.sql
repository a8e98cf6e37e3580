-- One unit per row: container and certificate rows held seconds (created_unix, not_after)
-- beside milliseconds (listed_at, stats_at, scanned_at). Every time in these rows is now unix
-- milliseconds, and each column's name says so.
alter table container rename column created_unix to created_ms;
update container set created_ms = created_ms * 1000;
alter table container rename column listed_at to listed_ms;
alter table container rename column stats_at to stats_ms;
alter table certificate rename column not_after to not_after_ms;
update certificate set not_after_ms = not_after_ms * 1000 where not_after_ms is not null;
alter table certificate rename column scanned_at to scanned_ms;
