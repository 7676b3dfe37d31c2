//! The words of the API: the closed sets of parameter values (dimensions, time groups,
//! metrics, formats, the model) with their wire names, and the one map from a dimension to
//! its column.

use std::fmt;

use entity::hourly_download_data::Column as H;
use sea_orm::IdenStatic;

/// Declares a closed set of parameter values with their wire names.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
        #[schema(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const ALLOWED: &'static str = concat_with_commas!($($wire),+);

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            pub fn from_wire(s: &str) -> Option<Self> {
                match s { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

macro_rules! concat_with_commas {
    ($first:literal $(, $rest:literal)*) => { concat!($first $(, ", ", $rest)*) };
}

wire_enum! {
    /// A column that answers may be grouped or filtered by.
    Dimension {
        Country => "country",
        DownloadType => "download_type",
        Archive => "archive",
        Category => "category",
    }
}

impl Dimension {
    /// The column of the hourly table (and of the rollups) that holds this dimension. The
    /// match is exhaustive: a new dimension does not compile until it has a column.
    pub fn column(self) -> H {
        match self {
            Dimension::Country => H::Country,
            Dimension::DownloadType => H::DownloadType,
            Dimension::Archive => H::Archive,
            Dimension::Category => H::Category,
        }
    }

    /// The column's name, as SQL text is written with it.
    pub fn column_name(self) -> &'static str {
        self.column().as_str()
    }
}

wire_enum! {
    /// A time bucket, in UTC or in the zone of the query (`week`: the ISO week, from Monday).
    TimeGroup {
        Year => "year",
        Month => "month",
        Week => "week",
        Day => "day",
        Hour => "hour",
    }
}

impl TimeGroup {
    /// The UTC bucket the database groups by so that Rust can make periods of `self` in `tz`
    /// exactly (see `shape::rebucket`): the period itself in UTC, days for UTC weeks, and UTC
    /// hours in any other zone, since each UTC hour belongs to the local period where it
    /// starts and a zone's offset may be any number of minutes.
    pub fn grain(self, tz: chrono_tz::Tz) -> TimeGroup {
        match (self, tz) {
            (TimeGroup::Week, chrono_tz::Tz::UTC) => TimeGroup::Day,
            (tg, chrono_tz::Tz::UTC) => tg,
            _ => TimeGroup::Hour,
        }
    }

    /// The most UTC hours one period holds (a leap year, a 25-hour day): how many grain
    /// rows one answer group can be made of.
    pub fn max_grains(self, grain: TimeGroup) -> u64 {
        if self == grain {
            return 1;
        }
        match (self, grain) {
            (TimeGroup::Week, TimeGroup::Day) => 7,
            (TimeGroup::Year, _) => 367 * 24,
            (TimeGroup::Month, _) => 32 * 24,
            (TimeGroup::Week, _) => 7 * 24 + 1,
            _ => 25,
        }
    }
}

wire_enum! {
    /// The periods of the monthly tables (submissions): no week, day or hour.
    Period { Month => "month", Year => "year" }
}

impl Period {
    pub fn time_group(self) -> TimeGroup {
        match self {
            Period::Month => TimeGroup::Month,
            Period::Year => TimeGroup::Year,
        }
    }
}

wire_enum! {
    /// What `data` / `total_sum` adds up.
    Metric { Primary => "primary", Cross => "cross", Total => "total" }
}

wire_enum! {
    /// How an answer is written.
    Format { Json => "json", Csv => "csv" }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// The fact table a query reads; there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    Hourly,
}

impl Model {
    pub const ALLOWED: &'static str = "hourly (alias: hourly_download_data)";

    pub fn from_wire(s: &str) -> Option<Self> {
        matches!(s, "hourly" | "hourly_download_data").then_some(Model::Hourly)
    }
}

/// The accepted names of the one model.
#[derive(Debug, Clone, Copy, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ModelName {
    Hourly,
    HourlyDownloadData,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dimension_is_stored_in_the_column_of_its_wire_name() {
        for d in Dimension::ALL {
            assert_eq!(d.column_name(), d.as_str());
        }
    }
}
