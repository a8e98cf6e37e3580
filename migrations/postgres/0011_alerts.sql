-- Alerts: rules (the rule itself as JSON, so new kinds need no migration), alerts and their
-- timelines, silences, notification channels (settings sealed with the data dir's key) and
-- deliveries (kept until sent or given up, so they survive a restart and go out once).
-- Times are unix milliseconds (_ms) or seconds (_at); agent_id NULL is the local host, or
-- the whole fleet when subject = 'fleet'.
create table alert_rule (
    alert_rule_id bigint generated always as identity primary key,
    name text not null,
    spec text not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table alert (
    alert_id bigint generated always as identity primary key,
    alert_rule_id bigint references alert_rule(alert_rule_id) on delete set null,
    rule_name text not null,
    severity text not null,
    state text not null,
    agent_id text references agent(agent_id) on delete cascade,
    host_label text not null,
    subject text not null,
    summary text not null,
    value double precision,
    culprits text not null default '[]',
    started_at_ms bigint not null,
    fired_at_ms bigint,
    resolved_at_ms bigint,
    acknowledged_by text,
    acknowledged_at_ms bigint,
    silenced_by bigint,
    last_notified_at_ms bigint
);
create index alert_by_state on alert (state, alert_id);
create index alert_by_rule on alert (alert_rule_id);

create table alert_event (
    alert_event_id bigint generated always as identity primary key,
    alert_id bigint not null references alert(alert_id) on delete cascade,
    at_ms bigint not null,
    kind text not null,
    text text not null
);
create index alert_event_by_alert on alert_event (alert_id, alert_event_id);

create table silence (
    silence_id bigint generated always as identity primary key,
    matcher text not null,
    starts_at_ms bigint not null,
    ends_at_ms bigint,
    weekly text,
    author text not null,
    comment text not null,
    created_at_ms bigint not null
);

create table notification_channel (
    notification_channel_id bigint generated always as identity primary key,
    name text not null unique,
    kind text not null,
    settings_sealed text not null,
    severities text not null default '[]',
    group_wait_s bigint not null,
    repeat_interval_s bigint,
    send_resolved bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table notification_delivery (
    notification_delivery_id bigint generated always as identity primary key,
    notification_channel_id bigint not null
        references notification_channel(notification_channel_id) on delete cascade,
    items text not null,
    state text not null,
    attempts bigint not null default 0,
    next_attempt_ms bigint not null,
    created_at_ms bigint not null,
    sent_at_ms bigint,
    last_status bigint,
    last_error text,
    latency_ms bigint
);
create index delivery_due on notification_delivery (state, notification_channel_id, next_attempt_ms);
