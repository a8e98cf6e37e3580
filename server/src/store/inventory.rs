//! Each agent's newest inventory: one snapshot row and its items, replaced whole (in the
//! batch's transaction) by a newer snapshot.
use sqlx::Row;

use super::{Store, StoreError};

/// One item of an inventory as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryItemRow {
    /// systemd | docker | compose | process.
    pub kind: String,
    /// Unit name, container name, `project::service`, executable path.
    pub identifier: String,
    /// What the dashboard calls it.
    pub name: String,
    /// The item's own state (`active`, `running`, `exited`, …).
    pub state: String,
    pub detail: String,
}

/// An agent's newest inventory.
#[derive(Debug, Clone)]
pub struct InventoryRow {
    pub taken_ms: i64,
    pub errors: Vec<String>,
    pub items: Vec<InventoryItemRow>,
}

/// A snapshot as rows.
pub(super) fn items_of(s: &proto::InventorySnapshot) -> Vec<InventoryItemRow> {
    let item =
        |kind: &str, identifier: &str, name: &str, state: &str, detail: String| InventoryItemRow {
            kind: kind.to_owned(),
            identifier: identifier.to_owned(),
            name: name.to_owned(),
            state: state.to_owned(),
            detail,
        };
    let mut out = Vec::new();
    for u in &s.units {
        out.push(item(
            "systemd",
            &u.name,
            &u.name,
            &u.active_state,
            format!("{} {} · {}", u.load_state, u.sub_state, u.description),
        ));
    }
    for c in &s.containers {
        out.push(item("docker", &c.name, &c.name, &c.state, c.image.clone()));
    }
    for c in &s.compose_services {
        let id = format!("{}::{}", c.project, c.service);
        out.push(item(
            "compose",
            &id,
            &c.service,
            &c.state,
            format!(
                "{} container{} in project {}",
                c.containers,
                if c.containers == 1 { "" } else { "s" },
                c.project
            ),
        ));
    }
    for p in &s.processes {
        let name = p.exe.rsplit('/').next().unwrap_or(&p.exe);
        out.push(item(
            "process",
            &p.exe,
            name,
            "running",
            format!(
                "pid {}, user {}{}",
                p.pid,
                p.user,
                if p.count > 1 {
                    format!(", {} processes", p.count)
                } else {
                    String::new()
                }
            ),
        ));
    }
    // Two entries of one kind and identifier (an agent's duplicate) keep the first.
    let mut seen = std::collections::HashSet::new();
    out.retain(|i| seen.insert((i.kind.clone(), i.identifier.clone())));
    out
}

/// Replaces the agent's inventory with `snapshot`, taken at `ts_ms`, unless a newer one is
/// stored (a backfill after an outage).
pub(super) async fn apply(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: &str,
    ts_ms: i64,
    snapshot: &proto::InventorySnapshot,
) -> Result<(), StoreError> {
    let newer = sqlx::query(
        "select 1 as one from inventory_snapshot where agent_id = $1 and taken_ms > $2",
    )
    .bind(agent_id)
    .bind(ts_ms)
    .fetch_optional(&mut **tx)
    .await?;
    if newer.is_some() {
        return Ok(());
    }
    sqlx::query(
        "insert into inventory_snapshot (agent_id, taken_ms, errors) values ($1, $2, $3) \
         on conflict (agent_id) do update set taken_ms = excluded.taken_ms, errors = excluded.errors",
    )
    .bind(agent_id)
    .bind(ts_ms)
    .bind(serde_json::to_string(&snapshot.errors).unwrap_or_else(|_| "[]".into()))
    .execute(&mut **tx)
    .await?;
    sqlx::query("delete from inventory_item where agent_id = $1")
        .bind(agent_id)
        .execute(&mut **tx)
        .await?;
    for i in items_of(snapshot) {
        sqlx::query(
            "insert into inventory_item (agent_id, kind, identifier, name, state, detail) \
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(agent_id)
        .bind(&i.kind)
        .bind(&i.identifier)
        .bind(&i.name)
        .bind(&i.state)
        .bind(&i.detail)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn item_row(r: sqlx::any::AnyRow) -> Result<InventoryItemRow, StoreError> {
    Ok(InventoryItemRow {
        kind: r.try_get("kind")?,
        identifier: r.try_get("identifier")?,
        name: r.try_get("name")?,
        state: r.try_get("state")?,
        detail: r.try_get("detail")?,
    })
}

impl Store {
    /// The agent's newest inventory, if it sent one.
    pub async fn inventory(&self, agent_id: &str) -> Result<Option<InventoryRow>, StoreError> {
        let Some(head) =
            sqlx::query("select taken_ms, errors from inventory_snapshot where agent_id = $1")
                .bind(agent_id)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "select kind, identifier, name, state, detail from inventory_item \
             where agent_id = $1 order by kind, identifier",
        )
        .bind(agent_id)
        .fetch_all(&self.pool)
        .await?;
        let errors: String = head.try_get("errors")?;
        Ok(Some(InventoryRow {
            taken_ms: head.try_get("taken_ms")?,
            errors: serde_json::from_str(&errors).unwrap_or_default(),
            items: rows.into_iter().map(item_row).collect::<Result<_, _>>()?,
        }))
    }
}
