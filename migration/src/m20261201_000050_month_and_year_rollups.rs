//! Per-month rollups by category, by country, by download type and by category and country,
//! and per-year rollups by category and country, so that all-time and monthly answers read a
//! row per month (year) and value however many years the hourly table holds; and per-hour
//! rollups by archive, for hourly series by archive. The rollups are
//! derived data: all of them are dropped and created again, empty, with no watermark, so the
//! next `refresh-rollups` rebuilds every day into the new tables too (until then queries read
//! the hourly table).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000050_month_and_year_rollups"
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
