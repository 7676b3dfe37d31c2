//! Covering indexes on the rollups by category and country for reads filtered by one
//! dimension (see `m20261127_000002_create_rollups::filter_indexes`). The rollups keep their
//! rows: an index adds nothing to what they hold.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000070_rollup_filter_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::m20261127_000002_create_rollups::filter_indexes(manager).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
