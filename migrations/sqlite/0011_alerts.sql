-- Alerts: rules (the rule itself as JSON, so new kinds need no migration), alerts and their
-- timelines, silences, notification channels (settings sealed with the data dir's key) and
-- deliveries (kept until sent or given up, so they survive a restart and go out once).
-- Times are unix milliseconds (_ms) or seconds (_at); agent_id NULL is the local host, or
-- the whole fleet when subject = 'fleet'.
create table alert_rule (
    alert_rule_id integer primary key autoincrement,
    name text not null,
    spec text not null,
    created_at integer not null,
    updated_at integer not null
);

create table alert (
    alert_id integer primary key autoincrement,
    alert_rule_id integer references alert_rule(alert_rule_id) on delete set null,
    rule_name text not null,
    severity text not null,
    state text not null,
    agent_id text references agent(agent_id) on delete cascade,
    host_label text not null,
    subject text not null,
    summary text not null,
    value real,
    culprits text not null default '[]',
    started_at_ms integer not null,
    fired_at_ms integer,
    resolved_at_ms integer,
    acknowledged_by text,
    acknowledged_at_ms integer,
    silenced_by integer,
    last_notified_at_ms integer
);
create index alert_by_state on alert (state, alert_id);
create index alert_by_rule on alert (alert_rule_id);

create table alert_event (
    alert_event_id integer primary key autoincrement,
    alert_id integer not null references alert(alert_id) on delete cascade,
    at_ms integer not null,
    kind text not null,
    text text not null
);
create index alert_event_by_alert on alert_event (alert_id, alert_event_id);

create table silence (
    silence_id integer primary key autoincrement,
    matcher text not null,
    starts_at_ms integer not null,
    ends_at_ms integer,
    weekly text,
    author text not null,
    comment text not null,
    created_at_ms integer not null
);

create table notification_channel (
    notification_channel_id integer primary key autoincrement,
    name text not null unique,
    kind text not null,
    settings_sealed text not null,
    severities text not null default '[]',
    group_wait_s integer not null,
    repeat_interval_s integer,
    send_resolved integer not null,
    created_at integer not null,
    updated_at integer not null
);

create table notification_delivery (
    notification_delivery_id integer primary key autoincrement,
    notification_channel_id integer not null
        references notification_channel(notification_channel_id) on delete cascade,
    items text not null,
    state text not null,
    attempts integer not null default 0,
    next_attempt_ms integer not null,
    created_at_ms integer not null,
    sent_at_ms integer,
    last_status integer,
    last_error text,
    latency_ms integer
);
create index delivery_due on notification_delivery (state, notification_channel_id, next_attempt_ms);
