-- The audit log and the transparency log over it: every security-relevant act is a row of
-- audit_log and the leaf of the same index of an RFC 6962 Merkle tree. tlog_node keeps the
-- hash of every complete subtree as leaves arrive (level 0: the leaves), so a proof is a
-- few lookups; tlog_head serialises appends; tlog_checkpoint keeps the signed tree heads.
create table audit_log (
    leaf_index integer primary key,
    ts integer not null,
    actor text not null,
    action text not null,
    subject text not null,
    detail text not null
);
create table tlog_node (
    level integer not null,
    node_index integer not null,
    hash blob not null,
    primary key (level, node_index)
);
create table tlog_head (
    tlog_head_id integer primary key check (tlog_head_id = 1),
    size integer not null
);
insert into tlog_head (tlog_head_id, size) values (1, 0);
create table tlog_checkpoint (
    size integer primary key,
    note text not null,
    created_at integer not null
);
-- Keys the server signs with (the log's checkpoints and the action tokens): the private
-- half sealed under the secret key file, shared by replicas through the database.
create table server_key (
    purpose text primary key,
    public_key blob not null,
    sealed_private text not null,
    created_at integer not null
);
