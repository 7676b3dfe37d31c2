//! SeaORM entities of the three statistics tables, as `sea-orm-cli generate entity` writes them.
//!
//! The hourly table's name is configurable (`database.table`); the entity carries the default
//! name, and queries that must follow the setting take the table name from the repository.

pub mod hourly_download_data;
pub mod monthly_downloads;
pub mod monthly_submissions;

pub mod prelude {
    pub use super::hourly_download_data::Entity as HourlyDownloadData;
    pub use super::monthly_downloads::Entity as MonthlyDownloads;
    pub use super::monthly_submissions::Entity as MonthlySubmissions;
}
