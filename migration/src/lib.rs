//! Schema migrations: the hourly fact table (under its configured name), the two monthly tables,
//! the rollups and the covering time index.
//!
//! The hourly table's name is a setting, so the migrator is a value that carries it
//! ([`MigratorTraitSelf`]) rather than a unit struct.

pub use sea_orm_migration::MigratorTraitSelf;
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;
mod m20261127_000002_create_rollups;
mod m20261127_000003_covering_time_index;

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
        ]
    }
}

/// A text column that compares byte for byte. MySQL's default collations fold case and accents,
/// which would make `côte d'ivoire` and `cote d'ivoire` one key value; the other backends
/// compare exactly already.
pub(crate) fn text_column(
    col: impl IntoIden,
    len: u32,
    backend: sea_orm_migration::sea_orm::DatabaseBackend,
) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    if backend == sea_orm_migration::sea_orm::DatabaseBackend::MySql {
        // The character set must follow the type directly, before NULL / NOT NULL.
        def.custom(Alias::new(format!(
            "varchar({len}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )));
    } else {
        def.string_len(len);
    }
    def
}
