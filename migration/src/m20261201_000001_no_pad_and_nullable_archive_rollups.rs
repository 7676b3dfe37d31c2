//! Two fixes of the schema the service creates:
//!
//! - `rollup_day` had a primary key without `archive`, so one category, country and type with
//!   archive `cs` in one hour and NULL in another hour of the same day could not be rolled up;
//!   it now has an index instead.
//! - On MySQL the text columns were `utf8mb4_bin`, which pads with spaces (`germany` and
//!   `germany ` were one key); they are now binary and NO PAD (`utf8mb4_nopad_bin` on MariaDB,
//!   `utf8mb4_0900_bin` on MySQL 8).
//!
//! The rollups are derived data: they are dropped and created again, empty, and the next
//! `refresh-rollups` rebuilds them. The hourly table's columns are converted only where this
//! service created them (their collation is still the old `utf8mb4_bin`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

pub struct Migration {
    pub hourly_table: String,
}

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_no_pad_and_nullable_archive_rollups"
    }
}

/// The hourly table's text columns: name, length, nullable.
const TEXT_COLUMNS: [(&str, u32, bool); 4] = [
    ("category", 32, false),
    ("archive", 16, true),
    ("country", 255, false),
    ("download_type", 16, false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if let Some(collation) = crate::text_collation(manager).await? {
            let conn = manager.get_connection();
            for (column, len, nullable) in TEXT_COLUMNS {
                let current = conn
                    .query_one_raw(Statement::from_sql_and_values(
                        DatabaseBackend::MySql,
                        "SELECT COLLATION_NAME AS c FROM information_schema.COLUMNS \
                         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
                        [self.hourly_table.clone().into(), column.into()],
                    ))
                    .await?
                    .map(|row| row.try_get::<Option<String>>("", "c"))
                    .transpose()?
                    .flatten();
                if current.as_deref() == Some("utf8mb4_bin") {
                    // The table name is a validated identifier (settings), never user input.
                    let null = if nullable { "NULL" } else { "NOT NULL" };
                    conn.execute_unprepared(&format!(
                        "ALTER TABLE `{}` MODIFY `{column}` varchar({len}) CHARACTER SET utf8mb4 \
                         COLLATE {collation} {null}",
                        self.hourly_table
                    ))
                    .await?;
                }
            }
        }
        crate::m20261127_000002_create_rollups::drop(manager).await?;
        crate::m20261127_000002_create_rollups::create(manager).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
