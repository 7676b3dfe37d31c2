//! Schema migrations: the hourly fact table (under its configured name) and the two monthly tables.
//!
//! The hourly table's name is a setting, so the migrator is a value that carries it
//! ([`MigratorTraitSelf`]) rather than a unit struct.

pub use sea_orm_migration::MigratorTraitSelf;
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;

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
        vec![Box::new(m20261127_000001_create_tables::Migration {
            hourly_table: self.hourly_table.clone(),
        })]
    }
}
