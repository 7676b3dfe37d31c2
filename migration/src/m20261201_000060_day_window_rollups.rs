//! Rollups of 24-hour windows by category and by country (`rollup_window_category`,
//! `rollup_window_country`): for every UTC hour, the sums over the 24 hours that start with
//! it. A local day of 24 hours in any zone (also :30 and :45 ones) starts at a UTC hour, so it
//! is one row per key of these tables, as a UTC day is one row of the day rollups: a local
//! series by day, week, month or year costs what a UTC one does. The rollups are derived
//! data: all of them are dropped and created again, empty, with no watermark, so the next
//! `refresh-rollups` rebuilds every day into the new tables too (until then queries read the
//! hourly table).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000060_day_window_rollups"
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
