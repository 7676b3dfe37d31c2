//! Summary tables that `stats-backend refresh-rollups` maintains and the query planner reads:
//! per-hour totals, per-hour totals by category, by archive, by country and by download type, per-day
//! totals by every dimension, by category and by country, per-month totals by category, by
//! country, by download type and by category and country, and per-year totals by category and
//! country, and per 24-hour window by category and by country. They
//! cover the hours before the watermark in `rollup_state`; nothing else depends on them.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000002_create_rollups"
    }
}

#[derive(DeriveIden)]
enum RollupHour {
    Table,
    Hour,
    Rows,
    PrimarySum,
    CrossSum,
    Checksum,
}

#[derive(DeriveIden)]
enum RollupDay {
    Table,
}

#[derive(DeriveIden)]
enum RollupDayCategory {
    Table,
}

#[derive(DeriveIden)]
enum RollupDayCountry {
    Table,
}

#[derive(DeriveIden)]
enum Col {
    Day,
    Category,
    Archive,
    Country,
    DownloadType,
    PrimarySum,
    CrossSum,
}

#[derive(DeriveIden)]
enum RollupState {
    Table,
    Name,
    Watermark,
}

fn sums(table: &mut TableCreateStatement) {
    table
        .col(ColumnDef::new(Col::PrimarySum).big_integer().not_null())
        .col(ColumnDef::new(Col::CrossSum).big_integer().not_null());
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager).await
    }
}

/// Creates the rollup tables, empty, if they are missing.
pub(crate) async fn create(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let collation = crate::text_collation(manager).await?;
    let text = |col: Col, len: u32| crate::text_column(col, len, collation);
    manager
        .create_table(
            Table::create()
                .table(RollupHour::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(RollupHour::Hour)
                        .date_time()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(RollupHour::Rows).big_integer().not_null())
                .col(
                    ColumnDef::new(RollupHour::PrimarySum)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RollupHour::CrossSum)
                        .big_integer()
                        .not_null(),
                )
                // The hour's content checksum (since m20261201_000040), where there is no
                // change log; NULL where there is one.
                .col(ColumnDef::new(RollupHour::Checksum).big_integer().null())
                .to_owned(),
        )
        .await?;
    let mut day = Table::create();
    day.table(RollupDay::Table)
        .if_not_exists()
        .col(ColumnDef::new(Col::Day).date().not_null())
        .col(text(Col::Category, 32).not_null())
        .col(text(Col::Archive, 16).null())
        .col(text(Col::Country, 255).not_null())
        .col(text(Col::DownloadType, 16).not_null());
    sums(&mut day);
    manager.create_table(day).await?;
    // Archive may be NULL and differ between the hours of one day for one category,
    // country and type, so there is no primary key (a refresh deletes and rewrites whole
    // days, which keeps the rows unique): an index leads with day.
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .name("idx_rollup_day_day")
                .table(RollupDay::Table)
                .col(Col::Day)
                .to_owned(),
        )
        .await?;
    // Archive may be NULL, so it cannot be part of a primary key: an index leads with day.
    let mut category = Table::create();
    category
        .table(RollupDayCategory::Table)
        .if_not_exists()
        .col(ColumnDef::new(Col::Day).date().not_null())
        .col(text(Col::Category, 32).not_null())
        .col(text(Col::Archive, 16).null());
    sums(&mut category);
    manager.create_table(category).await?;
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .name("idx_rollup_day_category_day")
                .table(RollupDayCategory::Table)
                .col(Col::Day)
                .to_owned(),
        )
        .await?;
    // Per hour by category and by country (since m20261201_000020): local days, weeks and
    // months in any zone are made of UTC hours, which the day rollups cannot split.
    let mut hour_category = Table::create();
    hour_category
        .table(Alias::new("rollup_hour_category"))
        .if_not_exists()
        .col(ColumnDef::new(RollupHour::Hour).date_time().not_null())
        .col(text(Col::Category, 32).not_null())
        .col(text(Col::Archive, 16).null());
    sums(&mut hour_category);
    manager.create_table(hour_category).await?;
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .name("idx_rollup_hour_category_hour")
                .table(Alias::new("rollup_hour_category"))
                .col(RollupHour::Hour)
                .to_owned(),
        )
        .await?;
    // Per hour by archive (since m20261201_000050): an hourly series by archive reads a
    // row per archive and hour rather than one per category.
    let mut hour_archive = Table::create();
    hour_archive
        .table(Alias::new("rollup_hour_archive"))
        .if_not_exists()
        .col(ColumnDef::new(RollupHour::Hour).date_time().not_null())
        .col(text(Col::Archive, 16).null());
    sums(&mut hour_archive);
    manager.create_table(hour_archive).await?;
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .name("idx_rollup_hour_archive_hour")
                .table(Alias::new("rollup_hour_archive"))
                .col(RollupHour::Hour)
                .to_owned(),
        )
        .await?;
    let mut hour_country = Table::create();
    hour_country
        .table(Alias::new("rollup_hour_country"))
        .if_not_exists()
        .col(ColumnDef::new(RollupHour::Hour).date_time().not_null())
        .col(text(Col::Country, 255).not_null())
        .primary_key(Index::create().col(RollupHour::Hour).col(Col::Country));
    sums(&mut hour_country);
    manager.create_table(hour_country).await?;
    let mut hour_type = Table::create();
    hour_type
        .table(Alias::new("rollup_hour_download_type"))
        .if_not_exists()
        .col(ColumnDef::new(RollupHour::Hour).date_time().not_null())
        .col(text(Col::DownloadType, 16).not_null())
        .primary_key(Index::create().col(RollupHour::Hour).col(Col::DownloadType));
    sums(&mut hour_type);
    manager.create_table(hour_type).await?;
    // Per month and per year (since m20261201_000050): all-time and monthly answers read
    // a row per month (year) and value rather than one per day, so they stay near the size
    // of the answer as the years pile up. Like the day rollups they hold the hours before
    // the watermark, the partial current month (year) included.
    for (table, period, dimensions) in [
        (
            "rollup_month_category",
            "month",
            &["category", "archive"][..],
        ),
        ("rollup_month_country", "month", &["country"][..]),
        (
            "rollup_month_download_type",
            "month",
            &["download_type"][..],
        ),
        (
            "rollup_month_category_country",
            "month",
            &["category", "archive", "country"][..],
        ),
        (
            "rollup_year_category_country",
            "year",
            &["category", "archive", "country"][..],
        ),
    ] {
        let mut create = Table::create();
        create
            .table(Alias::new(table))
            .if_not_exists()
            .col(ColumnDef::new(Alias::new(period)).date().not_null());
        for dimension in dimensions {
            let column = match *dimension {
                "category" => text(Col::Category, 32).not_null().to_owned(),
                "archive" => text(Col::Archive, 16).null().to_owned(),
                "country" => text(Col::Country, 255).not_null().to_owned(),
                _ => text(Col::DownloadType, 16).not_null().to_owned(),
            };
            create.col(column);
        }
        sums(&mut create);
        manager.create_table(create).await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(format!("idx_{table}_{period}"))
                    .table(Alias::new(table))
                    .col(Alias::new(period))
                    .to_owned(),
            )
            .await?;
    }
    filter_indexes(manager).await?;
    // Per 24-hour window by category and by country (since m20261201_000060): the row of
    // hour `hour` sums the hours from it to 24 hours later, so a local day of 24 hours in any
    // zone is one row per key. Archive may be NULL: an index leads with the hour.
    let mut window_category = Table::create();
    window_category
        .table(Alias::new("rollup_window_category"))
        .if_not_exists()
        .col(ColumnDef::new(RollupHour::Hour).date_time().not_null())
        .col(text(Col::Category, 32).not_null())
        .col(text(Col::Archive, 16).null());
    sums(&mut window_category);
    manager.create_table(window_category).await?;
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .name("idx_rollup_window_category_hour")
                .table(Alias::new("rollup_window_category"))
                .col(RollupHour::Hour)
                .to_owned(),
        )
        .await?;
    let mut window_country = Table::create();
    window_country
        .table(Alias::new("rollup_window_country"))
        .if_not_exists()
        .col(ColumnDef::new(RollupHour::Hour).date_time().not_null())
        .col(text(Col::Country, 255).not_null())
        .primary_key(Index::create().col(RollupHour::Hour).col(Col::Country));
    sums(&mut window_country);
    manager.create_table(window_country).await?;
    let mut country = Table::create();
    country
        .table(RollupDayCountry::Table)
        .if_not_exists()
        .col(ColumnDef::new(Col::Day).date().not_null())
        .col(text(Col::Country, 255).not_null())
        .primary_key(Index::create().col(Col::Day).col(Col::Country));
    sums(&mut country);
    manager.create_table(country).await?;
    manager
        .create_table(
            Table::create()
                .table(RollupState::Table)
                .if_not_exists()
                .col(
                    crate::text_column(RollupState::Name, 32, collation)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(RollupState::Watermark).date_time().null())
                .to_owned(),
        )
        .await
}

/// The tables by category and country, whose rows per period grow with both, are read with a
/// filter on one of them (`group_by=category&country=germany`): an index per filtered
/// dimension, leading with it and holding every column such a read needs, makes that read
/// cost the rows it keeps rather than the whole period (since m20261201_000070). Plain key
/// columns, not `INCLUDE`, so that MySQL and SQLite cover the read too.
pub(crate) async fn filter_indexes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for (table, period) in [
        ("rollup_month_category_country", "month"),
        ("rollup_year_category_country", "year"),
    ] {
        for (filtered, rest) in [
            ("country", ["category", "archive"]),
            ("category", ["country", "archive"]),
            ("archive", ["category", "country"]),
        ] {
            let name = format!("idx_{table}_{filtered}");
            // MySQL has no `CREATE INDEX IF NOT EXISTS`.
            if manager.has_index(table, &name).await? {
                continue;
            }
            let mut index = Index::create();
            index
                .name(name)
                .table(Alias::new(table))
                .col(Alias::new(filtered))
                .col(Alias::new(period));
            for column in rest {
                index.col(Alias::new(column));
            }
            index.col(Col::PrimarySum).col(Col::CrossSum);
            manager.create_index(index).await?;
        }
    }
    Ok(())
}

/// Drops every rollup table and creates them again, empty, with no watermark: the next
/// `refresh-rollups` rebuilds every day (until then queries read the hourly table). The
/// migrations that change the rollups do this, since they are derived data.
pub(crate) async fn recreate(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    drop(manager).await?;
    create(manager).await
}

/// Drops the rollup tables.
pub(crate) async fn drop(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for table in [
        "rollup_state",
        "rollup_window_country",
        "rollup_window_category",
        "rollup_year_category_country",
        "rollup_month_category_country",
        "rollup_month_download_type",
        "rollup_month_country",
        "rollup_month_category",
        "rollup_hour_download_type",
        "rollup_hour_country",
        "rollup_hour_archive",
        "rollup_hour_category",
        "rollup_day_country",
        "rollup_day_category",
        "rollup_day",
        "rollup_hour",
    ] {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(table))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
