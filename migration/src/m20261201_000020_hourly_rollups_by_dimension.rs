//! Per-hour rollups by category (`rollup_hour_category`), by country (`rollup_hour_country`)
//! and by download type (`rollup_hour_download_type`), so that local series in any zone (made of UTC hours) are served
//! from rollups. The rollups are derived data: all of them are dropped and created again,
//! empty, with no watermark, so the next `refresh-rollups` rebuilds every day into the new
//! tables too (until then queries read the hourly table).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000020_hourly_rollups_by_dimension"
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
