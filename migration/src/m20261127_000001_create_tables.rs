//! Creates `hourly_download_data` (or its configured name), `monthly_downloads` and
//! `monthly_submissions` with the primary keys of the contract.

use sea_orm_migration::prelude::*;

pub struct Migration {
    pub hourly_table: String,
}

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000001_create_tables"
    }
}

#[derive(DeriveIden)]
enum Hourly {
    StartDttm,
    Category,
    Archive,
    Country,
    DownloadType,
    PrimaryCount,
    CrossCount,
}

#[derive(DeriveIden)]
enum MonthlyDownloads {
    Table,
    Month,
    Downloads,
}

#[derive(DeriveIden)]
enum MonthlySubmissions {
    Table,
    Month,
    Count,
}

fn text(col: impl IntoIden, len: u32, collation: Option<&str>) -> ColumnDef {
    crate::text_column(col, len, collation)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let collation = crate::text_collation(manager).await?;
        let hourly = Alias::new(&self.hourly_table);
        manager
            .create_table(
                Table::create()
                    .table(hourly.clone())
                    .if_not_exists()
                    .col(ColumnDef::new(Hourly::StartDttm).date_time().not_null())
                    .col(text(Hourly::Category, 32, collation).not_null())
                    .col(text(Hourly::Archive, 16, collation).null())
                    .col(text(Hourly::Country, 255, collation).not_null())
                    .col(text(Hourly::DownloadType, 16, collation).not_null())
                    .col(ColumnDef::new(Hourly::PrimaryCount).integer().null())
                    .col(ColumnDef::new(Hourly::CrossCount).integer().null())
                    // start_dttm leads the key: every range and daily query is a key-range scan.
                    .primary_key(
                        Index::create()
                            .col(Hourly::StartDttm)
                            .col(Hourly::Category)
                            .col(Hourly::Country)
                            .col(Hourly::DownloadType),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MonthlyDownloads::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(MonthlyDownloads::Month)
                            .date()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(MonthlyDownloads::Downloads)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MonthlySubmissions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(MonthlySubmissions::Month)
                            .date()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(MonthlySubmissions::Count)
                            .integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MonthlySubmissions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(MonthlyDownloads::Table).to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(&self.hourly_table))
                    .to_owned(),
            )
            .await
    }
}
