//! Schema migrations: the hourly fact table (under its configured name), the two monthly tables,
//! the rollups, the covering time index and the edge-request tables.
//!
//! The hourly table's name is a setting, so the migrator is a value that carries it
//! ([`MigratorTraitSelf`]) rather than a unit struct.

pub use sea_orm_migration::MigratorTraitSelf;
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;
mod m20261127_000002_create_rollups;
mod m20261127_000003_covering_time_index;
mod m20261201_000001_no_pad_and_nullable_archive_rollups;
mod m20261201_000010_edge_requests;
mod m20261201_000020_hourly_rollups_by_dimension;
mod m20261201_000030_hourly_change_log;
mod m20261201_000040_rollup_hour_checksum;
mod m20261201_000050_month_and_year_rollups;
mod m20261201_000060_day_window_rollups;
mod m20261201_000070_rollup_filter_indexes;

pub use m20261201_000030_hourly_change_log::change_log_sql;

/// Runs this crate's migrations; `hourly_table` is the name of the hourly fact table.
pub struct Migrator {
    pub hourly_table: String,
}

impl Migrator {
    pub fn new(hourly_table: impl Into<String>) -> Self {
        Self {
            hourly_table: hourly_table.into(),
        }
    }
}

#[async_trait::async_trait]
impl MigratorTraitSelf for Migrator {
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tables::Migration {
                hourly_table: self.hourly_table.clone(),
            }),
            Box::new(m20261127_000002_create_rollups::Migration),
            Box::new(m20261127_000003_covering_time_index::Migration {
                hourly_table: self.hourly_table.clone(),
            }),
            Box::new(
                m20261201_000001_no_pad_and_nullable_archive_rollups::Migration {
                    hourly_table: self.hourly_table.clone(),
                },
            ),
            Box::new(m20261201_000010_edge_requests::Migration),
            Box::new(m20261201_000020_hourly_rollups_by_dimension::Migration),
            Box::new(m20261201_000030_hourly_change_log::Migration {
                hourly_table: self.hourly_table.clone(),
            }),
            Box::new(m20261201_000040_rollup_hour_checksum::Migration),
            Box::new(m20261201_000050_month_and_year_rollups::Migration),
            Box::new(m20261201_000060_day_window_rollups::Migration),
            Box::new(m20261201_000070_rollup_filter_indexes::Migration),
        ]
    }
}

/// The collation of the text columns the service creates on MySQL: binary and NO PAD, so
/// that values differing by case, accents or trailing spaces (`germany` and `germany `) are
/// distinct keys, as on PostgreSQL and SQLite. MariaDB and MySQL 8 name it differently.
pub(crate) async fn text_collation(
    manager: &SchemaManager<'_>,
) -> Result<Option<&'static str>, DbErr> {
    use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    if manager.get_database_backend() != DatabaseBackend::MySql {
        return Ok(None);
    }
    let row = manager
        .get_connection()
        .query_one_raw(Statement::from_string(
            DatabaseBackend::MySql,
            "SELECT VERSION() AS v",
        ))
        .await?;
    let version: String = match row {
        Some(row) => row.try_get("", "v")?,
        None => String::new(),
    };
    Ok(Some(if version.contains("MariaDB") {
        "utf8mb4_nopad_bin"
    } else {
        "utf8mb4_0900_bin"
    }))
}

/// A text column that compares byte for byte: with `collation` (see [`text_collation`]) on
/// MySQL, whose default collations fold case and accents and pad with spaces; the other
/// backends compare exactly already.
pub(crate) fn text_column(col: impl IntoIden, len: u32, collation: Option<&str>) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    match collation {
        // The character set must follow the type directly, before NULL / NOT NULL.
        Some(collation) => {
            def.custom(Alias::new(format!(
                "varchar({len}) CHARACTER SET utf8mb4 COLLATE {collation}"
            )));
        }
        None => {
            def.string_len(len);
        }
    }
    def
}
