-- Remote agents: identity, enrollment and the committed sequence position.
alter table agent add column public_key text not null default '';
alter table agent add column runtime text not null default 'bare';
alter table agent add column os text not null default '';
alter table agent add column arch text not null default '';
alter table agent add column agent_version text not null default '';
alter table agent add column tags text not null default '[]';
alter table agent add column last_seq bigint not null default 0;
alter table agent add column revoked_at bigint;

create table enrollment_token (
    enrollment_token_id bigint generated always as identity primary key,
    token_hash text not null unique,
    token_hint text not null,
    created_by bigint references "user"(user_id) on delete set null,
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint,
    used_by_agent_id text
);
