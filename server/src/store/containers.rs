use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError};

/// One event of a batch, in the form the store keeps.
#[derive(Debug, Clone)]
pub enum BatchItem {
    Host(super::SampleRow),
    ContainerList {
        ts_ms: i64,
        containers: Vec<proto::Container>,
    },
    ContainerSample {
        ts_ms: i64,
        sample: proto::ContainerSample,
    },
    ContainerEvent {
        ts_ms: i64,
        event: proto::ContainerEvent,
    },
    CertificateScan {
        ts_ms: i64,
        scan: proto::CertificateScan,
    },
    Inventory {
        ts_ms: i64,
        snapshot: proto::InventorySnapshot,
    },
    /// Kinds this server does not store yet; still counted in the sequence.
    Ignored,
}

/// A container sample's CPU and memory as labelled series of its container's name.
pub(super) fn series(s: &proto::ContainerSample) -> Vec<super::SeriesValue> {
    let value = |family, value| super::SeriesValue {
        family,
        label: s.name.clone(),
        value,
    };
    vec![
        value(app::SeriesFamily::ContainerCpu, s.cpu_pct),
        value(app::SeriesFamily::ContainerMemory, s.memory_bytes as f64),
    ]
}

/// What a scan changes about a watched certificate, in words: new, renewed (another expiry)
/// or a change of validity; `None` when it says what the stored scan said, or is older.
async fn certificate_change(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: &str,
    ts_ms: i64,
    scan: &proto::CertificateScan,
) -> Result<Option<String>, StoreError> {
    let not_after = (scan.not_after_unix != 0).then(|| scan.not_after_unix.saturating_mul(1000));
    let expires = |ms: Option<i64>| match ms {
        Some(ms) => format!(
            "expires {}",
            app::rfc3339_from_millis(ms).get(..10).unwrap_or_default()
        ),
        None => "no expiry read".to_owned(),
    };
    let validity = |valid: bool, error: &str| {
        if valid {
            "valid".to_owned()
        } else if error.is_empty() {
            "invalid".to_owned()
        } else {
            format!("invalid ({error})")
        }
    };
    let before = sqlx::query(
        "select not_after_ms, chain_valid, error, scanned_ms from certificate where agent_id = $1 and target = $2",
    )
    .bind(agent_id)
    .bind(&scan.target)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(before) = before else {
        return Ok(Some(format!(
            "watched: {}, {}",
            expires(not_after),
            validity(scan.chain_valid, &scan.error)
        )));
    };
    if before.try_get::<i64, _>("scanned_ms")? > ts_ms {
        return Ok(None);
    }
    let was_after: Option<i64> = before.try_get("not_after_ms")?;
    let was_valid = before.try_get::<i64, _>("chain_valid")? != 0;
    let mut changes = Vec::new();
    if was_after != not_after {
        let word = match (was_after, not_after) {
            (Some(a), Some(b)) if b > a => "renewed",
            _ => "replaced",
        };
        changes.push(format!("{word}: {}", expires(not_after)));
    }
    if was_valid != scan.chain_valid {
        changes.push(format!("now {}", validity(scan.chain_valid, &scan.error)));
    }
    Ok((!changes.is_empty()).then(|| changes.join("; ")))
}

/// Appends an entry to a host's timeline.
pub(super) async fn insert_host_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: &str,
    ts_ms: i64,
    kind: app::HostEventKind,
    subject: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into host_event (agent_id, ts, kind, subject, detail) values ($1, $2, $3, $4, $5)",
    )
    .bind(agent_id)
    .bind(ts_ms)
    .bind(kind.as_str())
    .bind(subject)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Appends an entry to a host's timeline (an agent deleted meanwhile has none).
    pub async fn record_host_event(
        &self,
        agent_id: &str,
        ts_ms: i64,
        kind: app::HostEventKind,
        subject: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into host_event (agent_id, ts, kind, subject, detail) \
             select agent_id, $2, $3, $4, $5 from agent where agent_id = $1",
        )
        .bind(agent_id)
        .bind(ts_ms)
        .bind(kind.as_str())
        .bind(subject)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that an agent's stream opened or closed. An agent deleted meanwhile has no
    /// timeline left to add to: that is not an error.
    pub async fn record_connection(
        &self,
        agent_id: &str,
        ts_ms: i64,
        connected: bool,
        detail: &str,
    ) -> Result<(), StoreError> {
        let kind = if connected {
            app::HostEventKind::Connected
        } else {
            app::HostEventKind::Disconnected
        };
        sqlx::query(
            "insert into host_event (agent_id, ts, kind, subject, detail)              select agent_id, $2, $3, '', $4 from agent where agent_id = $1",
        )
        .bind(agent_id)
        .bind(ts_ms)
        .bind(kind.as_str())
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A host's timeline, newest first: connections, certificate changes and container
    /// lifecycle events, at most `limit`.
    pub async fn host_events(
        &self,
        agent_id: &str,
        limit: i64,
    ) -> Result<Vec<app::HostEvent>, StoreError> {
        let rows = sqlx::query(
            "select ts, kind, subject, detail from host_event where agent_id = $1              union all              select ts, 'container' as kind, name as subject,              case when detail = '' then action else action || ': ' || detail end as detail              from container_event where agent_id = $1              order by ts desc limit $2",
        )
        .bind(agent_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: String = r.try_get("kind")?;
            let Some(kind) = app::HostEventKind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind)
            else {
                continue;
            };
            let ts_ms: i64 = r.try_get("ts")?;
            out.push(app::HostEvent {
                ts_ms,
                time: app::rfc3339_from_millis(ts_ms),
                kind,
                subject: r.try_get("subject")?,
                detail: r.try_get("detail")?,
            });
        }
        Ok(out)
    }

    /// Forgets timeline entries and container lifecycle events older than `before_ms`.
    pub async fn purge_host_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        for table in ["host_event", "container_event"] {
            removed += sqlx::query(AssertSqlSafe(format!("delete from {table} where ts < $1")))
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }
}

/// A stored container with its newest figures and its host's label.
#[derive(Debug, Clone)]
pub struct ContainerRow {
    pub agent_id: String,
    pub host_label: String,
    pub container_id: String,
    pub name: String,
    pub image: String,
    pub state: app::ContainerState,
    pub status: String,
    pub health: app::ContainerHealth,
    pub labels: std::collections::HashMap<String, String>,
    pub cpu_pct: Option<f64>,
    pub memory_bytes: Option<i64>,
    pub memory_limit_bytes: Option<i64>,
    pub net_rx_bps: Option<f64>,
    pub net_tx_bps: Option<f64>,
    pub block_read_bps: Option<f64>,
    pub block_write_bps: Option<f64>,
    pub stats_ms: Option<i64>,
}

fn container_row(r: sqlx::any::AnyRow) -> Result<ContainerRow, sqlx::Error> {
    let labels: String = r.try_get("labels")?;
    Ok(ContainerRow {
        agent_id: r.try_get("agent_id")?,
        host_label: r.try_get("host_label")?,
        container_id: r.try_get("container_id")?,
        name: r.try_get("name")?,
        image: r.try_get("image")?,
        state: app::ContainerState::from_docker(&r.try_get::<String, _>("state")?),
        status: r.try_get("status")?,
        health: app::ContainerHealth::from_docker(&r.try_get::<String, _>("health")?),
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        cpu_pct: r.try_get("cpu_pct")?,
        memory_bytes: r.try_get("memory_bytes")?,
        memory_limit_bytes: r.try_get("memory_limit_bytes")?,
        net_rx_bps: r.try_get("net_rx_bps")?,
        net_tx_bps: r.try_get("net_tx_bps")?,
        block_read_bps: r.try_get("block_read_bps")?,
        block_write_bps: r.try_get("block_write_bps")?,
        stats_ms: r.try_get("stats_ms")?,
    })
}

const SELECT: &str = "select c.agent_id, a.label as host_label, c.container_id, c.name, c.image, c.state, c.status, \
    c.health, c.labels, c.cpu_pct, c.memory_bytes, c.memory_limit_bytes, c.net_rx_bps, c.net_tx_bps, \
    c.block_read_bps, c.block_write_bps, c.stats_ms from container c join agent a on a.agent_id = c.agent_id";

/// What a lifecycle event does to a container's state.
fn state_after(action: &str) -> Option<app::ContainerState> {
    use app::ContainerState::*;
    match action {
        "start" | "unpause" => Some(Running),
        "die" | "stop" => Some(Exited),
        "pause" => Some(Paused),
        _ => None,
    }
}

/// A stored certificate scan with its host's label.
#[derive(Debug, Clone)]
pub struct CertificateRow {
    pub agent_id: String,
    pub host_label: String,
    pub target: String,
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_after_ms: Option<i64>,
    pub chain_valid: bool,
    pub error: String,
    pub scanned_ms: i64,
}

impl Store {
    /// Certificate scans, of one agent or all, soonest expiry first.
    pub async fn certificates(
        &self,
        agent_id: Option<&str>,
    ) -> Result<Vec<CertificateRow>, StoreError> {
        let filter = if agent_id.is_some() {
            " where c.agent_id = $1"
        } else {
            ""
        };
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "select c.agent_id, a.label as host_label, c.target, c.subject, c.issuer, c.sans, c.not_after_ms, c.chain_valid, \
             c.error, c.scanned_ms from certificate c join agent a on a.agent_id = c.agent_id{filter} \
             order by c.not_after_ms is null, c.not_after_ms, c.target"
        )));
        if let Some(id) = agent_id {
            query = query.bind(id.to_owned());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| {
                let sans: String = r.try_get("sans")?;
                Ok(CertificateRow {
                    agent_id: r.try_get("agent_id")?,
                    host_label: r.try_get("host_label")?,
                    target: r.try_get("target")?,
                    subject: r.try_get("subject")?,
                    issuer: r.try_get("issuer")?,
                    sans: serde_json::from_str(&sans).unwrap_or_default(),
                    not_after_ms: r.try_get("not_after_ms")?,
                    chain_valid: r.try_get::<i64, _>("chain_valid")? != 0,
                    error: r.try_get("error")?,
                    scanned_ms: r.try_get("scanned_ms")?,
                })
            })
            .collect()
    }

    /// Containers, of one agent or all, by host and name.
    pub async fn containers(
        &self,
        agent_id: Option<&str>,
    ) -> Result<Vec<ContainerRow>, StoreError> {
        let filter = if agent_id.is_some() {
            " where c.agent_id = $1"
        } else {
            ""
        };
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "{SELECT}{filter} order by a.label, c.name"
        )));
        if let Some(id) = agent_id {
            query = query.bind(id.to_owned());
        }
        Ok(query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(container_row)
            .collect::<Result<_, _>>()?)
    }

    /// The `limit` running containers with the highest `column` (cpu_pct or memory_bytes).
    pub async fn top_containers(
        &self,
        agent_id: Option<&str>,
        by_memory: bool,
        limit: i64,
    ) -> Result<Vec<ContainerRow>, StoreError> {
        let column = if by_memory {
            "c.memory_bytes"
        } else {
            "c.cpu_pct"
        };
        let filter = if agent_id.is_some() {
            " and c.agent_id = $2"
        } else {
            ""
        };
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "{SELECT} where c.state = 'running' and {column} is not null{filter} order by {column} desc limit $1"
        )))
        .bind(limit);
        if let Some(id) = agent_id {
            query = query.bind(id.to_owned());
        }
        Ok(query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(container_row)
            .collect::<Result<_, _>>()?)
    }

    /// Running containers per agent.
    pub async fn running_containers(
        &self,
    ) -> Result<std::collections::HashMap<String, u32>, StoreError> {
        let rows = sqlx::query("select agent_id, count(*) as n from container where state = 'running' group by agent_id")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("agent_id")?,
                    r.try_get::<i64, _>("n")? as u32,
                ))
            })
            .collect()
    }
}

/// Applies one container item inside a batch transaction.
pub(super) async fn apply(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: &str,
    item: &BatchItem,
) -> Result<(), StoreError> {
    match item {
        BatchItem::ContainerList { ts_ms, containers } => {
            for c in containers {
                sqlx::query(
                    "insert into container (agent_id, container_id, name, image, state, status, health, created_ms, labels, listed_ms) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     on conflict (agent_id, container_id) do update set name = excluded.name, image = excluded.image, \
                     state = excluded.state, status = excluded.status, health = excluded.health, labels = excluded.labels, \
                     listed_ms = excluded.listed_ms where container.listed_ms <= excluded.listed_ms",
                )
                .bind(agent_id)
                .bind(&c.container_id)
                .bind(&c.name)
                .bind(&c.image)
                .bind(&c.state)
                .bind(&c.status)
                .bind(&c.health)
                .bind(c.created_unix.saturating_mul(1000))
                .bind(serde_json::to_string(&c.labels).unwrap_or_else(|_| "{}".into()))
                .bind(*ts_ms)
                .execute(&mut **tx)
                .await?;
            }
            // Containers missing from a newer list are gone.
            sqlx::query("delete from container where agent_id = $1 and listed_ms < $2")
                .bind(agent_id)
                .bind(*ts_ms)
                .execute(&mut **tx)
                .await?;
        }
        BatchItem::ContainerSample { ts_ms, sample: s } => {
            let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            let finite = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
            sqlx::query(
                "update container set cpu_pct = $1, memory_bytes = $2, memory_limit_bytes = $3, net_rx_bps = $4, \
                 net_tx_bps = $5, block_read_bps = $6, block_write_bps = $7, stats_ms = $8 \
                 where agent_id = $9 and container_id = $10 and (stats_ms is null or stats_ms <= $8)",
            )
            .bind(finite(s.cpu_pct))
            .bind(int(s.memory_bytes))
            .bind(int(s.memory_limit_bytes))
            .bind(finite(s.net_rx_bytes_per_s))
            .bind(finite(s.net_tx_bytes_per_s))
            .bind(finite(s.block_read_bytes_per_s))
            .bind(finite(s.block_write_bytes_per_s))
            .bind(*ts_ms)
            .bind(agent_id)
            .bind(&s.container_id)
            .execute(&mut **tx)
            .await?;
        }
        BatchItem::ContainerEvent { ts_ms, event: e } => {
            sqlx::query(
                "insert into container_event (agent_id, container_id, name, action, detail, ts) values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(agent_id)
            .bind(&e.container_id)
            .bind(&e.name)
            .bind(&e.action)
            .bind(&e.detail)
            .bind(*ts_ms)
            .execute(&mut **tx)
            .await?;
            if let Some(state) = state_after(&e.action) {
                sqlx::query("update container set state = $1 where agent_id = $2 and container_id = $3 and listed_ms <= $4")
                    .bind(state.as_str())
                    .bind(agent_id)
                    .bind(&e.container_id)
                    .bind(*ts_ms)
                    .execute(&mut **tx)
                    .await?;
            } else if e.action == "health_status" {
                sqlx::query(
                    "update container set health = $1 where agent_id = $2 and container_id = $3",
                )
                .bind(&e.detail)
                .bind(agent_id)
                .bind(&e.container_id)
                .execute(&mut **tx)
                .await?;
            }
        }
        BatchItem::CertificateScan { ts_ms, scan } => {
            if let Some(change) = certificate_change(tx, agent_id, *ts_ms, scan).await? {
                insert_host_event(
                    tx,
                    agent_id,
                    *ts_ms,
                    app::HostEventKind::Certificate,
                    &scan.target,
                    &change,
                )
                .await?;
            }
            sqlx::query(
                "insert into certificate (agent_id, target, subject, issuer, sans, not_after_ms, chain_valid, error, scanned_ms) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (agent_id, target) do update set \
                 subject = excluded.subject, issuer = excluded.issuer, sans = excluded.sans, not_after_ms = excluded.not_after_ms, \
                 chain_valid = excluded.chain_valid, error = excluded.error, scanned_ms = excluded.scanned_ms \
                 where certificate.scanned_ms <= excluded.scanned_ms",
            )
            .bind(agent_id)
            .bind(&scan.target)
            .bind(&scan.subject)
            .bind(&scan.issuer)
            .bind(serde_json::to_string(&scan.sans).unwrap_or_else(|_| "[]".into()))
            .bind((scan.not_after_unix != 0).then(|| scan.not_after_unix.saturating_mul(1000)))
            .bind(i64::from(scan.chain_valid))
            .bind(&scan.error)
            .bind(*ts_ms)
            .execute(&mut **tx)
            .await?;
        }
        BatchItem::Inventory { ts_ms, snapshot } => {
            super::inventory::apply(tx, agent_id, *ts_ms, snapshot).await?
        }
        BatchItem::Host(_) | BatchItem::Ignored => {}
    }
    Ok(())
}
