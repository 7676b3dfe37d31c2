//! One row per (hour, category, country, download type): arXiv's aggregate hourly downloads.

use sea_orm::entity::prelude::*;

/// Default table name; production arXiv calls it `hourly_downloads` (see `database.table`).
pub const DEFAULT_TABLE: &str = "hourly_download_data";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hourly_download_data")]
pub struct Model {
    /// Start of the hour, UTC, stored without a zone.
    #[sea_orm(primary_key, auto_increment = false)]
    pub start_dttm: DateTime,
    #[sea_orm(primary_key, auto_increment = false)]
    pub category: String,
    pub archive: Option<String>,
    #[sea_orm(primary_key, auto_increment = false)]
    pub country: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub download_type: String,
    pub primary_count: Option<i32>,
    pub cross_count: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
