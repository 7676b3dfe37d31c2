//! The edge-request tables as arXiv defines them: `hourly_requests` (requests per UTC hour and
//! source) and `requests_source` (what each source is; 0 is `fastly`, the CDN edge).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000010_edge_requests"
    }
}

#[derive(DeriveIden)]
enum HourlyRequests {
    Table,
    StartDttm,
    SourceId,
    RequestCount,
}

#[derive(DeriveIden)]
enum RequestsSource {
    Table,
    Id,
    Description,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let collation = crate::text_collation(manager).await?;
        manager
            .create_table(
                Table::create()
                    .table(HourlyRequests::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(HourlyRequests::StartDttm)
                            .date_time()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HourlyRequests::SourceId)
                            .tiny_unsigned()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HourlyRequests::RequestCount)
                            .integer()
                            .null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(HourlyRequests::StartDttm)
                            .col(HourlyRequests::SourceId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RequestsSource::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(RequestsSource::Id)
                            .tiny_unsigned()
                            .not_null()
                            .primary_key(),
                    )
                    .col(crate::text_column(RequestsSource::Description, 255, collation).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RequestsSource::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(HourlyRequests::Table).to_owned())
            .await
    }
}
