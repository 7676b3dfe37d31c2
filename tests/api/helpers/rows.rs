//! Hourly rows a test owns, built from a plain default by naming only what the test is about.

use chrono::NaiveDateTime;
use stats_backend::write::HourlyRecord;

/// An hourly row. [`Row::at`] starts from `cs.AI` (archive `cs`), `united states`, `pdf`,
/// 1 primary and 0 cross downloads; the builder methods change one field each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub start: NaiveDateTime,
    pub category: String,
    pub archive: Option<String>,
    pub country: String,
    pub download_type: String,
    pub primary: Option<i32>,
    pub cross: Option<i32>,
}

impl Row {
    pub fn at(start: NaiveDateTime) -> Self {
        Self {
            start,
            category: "cs.AI".into(),
            archive: Some("cs".into()),
            country: "united states".into(),
            download_type: "pdf".into(),
            primary: Some(1),
            cross: Some(0),
        }
    }

    /// The category, and the archive arXiv gives it: the part before the dot (`hep-th` is its
    /// own archive).
    pub fn category(mut self, category: &str) -> Self {
        self.category = category.into();
        self.archive = Some(category.split('.').next().unwrap_or(category).into());
        self
    }

    /// An archive other than the category's own, or none (`None`).
    pub fn archive<'a>(mut self, archive: impl Into<Option<&'a str>>) -> Self {
        self.archive = archive.into().map(Into::into);
        self
    }

    pub fn country(mut self, country: &str) -> Self {
        self.country = country.into();
        self
    }

    pub fn download_type(mut self, download_type: &str) -> Self {
        self.download_type = download_type.into();
        self
    }

    /// Primary downloads, or NULL (`None`).
    pub fn primary(mut self, primary: impl Into<Option<i32>>) -> Self {
        self.primary = primary.into();
        self
    }

    /// Cross-list downloads, or NULL (`None`).
    pub fn cross(mut self, cross: impl Into<Option<i32>>) -> Self {
        self.cross = cross.into();
        self
    }

    pub fn record(&self) -> HourlyRecord<'_> {
        HourlyRecord {
            start_dttm: self.start,
            category: &self.category,
            archive: self.archive.as_deref(),
            country: &self.country,
            download_type: &self.download_type,
            primary_count: self.primary,
            cross_count: self.cross,
        }
    }
}
