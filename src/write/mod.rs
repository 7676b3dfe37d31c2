//! The write wing, used only by the explicit commands (`migrate`, `seed-demo`, `import-*`,
//! `refresh-rollups`) and by the embedded demo database: batched multi-row inserts, COPY on
//! PostgreSQL, upserts of the monthly tables, the imports ([`import`]) and the rollup refresh
//! ([`rollups`]). The read path never imports it.

pub mod import;
pub mod progress;
pub mod rollups;

use chrono::{NaiveDate, NaiveDateTime};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};

use entity::hourly_download_data::Column as H;
use entity::{monthly_downloads, monthly_submissions};

/// One row of the hourly table, borrowed from wherever it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyRecord<'a> {
    pub start_dttm: NaiveDateTime,
    pub category: &'a str,
    pub archive: Option<&'a str>,
    pub country: &'a str,
    pub download_type: &'a str,
    pub primary_count: Option<i32>,
    pub cross_count: Option<i32>,
}

/// Rows per INSERT statement: 7 bound values a row must stay under each backend's limit
/// (SQLite 32,766 variables; PostgreSQL and MySQL 65,535 placeholders).
fn batch_rows(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 4_000,
        _ => 9_000,
    }
}

/// Inserts hourly rows with multi-row INSERTs on the given connection or transaction.
pub async fn insert_hourly<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    rows: &[HourlyRecord<'_>],
) -> Result<(), DbErr> {
    for chunk in rows.chunks(batch_rows(conn.get_database_backend())) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new(table)).columns([
            H::StartDttm,
            H::Category,
            H::Archive,
            H::Country,
            H::DownloadType,
            H::PrimaryCount,
            H::CrossCount,
        ]);
        for r in chunk {
            insert
                .values([
                    r.start_dttm.into(),
                    r.category.into(),
                    r.archive.into(),
                    r.country.into(),
                    r.download_type.into(),
                    r.primary_count.into(),
                    r.cross_count.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        conn.execute(&insert).await?;
    }
    Ok(())
}

/// Deletes the hourly rows with `from <= start_dttm < to`.
pub async fn delete_hourly_range<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<u64, DbErr> {
    let delete = Query::delete()
        .from_table(Alias::new(table))
        .and_where(Expr::col(H::StartDttm).gte(from))
        .and_where(Expr::col(H::StartDttm).lt(to))
        .to_owned();
    Ok(conn.execute(&delete).await?.rows_affected())
}

/// Loads a stream of hourly rows as fast as the backend allows: COPY on PostgreSQL, batched
/// INSERTs in one transaction elsewhere. Rows already present for `[from, to)` are replaced.
pub struct HourlyLoader<'c> {
    db: &'c DatabaseConnection,
    table: String,
    inner: LoaderInner,
    pending: Vec<OwnedRecord>,
    pub rows_written: u64,
}

enum LoaderInner {
    Copy {
        tx: sea_orm::sqlx::Transaction<'static, sea_orm::sqlx::Postgres>,
        buf: Vec<u8>,
    },
    Insert(sea_orm::DatabaseTransaction),
}

/// A row the loader keeps until its batch is full.
#[derive(Debug, Clone)]
pub struct OwnedRecord {
    pub start_dttm: NaiveDateTime,
    pub category: &'static str,
    pub archive: &'static str,
    pub country: &'static str,
    pub download_type: &'static str,
    pub primary_count: i32,
    pub cross_count: i32,
}

const COPY_FLUSH_BYTES: usize = 8 << 20;

impl<'c> HourlyLoader<'c> {
    pub async fn begin(
        db: &'c DatabaseConnection,
        table: &str,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Self, DbErr> {
        let inner = if db.get_database_backend() == DbBackend::Postgres {
            let pool = db.get_postgres_connection_pool();
            let mut tx = pool.begin().await.map_err(sqlx_err)?;
            // The table name is a validated setting (an identifier), never user input.
            sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!(
                "DELETE FROM \"{table}\" WHERE start_dttm >= $1 AND start_dttm < $2"
            )))
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await
            .map_err(sqlx_err)?;
            LoaderInner::Copy {
                tx,
                buf: Vec::with_capacity(COPY_FLUSH_BYTES + 4096),
            }
        } else {
            let tx = db.begin().await?;
            delete_hourly_range(&tx, table, from, to).await?;
            LoaderInner::Insert(tx)
        };
        Ok(Self {
            db,
            table: table.to_string(),
            inner,
            pending: Vec::new(),
            rows_written: 0,
        })
    }

    pub async fn push(&mut self, row: OwnedRecord) -> Result<(), DbErr> {
        self.rows_written += 1;
        match &mut self.inner {
            LoaderInner::Copy { buf, .. } => {
                use std::io::Write;
                // Tab-separated COPY text: the taxonomy values contain no tabs, newlines or
                // backslashes, which are the only characters that would need escaping.
                let _ = writeln!(
                    buf,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    row.start_dttm.format("%Y-%m-%d %H:%M:%S"),
                    row.category,
                    row.archive,
                    row.country,
                    row.download_type,
                    row.primary_count,
                    row.cross_count
                );
                if buf.len() >= COPY_FLUSH_BYTES {
                    self.flush().await?;
                }
            }
            LoaderInner::Insert(_) => {
                self.pending.push(row);
                if self.pending.len() >= batch_rows(self.db.get_database_backend()) * 4 {
                    self.flush().await?;
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), DbErr> {
        match &mut self.inner {
            LoaderInner::Copy { tx, buf } => {
                if buf.is_empty() {
                    return Ok(());
                }
                let statement = format!(
                    "COPY \"{}\" (start_dttm, category, archive, country, download_type, primary_count, cross_count) FROM STDIN",
                    self.table
                );
                let mut copy = tx.copy_in_raw(&statement).await.map_err(sqlx_err)?;
                copy.send(buf.as_slice()).await.map_err(sqlx_err)?;
                copy.finish().await.map_err(sqlx_err)?;
                buf.clear();
            }
            LoaderInner::Insert(tx) => {
                let records: Vec<HourlyRecord<'_>> = self
                    .pending
                    .iter()
                    .map(|r| HourlyRecord {
                        start_dttm: r.start_dttm,
                        category: r.category,
                        archive: Some(r.archive),
                        country: r.country,
                        download_type: r.download_type,
                        primary_count: Some(r.primary_count),
                        cross_count: Some(r.cross_count),
                    })
                    .collect();
                insert_hourly(tx, &self.table, &records).await?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// Writes what is left and commits.
    pub async fn commit(mut self) -> Result<u64, DbErr> {
        self.flush().await?;
        match self.inner {
            LoaderInner::Copy { tx, .. } => tx.commit().await.map_err(sqlx_err)?,
            LoaderInner::Insert(tx) => tx.commit().await?,
        }
        Ok(self.rows_written)
    }
}

fn sqlx_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e)))
}

/// Inserts or replaces monthly download totals (`month` is the first day of the month).
pub async fn upsert_monthly_downloads<C: ConnectionTrait>(
    conn: &C,
    months: &[(NaiveDate, i64)],
) -> Result<(), DbErr> {
    use monthly_downloads::Column as M;
    for chunk in months.chunks(1_000) {
        let mut insert = Query::insert();
        insert
            .into_table(monthly_downloads::Entity)
            .columns([M::Month, M::Downloads])
            .on_conflict(
                OnConflict::column(M::Month)
                    .update_column(M::Downloads)
                    .to_owned(),
            );
        for (month, downloads) in chunk {
            insert
                .values([(*month).into(), (*downloads).into()])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        conn.execute(&insert).await?;
    }
    Ok(())
}

/// Inserts or replaces monthly submission counts.
pub async fn upsert_monthly_submissions<C: ConnectionTrait>(
    conn: &C,
    months: &[(NaiveDate, i32)],
) -> Result<(), DbErr> {
    use monthly_submissions::Column as S;
    for chunk in months.chunks(1_000) {
        let mut insert = Query::insert();
        insert
            .into_table(monthly_submissions::Entity)
            .columns([S::Month, S::Count])
            .on_conflict(
                OnConflict::column(S::Month)
                    .update_column(S::Count)
                    .to_owned(),
            );
        for (month, count) in chunk {
            insert
                .values([(*month).into(), (*count).into()])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        conn.execute(&insert).await?;
    }
    Ok(())
}

/// Inserts or replaces edge requests per UTC hour and source (arXiv's `hourly_requests`).
pub async fn upsert_hourly_requests<C: ConnectionTrait>(
    conn: &C,
    rows: &[(NaiveDateTime, u8, Option<i32>)],
) -> Result<(), DbErr> {
    let [start, source, count] = ["start_dttm", "source_id", "request_count"].map(Alias::new);
    for chunk in rows.chunks(1_000) {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("hourly_requests"))
            .columns([start.clone(), source.clone(), count.clone()])
            .on_conflict(
                OnConflict::columns([start.clone(), source.clone()])
                    .update_column(count.clone())
                    .to_owned(),
            );
        for (hour, id, n) in chunk {
            insert
                .values([(*hour).into(), i32::from(*id).into(), (*n).into()])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        conn.execute(&insert).await?;
    }
    Ok(())
}

/// Inserts or replaces the descriptions of request sources (arXiv's `requests_source`).
pub async fn upsert_requests_sources<C: ConnectionTrait>(
    conn: &C,
    sources: &[(u8, &str)],
) -> Result<(), DbErr> {
    let [id, description] = ["id", "description"].map(Alias::new);
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("requests_source"))
        .columns([id.clone(), description.clone()])
        .on_conflict(
            OnConflict::column(id.clone())
                .update_column(description.clone())
                .to_owned(),
        );
    for (n, text) in sources {
        insert
            .values([i32::from(*n).into(), (*text).into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    conn.execute(&insert).await?;
    Ok(())
}

/// Refreshes the planner's statistics of `tables` after a bulk load, so that range queries use
/// the keys at once rather than after the next autovacuum. On PostgreSQL it also vacuums: the
/// visibility map it sets is what lets the covering time index answer without the table
/// (index-only scans). Not inside a transaction: PostgreSQL refuses VACUUM there.
pub async fn analyze<C: ConnectionTrait>(conn: &C, tables: &[&str]) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Sqlite {
        // Statistics from a sample of each index instead of a full scan: seconds less on a
        // fresh demo database, and the plans are the same.
        conn.execute_unprepared("PRAGMA analysis_limit = 1000")
            .await?;
    }
    for table in tables {
        // Table names here are the validated setting or constants, never user input.
        let statement = match conn.get_database_backend() {
            DbBackend::Postgres => format!("VACUUM (ANALYZE) \"{table}\""),
            DbBackend::MySql => format!("ANALYZE TABLE `{table}`"),
            _ => format!("ANALYZE \"{table}\""),
        };
        conn.execute_unprepared(&statement).await?;
    }
    Ok(())
}
