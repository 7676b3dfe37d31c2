//! New arXiv submissions per month.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "monthly_submissions")]
pub struct Model {
    /// First day of the month.
    #[sea_orm(primary_key, auto_increment = false)]
    pub month: Date,
    pub count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
