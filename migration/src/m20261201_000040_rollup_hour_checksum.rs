//! `rollup_hour.checksum`: the content checksum of each hour (`stats::sql::checksum_expr`),
//! which `refresh-rollups` stores where the hourly table has no change log, so that the planner
//! also stops trusting an hour whose counts were moved between keys (rows and sums unchanged).
//! The rollups are derived data: all of them are dropped and created again, empty, with no
//! watermark, so the next `refresh-rollups` rebuilds every day (until then queries read the
//! hourly table).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000040_rollup_hour_checksum"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::m20261127_000002_create_rollups::recreate(manager).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
