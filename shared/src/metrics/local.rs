//! The one-machine stage counters: every run `hilite serve`'s workers handle is added to a row
//! per (stage, platform) in the SQLite file (`stage_counters`), which `hilite status` prints
//! beside the clip and queue figures — the same counts the Lambda functions publish as EMF
//! metrics. Totals since the data folder was created, not a time series.
//!
//! The table is created here with `CREATE TABLE IF NOT EXISTS` rather than by the state store's
//! migrations: it is not state (nothing reads it to decide anything, and losing it loses only
//! figures), and keeping it beside its one writer keeps the store free of metrics code.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::{Outcome, StageMetrics, StageRun};
use crate::store::sqlite::Database;
use crate::store::StoreError;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS stage_counters (
    stage TEXT NOT NULL,
    platform TEXT NOT NULL DEFAULT '',
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    retried INTEGER NOT NULL DEFAULT 0,
    total_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stage, platform)
)";

/// One row of counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageCounters {
    pub stage: String,
    /// Empty except for publish runs.
    pub platform: String,
    pub succeeded: u64,
    pub failed: u64,
    pub retried: u64,
    /// Sum of the runs' durations, in milliseconds.
    pub total_ms: u64,
}

impl StageCounters {
    pub fn runs(&self) -> u64 {
        self.succeeded + self.failed + self.retried
    }
}

/// The counters in one SQLite file.
#[derive(Debug, Clone)]
pub struct LocalCounters {
    db: Database,
    /// Set once the table is known to exist (created on first use, off the async runtime).
    table: Arc<OnceCell<()>>,
}

impl LocalCounters {
    /// Open the database at `path`; the table is created on first use.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::on(Database::open(path)?))
    }

    /// Use an open database.
    pub fn on(db: Database) -> Self {
        Self {
            db,
            table: Arc::new(OnceCell::new()),
        }
    }

    async fn ensure_table(&self) -> Result<(), StoreError> {
        self.table
            .get_or_try_init(|| async {
                self.db.call(|c| c.execute_batch(CREATE)).await??;
                Ok::<(), StoreError>(())
            })
            .await
            .map(drop)
    }

    /// Every row, by stage then platform; none before the first run (reading creates nothing).
    pub async fn read(&self) -> Result<Vec<StageCounters>, StoreError> {
        let rows = self
            .db
            .call(|c| {
                let exists: bool = c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                     WHERE type = 'table' AND name = 'stage_counters')",
                    [],
                    |r| r.get(0),
                )?;
                if !exists {
                    return Ok(Vec::new());
                }
                let mut stmt = c.prepare(
                    "SELECT stage, platform, succeeded, failed, retried, total_ms \
                     FROM stage_counters ORDER BY stage, platform",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok(StageCounters {
                        stage: r.get(0)?,
                        platform: r.get(1)?,
                        succeeded: r.get::<_, i64>(2)?.max(0) as u64,
                        failed: r.get::<_, i64>(3)?.max(0) as u64,
                        retried: r.get::<_, i64>(4)?.max(0) as u64,
                        total_ms: r.get::<_, i64>(5)?.max(0) as u64,
                    })
                })?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await??;
        Ok(rows)
    }

    async fn add(&self, run: &StageRun) -> Result<(), StoreError> {
        self.ensure_table().await?;
        let stage = run.stage.as_str().to_string();
        let platform = run
            .facts
            .platform
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let hit = |o: Outcome| i64::from(run.outcome == o);
        let (s, f, r) = (
            hit(Outcome::Succeeded),
            hit(Outcome::Failed),
            hit(Outcome::Retried),
        );
        let ms = i64::try_from(run.duration.as_millis()).unwrap_or(i64::MAX);
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO stage_counters (stage, platform, succeeded, failed, retried, total_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (stage, platform) DO UPDATE SET \
                       succeeded = succeeded + excluded.succeeded, \
                       failed = failed + excluded.failed, \
                       retried = retried + excluded.retried, \
                       total_ms = total_ms + excluded.total_ms",
                    rusqlite::params![stage, platform, s, f, r, ms],
                )
            })
            .await??;
        Ok(())
    }
}

#[async_trait]
impl StageMetrics for LocalCounters {
    async fn record(&self, run: &StageRun) {
        if let Err(e) = self.add(run).await {
            // Figures only: the run itself is settled either way.
            tracing::warn!(stage = %run.stage, error = %e, "could not update the stage counters");
        }
    }
}
