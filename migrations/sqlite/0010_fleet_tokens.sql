-- Fleet enrollment tokens: a token may enroll up to max_uses agents (null: any number within
-- its TTL); uses counts them. Tokens made before this migration were single use. Each agent
-- records the token that enrolled it, so a token can list its agents.
alter table enrollment_token add column max_uses integer default 1;
alter table enrollment_token add column uses integer not null default 0;
update enrollment_token set uses = 1 where used_at is not null;
alter table agent add column enrollment_token_id integer;
update agent set enrollment_token_id =
    (select t.enrollment_token_id from enrollment_token t where t.used_by_agent_id = agent.agent_id);
create index agent_by_enrollment_token on agent (enrollment_token_id);
