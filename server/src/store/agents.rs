use sqlx::{AssertSqlSafe, Row};

use super::{SampleRow, Store, StoreError};
use proto::clock::now_s;

use crate::auth::constant_time_eq;

/// An enrollment token as stored.
#[derive(Debug, Clone)]
pub struct EnrollmentTokenRow {
    pub enrollment_token_id: i64,
    pub token_hint: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// When it last enrolled an agent.
    pub used_at: Option<i64>,
    /// The first agent it enrolled.
    pub used_by_agent_id: Option<String>,
    /// How many agents it may enroll; `None`: any number within its TTL.
    pub max_uses: Option<i64>,
    /// How many it has enrolled.
    pub uses: i64,
}

impl EnrollmentTokenRow {
    pub fn used_up(&self) -> bool {
        self.max_uses.is_some_and(|max| self.uses >= max)
    }
}

/// What became of an enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Registered {
        enrollment_token_id: i64,
    },
    /// No token has that hash.
    Unknown,
    /// The token has enrolled as many agents as it may.
    UsedUp {
        max_uses: i64,
    },
    /// The token is past its TTL.
    Expired,
}

/// A registered agent.
#[derive(Debug, Clone)]
pub struct AgentRow {
    pub agent_id: String,
    pub label: String,
    pub hostname: String,
    pub status: app::AgentStatus,
    pub public_key: String,
    pub runtime: app::Runtime,
    pub os: String,
    pub arch: String,
    pub agent_version: String,
    pub tags: Vec<String>,
    pub last_seq: i64,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub dropped_events: i64,
}

/// What RegisterAgent brings.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub agent_id: String,
    pub label: String,
    pub hostname: String,
    pub public_key: String,
    pub runtime: app::Runtime,
    pub os: String,
    pub arch: String,
    pub agent_version: String,
}

/// One agent's batch, ready to commit.
#[derive(Debug, Clone)]
pub struct AgentBatch {
    pub agent_id: String,
    /// The agent's committed position as its stream knows it.
    pub last_seq: u64,
    pub first_seq: u64,
    pub items: Vec<super::BatchItem>,
    pub spool: SpoolReport,
    /// The agent's drop count the server knew before this batch: a gap is accepted only up
    /// to the drops declared since.
    pub known_dropped: u64,
}

/// What the agent's spool says about a batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpoolReport {
    /// The events just before the batch were dropped by the agent: accept the gap.
    pub after_dropped: bool,
    /// Events the agent's spool dropped in all.
    pub dropped_total: u64,
}

/// Why a batch was not committed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the batch starts at {first_seq} but the next expected sequence number is {expected}")]
    Gap { first_seq: u64, expected: u64 },
    #[error("another stream of this agent committed first")]
    Superseded,
    /// The batch's numbers cannot be stored (the stream's edge checks refuse these first).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The batch writer's queue is full: the agent should retry later.
    #[error("the server is behind on writing events")]
    Overloaded,
    /// The transaction holding this batch failed (the cause is logged once, by the writer).
    #[error("the store could not commit the batch")]
    Unavailable,
}

const ENROLLMENT_COLUMNS: &str = "enrollment_token_id, token_hint, created_at, expires_at, used_at, used_by_agent_id, \
                                  max_uses, uses";
const AGENT_COLUMNS: &str = "agent_id, label, hostname, status, public_key, runtime, os, arch, agent_version, tags, \
                             last_seq, created_at, last_seen_at, revoked_at, dropped_events";

fn enrollment_row(r: sqlx::any::AnyRow) -> Result<EnrollmentTokenRow, sqlx::Error> {
    Ok(EnrollmentTokenRow {
        enrollment_token_id: r.try_get("enrollment_token_id")?,
        token_hint: r.try_get("token_hint")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
        used_by_agent_id: r.try_get("used_by_agent_id")?,
        max_uses: r.try_get("max_uses")?,
        uses: r.try_get("uses")?,
    })
}

/// A text column holding one of an enum's names.
fn decoded<T: std::str::FromStr<Err = String>>(
    r: &sqlx::any::AnyRow,
    column: &str,
) -> Result<T, sqlx::Error> {
    let text: String = r.try_get(column)?;
    text.parse().map_err(|e: String| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: e.into(),
    })
}

fn agent_row(r: sqlx::any::AnyRow) -> Result<AgentRow, sqlx::Error> {
    let tags: String = r.try_get("tags")?;
    Ok(AgentRow {
        agent_id: r.try_get("agent_id")?,
        label: r.try_get("label")?,
        hostname: r.try_get("hostname")?,
        status: decoded(&r, "status")?,
        public_key: r.try_get("public_key")?,
        runtime: decoded(&r, "runtime")?,
        os: r.try_get("os")?,
        arch: r.try_get("arch")?,
        agent_version: r.try_get("agent_version")?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        last_seq: r.try_get("last_seq")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        revoked_at: r.try_get("revoked_at")?,
        dropped_events: r.try_get("dropped_events")?,
    })
}

impl Store {
    /// Stores a new enrollment token (its hash).
    pub async fn create_enrollment_token(
        &self,
        token_hash: &str,
        token_hint: &str,
        created_by: i64,
        expires_at: i64,
        max_uses: Option<i64>,
    ) -> Result<EnrollmentTokenRow, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "insert into enrollment_token (token_hash, token_hint, created_by, created_at, expires_at, max_uses) \
             values ($1, $2, $3, $4, $5, $6) returning {ENROLLMENT_COLUMNS}"
        )))
        .bind(token_hash)
        .bind(token_hint)
        .bind(created_by)
        .bind(now_s())
        .bind(expires_at)
        .bind(max_uses)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(enrollment_row(row)?)
    }

    /// Every enrollment token, newest first.
    pub async fn list_enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {ENROLLMENT_COLUMNS} from enrollment_token order by enrollment_token_id desc"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(enrollment_row)
            .collect::<Result<_, _>>()?)
    }

    /// Deletes an enrollment token; false if there is none with that id.
    pub async fn delete_enrollment_token(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from enrollment_token where enrollment_token_id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// One enrollment token.
    pub async fn enrollment_token(
        &self,
        id: i64,
    ) -> Result<Option<EnrollmentTokenRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select {ENROLLMENT_COLUMNS} from enrollment_token where enrollment_token_id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(enrollment_row).transpose()?)
    }

    /// The agents each listed token enrolled, as (token id, agent id, label), by label.
    pub async fn agents_by_enrollment_token(
        &self,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows = sqlx::query(
            "select enrollment_token_id, agent_id, label from agent \
             where enrollment_token_id is not null order by label, agent_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                Ok((
                    r.try_get("enrollment_token_id")?,
                    r.try_get("agent_id")?,
                    r.try_get("label")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Spends one use of an unexpired enrollment token with uses left and registers the
    /// agent, in one transaction. The use is taken by one conditional update, so racing
    /// enrollments never exceed `max_uses` on either database.
    pub async fn register_agent(
        &self,
        token_hash: &str,
        agent: &NewAgent,
    ) -> Result<Registration, StoreError> {
        let now = now_s();
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "select enrollment_token_id, token_hash from enrollment_token where token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Registration::Unknown);
        };
        let stored: String = row.try_get("token_hash")?;
        if !constant_time_eq(&stored, token_hash) {
            return Ok(Registration::Unknown);
        }
        let id: i64 = row.try_get("enrollment_token_id")?;
        let spent = sqlx::query(
            "update enrollment_token set uses = uses + 1, used_at = $1, \
             used_by_agent_id = coalesce(used_by_agent_id, $2) \
             where enrollment_token_id = $3 and expires_at > $1 \
             and (max_uses is null or uses < max_uses)",
        )
        .bind(now)
        .bind(&agent.agent_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if spent.rows_affected() != 1 {
            let row = sqlx::query(AssertSqlSafe(format!(
                "select {ENROLLMENT_COLUMNS} from enrollment_token where enrollment_token_id = $1"
            )))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(match row.map(enrollment_row).transpose()? {
                None => Registration::Unknown,
                Some(token) if token.expires_at <= now => Registration::Expired,
                Some(token) => Registration::UsedUp {
                    max_uses: token.max_uses.unwrap_or(token.uses),
                },
            });
        }
        sqlx::query(
            "insert into agent (agent_id, label, hostname, status, public_key, runtime, os, arch, agent_version, \
             created_at, enrollment_token_id) values ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&agent.agent_id)
        .bind(&agent.label)
        .bind(&agent.hostname)
        .bind(&agent.public_key)
        .bind(agent.runtime.as_str())
        .bind(&agent.os)
        .bind(&agent.arch)
        .bind(&agent.agent_version)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(Registration::Registered {
            enrollment_token_id: id,
        })
    }

    /// Every agent, by label.
    pub async fn list_agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {AGENT_COLUMNS} from agent order by label, agent_id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(agent_row).collect::<Result<_, _>>()?)
    }

    /// One agent.
    pub async fn agent(&self, agent_id: &str) -> Result<Option<AgentRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select {AGENT_COLUMNS} from agent where agent_id = $1"
        )))
        .bind(agent_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(agent_row).transpose()?)
    }

    /// Changes label and/or tags; false if the agent does not exist.
    pub async fn update_agent(
        &self,
        agent_id: &str,
        label: Option<&str>,
        tags: Option<&[String]>,
    ) -> Result<bool, StoreError> {
        let tags = tags.map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()));
        let done = sqlx::query(
            "update agent set label = coalesce($1, label), tags = coalesce($2, tags) where agent_id = $3",
        )
        .bind(label.map(str::to_owned))
        .bind(tags)
        .bind(agent_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Marks an agent revoked; false if it does not exist.
    pub async fn revoke_agent(&self, agent_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update agent set status = 'revoked', revoked_at = coalesce(revoked_at, $1) where agent_id = $2",
        )
        .bind(now_s())
        .bind(agent_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes an agent and, by cascade, every row that belongs to it, in one transaction.
    pub async fn delete_agent(&self, agent_id: &str) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.write_tx().await?;
        // Explicit deletes as well as the cascade, so a store without foreign keys purges too.
        sqlx::query("delete from host_chunk where agent_id = $1")
            .bind(agent_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("delete from agent where agent_id = $1")
            .bind(agent_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        self.unfolded.forget_host(agent_id);
        Ok(done.rows_affected() > 0)
    }

    /// Commits many agents' batches in one transaction. In each batch, events at or below the
    /// agent's `last_seq` are duplicates and skipped; the rest must continue the sequence
    /// without a gap (unless the agent declared one). Each agent's new position is written in
    /// the same transaction (compare-and-set on the old one). One batch's refusal does not
    /// affect the others; a database error fails them all. Returns each batch's new position.
    pub async fn commit_batches(
        &self,
        batches: &[AgentBatch],
    ) -> Result<Vec<Result<u64, IngestError>>, StoreError> {
        let batches: Vec<&AgentBatch> = batches.iter().collect();
        self.commit_writes(&batches, &[]).await
    }

    /// [`commit_batches`](Self::commit_batches) plus samples of this machine (which have no
    /// sequence), all in one transaction: what the batch writer commits.
    pub async fn commit_writes(
        &self,
        batches: &[&AgentBatch],
        local: &[&SampleRow],
    ) -> Result<Vec<Result<u64, IngestError>>, StoreError> {
        let mut results = Vec::with_capacity(batches.len());
        // Host samples of every batch go in together, many rows per statement.
        let mut host_rows: Vec<&SampleRow> = local.to_vec();
        // Container samples become labelled series (CPU and memory per container name).
        let mut container_series: Vec<(&str, i64, Vec<super::SeriesValue>)> = Vec::new();
        let _turn = self.write_turn().await;
        let mut tx = self.write_tx().await?;
        for b in batches.iter().copied() {
            let count = b.items.len() as u64;
            // Every position must fit the signed column: checked, whatever the caller sent.
            let new_last = match b.first_seq.checked_add(count.saturating_sub(1)) {
                Some(last)
                    if b.first_seq >= 1
                        && last <= i64::MAX as u64
                        && b.last_seq <= i64::MAX as u64 =>
                {
                    last
                }
                _ => {
                    results.push(Err(IngestError::Invalid(format!(
                        "sequence numbers from {} for {count} events are out of range",
                        b.first_seq
                    ))));
                    continue;
                }
            };
            if count == 0 || new_last <= b.last_seq {
                results.push(Ok(b.last_seq));
                continue;
            }
            // A gap is accepted only when the agent says its spool dropped those events, and
            // only as many as it has declared dropped since the server last heard.
            let expected = b.last_seq + 1;
            if b.first_seq > expected {
                let gap = b.first_seq - expected;
                let declared = b.spool.dropped_total.saturating_sub(b.known_dropped);
                if !b.spool.after_dropped || gap > declared {
                    results.push(Err(IngestError::Gap {
                        first_seq: b.first_seq,
                        expected,
                    }));
                    continue;
                }
            }
            let skip = expected.saturating_sub(b.first_seq) as usize;
            let moved = sqlx::query(
                "update agent set last_seq = $1, last_seen_at = $2, \
                 dropped_events = case when dropped_events > $5 then dropped_events else $5 end \
                 where agent_id = $3 and last_seq = $4",
            )
            .bind(new_last as i64)
            .bind(now_s())
            .bind(&b.agent_id)
            .bind(b.last_seq as i64)
            .bind(i64::try_from(b.spool.dropped_total).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() != 1 {
                results.push(Err(IngestError::Superseded));
                continue;
            }
            for item in &b.items[skip..] {
                match item {
                    super::BatchItem::Host(sample) => host_rows.push(sample),
                    other => {
                        if let super::BatchItem::ContainerSample { ts_ms, sample } = other {
                            container_series.push((
                                &b.agent_id,
                                *ts_ms,
                                super::containers::series(sample),
                            ));
                        }
                        super::containers::apply(&mut tx, &b.agent_id, other).await?
                    }
                }
            }
            results.push(Ok(new_last));
        }
        let unfolded = super::history::insert_samples(&mut tx, &host_rows).await?;
        let series: Vec<(Option<&str>, i64, &[super::SeriesValue])> = host_rows
            .iter()
            .map(|s| (s.agent_id.as_deref(), s.ts_ms, s.series.as_slice()))
            .chain(
                container_series
                    .iter()
                    .map(|(agent, ts, values)| (Some(*agent), *ts, values.as_slice())),
            )
            .collect();
        let names = super::history::insert_series(&mut tx, &self.series_ids, &series).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        self.series_ids.remember(names);
        self.unfolded.add(unfolded);
        Ok(results)
    }
}
