//! Parse, don't validate: the raw query string becomes typed queries ([`DataQuery`],
//! [`GlobalSumQuery`], [`DailyQuery`]) made of enums and dates. Past this module no string from
//! the user exists except dimension filter values, which only ever travel as bound parameters.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use percent_encoding::percent_decode;

use crate::error::ApiError;

/// Longest query string, in bytes: the longest legitimate one (100 filter values) fits well.
pub const MAX_QUERY_LEN: usize = 8 * 1024;
/// Longest value a parameter may have, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;
/// Most values a comma-separated filter may list.
pub const MAX_FILTER_VALUES: usize = 100;
/// Longest single filter value (the widest column, `country`, is varchar(255)).
pub const MAX_FILTER_VALUE_LEN: usize = 255;

/// The query string as name/value pairs, percent-decoded and checked to be UTF-8.
#[derive(Debug, Default)]
pub struct RawParams(Vec<(String, Option<String>)>);

impl RawParams {
    /// Splits and decodes the query string. A value that is not UTF-8 is kept as `None` and
    /// refused only when its parameter is read: unknown parameters are ignored, whatever they hold.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        if query.len() > MAX_QUERY_LEN {
            return Err(ApiError::UriTooLong(format!(
                "the query string is longer than {MAX_QUERY_LEN} bytes"
            )));
        }
        let mut pairs = Vec::new();
        for segment in query.split('&').filter(|s| !s.is_empty()) {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            // A name that is not UTF-8 is no parameter this service knows.
            let Ok(name) = decode(name) else { continue };
            pairs.push((name, decode(value).ok()));
        }
        Ok(Self(pairs))
    }

    /// The value of `name`; an empty value counts as absent, a repeated name is an error.
    pub fn get(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut found = self.0.iter().filter(|(n, _)| n == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(ApiError::bad_request(format!(
                "parameter {name} is given more than once; give it at most once"
            )));
        }
        let first = match first {
            Some((_, None)) => {
                return Err(ApiError::bad_request(format!(
                    "parameter {name}: the value is not valid UTF-8 after percent-decoding"
                )));
            }
            Some((_, Some(v))) => Some(v),
            None => None,
        };
        match first {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) if v.len() > MAX_VALUE_LEN => Err(ApiError::bad_request(format!(
                "parameter {name} is longer than {MAX_VALUE_LEN} bytes"
            ))),
            Some(v) => Ok(Some(v.as_str())),
        }
    }

    fn required(&self, name: &str, allowed: &str) -> Result<&str, ApiError> {
        self.get(name)?.ok_or_else(|| {
            ApiError::bad_request(format!("parameter {name} is required; allowed: {allowed}"))
        })
    }

    fn parse_with<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
        allowed: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.get(name)? {
            None => Ok(None),
            Some(v) => parse(v).map(Some).ok_or_else(|| invalid(name, v, allowed)),
        }
    }
}

fn decode(raw: &str) -> Result<String, std::str::Utf8Error> {
    let plus_as_space = raw.replace('+', " ");
    percent_decode(plus_as_space.as_bytes())
        .decode_utf8()
        .map(|s| s.into_owned())
}

/// A user value quoted in an error message, cut short so that messages stay small.
fn shorten(v: &str) -> String {
    const MAX: usize = 64;
    if v.chars().count() <= MAX {
        format!("{v:?}")
    } else {
        let cut: String = v.chars().take(MAX).collect();
        format!("{cut:?}...")
    }
}

fn invalid(name: &str, value: &str, allowed: &str) -> ApiError {
    ApiError::bad_request(format!(
        "parameter {name}: {} is not allowed; allowed: {allowed}",
        shorten(value)
    ))
}

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

wire_enum! {
    /// A UTC time bucket.
    TimeGroup { Year => "year", Month => "month", Day => "day", Hour => "hour" }
}

wire_enum! {
    /// What `data` / `total_sum` adds up.
    Metric { Primary => "primary", Cross => "cross", Total => "total" }
}

/// The fact table a query reads; there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    Hourly,
}

impl Model {
    const ALLOWED: &'static str = "hourly (alias: hourly_download_data)";

    fn parse(p: &RawParams, required: bool) -> Result<Self, ApiError> {
        let value = if required {
            Some(p.required("model", Self::ALLOWED)?)
        } else {
            p.get("model")?
        };
        match value {
            None | Some("hourly" | "hourly_download_data") => Ok(Model::Hourly),
            Some(other) => Err(invalid("model", other, Self::ALLOWED)),
        }
    }
}

/// Inclusive range of UTC days; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DateRange {
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

impl DateRange {
    fn parse(p: &RawParams) -> Result<Self, ApiError> {
        let start = p.parse_with("start_date", parse_date, "a date written YYYY-MM-DD")?;
        let end = p.parse_with("end_date", parse_date, "a date written YYYY-MM-DD")?;
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(ApiError::bad_request(format!(
                "start_date {s} is after end_date {e}; the range is inclusive and must not be empty"
            )));
        }
        Ok(Self { start, end })
    }

    /// The half-open UTC datetime range `[from, to)` of the days.
    pub fn to_time_range(self) -> TimeRange {
        // Bounds outside 1000..=9998 are left open: no data lies there, MySQL's DATETIME range
        // starts at 1000, and the day after 9999-12-31 would be written with five year digits,
        // which SQLite compares as text.
        let first = NaiveDate::from_ymd_opt(1000, 1, 1).unwrap_or(NaiveDate::MIN);
        let last = NaiveDate::from_ymd_opt(9998, 12, 31).unwrap_or(NaiveDate::MAX);
        TimeRange {
            from: self
                .start
                .filter(|d| *d >= first)
                .and_then(|d| d.and_hms_opt(0, 0, 0)),
            to: self
                .end
                .filter(|d| *d <= last)
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0)),
        }
    }

    /// Whether a monthly row (labelled by its first day) is inside the range.
    pub fn contains(self, day: NaiveDate) -> bool {
        self.start.is_none_or(|s| day >= s) && self.end.is_none_or(|e| day <= e)
    }
}

/// Half-open range of naive UTC datetimes, `from <= start_dttm < to`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// `YYYY-MM-DD` exactly: four-digit year, two-digit month and day, a real calendar date.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Exact values of one dimension, any of which matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    pub dimension: Dimension,
    pub values: Vec<String>,
}

impl Filter {
    /// A comma-separated list; `\,` stands for a comma inside a value and `\\` for a backslash.
    fn parse(dimension: Dimension, raw: &str) -> Result<Self, ApiError> {
        let name = dimension.as_str();
        let mut values = Vec::new();
        let mut current = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped @ (',' | '\\')) => current.push(escaped),
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "parameter {name}: a backslash may only escape ',' or '\\'"
                        )));
                    }
                },
                ',' => values.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        values.push(current);
        if values.iter().any(String::is_empty) {
            return Err(ApiError::bad_request(format!(
                "parameter {name}: empty value in the list; give one or more values separated by commas"
            )));
        }
        if values.len() > MAX_FILTER_VALUES {
            return Err(ApiError::bad_request(format!(
                "parameter {name}: at most {MAX_FILTER_VALUES} values"
            )));
        }
        if let Some(long) = values
            .iter()
            .find(|v| v.chars().count() > MAX_FILTER_VALUE_LEN)
        {
            return Err(ApiError::bad_request(format!(
                "parameter {name}: value {} is longer than {MAX_FILTER_VALUE_LEN} characters",
                shorten(long)
            )));
        }
        if dimension == Dimension::Country {
            // Countries are stored lowercase and shown title-cased; a filter may use either.
            for v in &mut values {
                *v = v.to_lowercase();
            }
        }
        values.sort();
        values.dedup();
        Ok(Self { dimension, values })
    }
}

/// `GET /api/get_data`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataQuery {
    pub group_by: Dimension,
    pub second_group_by: Option<Dimension>,
    pub time_group: Option<TimeGroup>,
    pub metric: Metric,
    pub range: DateRange,
    /// One entry per filtered dimension, in [`Dimension::ALL`] order.
    pub filters: Vec<Filter>,
}

impl TryFrom<&RawParams> for DataQuery {
    type Error = ApiError;

    fn try_from(p: &RawParams) -> Result<Self, ApiError> {
        Model::parse(p, true)?;
        let group_by = Dimension::from_wire(p.required("group_by", Dimension::ALLOWED)?)
            .ok_or_else(|| invalid_from(p, "group_by", Dimension::ALLOWED))?;
        let second_group_by =
            p.parse_with("second_group_by", Dimension::from_wire, Dimension::ALLOWED)?;
        if second_group_by == Some(group_by) {
            return Err(ApiError::bad_request(format!(
                "parameter second_group_by must differ from group_by ({group_by}); allowed: the other dimensions of {}",
                Dimension::ALLOWED
            )));
        }
        let time_group = p.parse_with("time_group", TimeGroup::from_wire, TimeGroup::ALLOWED)?;
        let metric = p
            .parse_with("metric", Metric::from_wire, Metric::ALLOWED)?
            .unwrap_or(Metric::Primary);
        let range = DateRange::parse(p)?;
        let mut filters = Vec::new();
        for &dimension in Dimension::ALL {
            if let Some(raw) = p.get(dimension.as_str())? {
                filters.push(Filter::parse(dimension, raw)?);
            }
        }
        Ok(Self {
            group_by,
            second_group_by,
            time_group,
            metric,
            range,
            filters,
        })
    }
}

fn invalid_from(p: &RawParams, name: &str, allowed: &str) -> ApiError {
    let value = p.get(name).ok().flatten().unwrap_or_default();
    invalid(name, value, allowed)
}

/// `GET /api/get_global_sum`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalSumQuery {
    pub time_group: TimeGroup,
    pub metric: Metric,
    pub range: DateRange,
}

impl GlobalSumQuery {
    /// Months and years of primary downloads merge in `monthly_downloads`; the rest do not.
    pub fn legacy_merge(&self) -> bool {
        matches!(self.time_group, TimeGroup::Month | TimeGroup::Year)
            && self.metric == Metric::Primary
    }
}

impl TryFrom<&RawParams> for GlobalSumQuery {
    type Error = ApiError;

    fn try_from(p: &RawParams) -> Result<Self, ApiError> {
        Model::parse(p, true)?;
        let time_group = TimeGroup::from_wire(p.required("time_group", TimeGroup::ALLOWED)?)
            .ok_or_else(|| invalid_from(p, "time_group", TimeGroup::ALLOWED))?;
        let metric = p
            .parse_with("metric", Metric::from_wire, Metric::ALLOWED)?
            .unwrap_or(Metric::Primary);
        Ok(Self {
            time_group,
            metric,
            range: DateRange::parse(p)?,
        })
    }
}

/// `GET /api/get_submissions`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubmissionsQuery {
    /// `Month` or `Year`.
    pub time_group: TimeGroup,
    pub range: DateRange,
}

impl TryFrom<&RawParams> for SubmissionsQuery {
    type Error = ApiError;

    fn try_from(p: &RawParams) -> Result<Self, ApiError> {
        let allowed = "month, year";
        let time_group = p
            .parse_with(
                "time_group",
                |s| {
                    TimeGroup::from_wire(s)
                        .filter(|t| matches!(t, TimeGroup::Month | TimeGroup::Year))
                },
                allowed,
            )?
            .unwrap_or(TimeGroup::Month);
        Ok(Self {
            time_group,
            range: DateRange::parse(p)?,
        })
    }
}

/// How an answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    /// `format=json|csv` wins; otherwise an `Accept` header naming `text/csv` asks for CSV.
    pub fn negotiate(p: &RawParams, accept: Option<&str>) -> Result<Self, ApiError> {
        match p.get("format")? {
            Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(other) => Err(invalid("format", other, "json, csv")),
            None => {
                let wants_csv = accept.is_some_and(accepts_csv);
                Ok(if wants_csv { Format::Csv } else { Format::Json })
            }
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Whether an `Accept` header names `text/csv` with a non-zero quality.
fn accepts_csv(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        media.eq_ignore_ascii_case("text/csv") && !refused
    })
}

/// `GET /api/get_daily_downloads`, validated. `date: None` means today in `timezone`, which the
/// handler resolves (with the clock) before the query is run or cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DailyQuery {
    pub timezone: Tz,
    pub date: Option<NaiveDate>,
}

impl TryFrom<&RawParams> for DailyQuery {
    type Error = ApiError;

    fn try_from(p: &RawParams) -> Result<Self, ApiError> {
        Model::parse(p, false)?;
        let timezone = p
            .parse_with(
                "timezone",
                |s| {
                    s.parse::<Tz>()
                        .or_else(|_| Tz::from_str_insensitive(s))
                        .ok()
                },
                "an IANA time zone name such as UTC, America/New_York or Asia/Kolkata",
            )?
            .unwrap_or(Tz::UTC);
        let date = p.parse_with("date", parse_date, "a date written YYYY-MM-DD")?;
        Ok(Self { timezone, date })
    }
}

/// The accepted names of the one model.
#[derive(Debug, Clone, Copy, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ModelName {
    Hourly,
    HourlyDownloadData,
}

// The wire shape of each endpoint's parameters, for the OpenAPI document. The parsers above read
// exactly these names (a test compares them); these types only describe them.

/// Query parameters of `GET /api/get_data`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DataParams {
    /// The fact table.
    #[param(inline)]
    model: ModelName,
    /// Dimension of the answer's objects.
    #[param(inline)]
    group_by: Dimension,
    /// Second dimension, as parallel arrays; must differ from `group_by`.
    #[param(inline)]
    second_group_by: Option<Dimension>,
    /// UTC time bucket, as parallel arrays labelled `YYYY`, `YYYY-MM-01`, `YYYY-MM-DD` or
    /// `YYYY-MM-DDTHH:00:00Z`.
    #[param(inline)]
    time_group: Option<TimeGroup>,
    /// What `data` sums (default `primary`).
    #[param(inline)]
    metric: Option<Metric>,
    /// First UTC day, inclusive.
    start_date: Option<NaiveDate>,
    /// Last UTC day, inclusive.
    end_date: Option<NaiveDate>,
    /// Exact countries, comma-separated (any matches; matched lowercase; `\,` is a comma).
    country: Option<String>,
    /// Exact categories, comma-separated.
    category: Option<String>,
    /// Exact archives, comma-separated.
    archive: Option<String>,
    /// Exact download types, comma-separated.
    download_type: Option<String>,
    /// `csv` for CSV (also chosen by `Accept: text/csv`).
    #[param(inline)]
    format: Option<Format>,
}

/// Query parameters of `GET /api/get_global_sum`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct GlobalSumParams {
    /// The fact table.
    #[param(inline)]
    model: ModelName,
    /// UTC period of each entry; `month` and `year` merge in legacy monthly totals.
    #[param(inline)]
    time_group: TimeGroup,
    /// What `total_sum` adds up (default `primary`; legacy totals are primary only).
    #[param(inline)]
    metric: Option<Metric>,
    /// First UTC day, inclusive.
    start_date: Option<NaiveDate>,
    /// Last UTC day, inclusive.
    end_date: Option<NaiveDate>,
    /// `csv` for CSV.
    #[param(inline)]
    format: Option<Format>,
}

/// Query parameters of `GET /api/get_daily_downloads` and `/api/get_todays_downloads`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DailyParams {
    /// Any IANA time zone name (default `UTC`).
    #[param(example = "America/New_York")]
    timezone: Option<String>,
    /// The local day (default: today in `timezone`).
    date: Option<NaiveDate>,
    /// The fact table (default `hourly`).
    #[param(inline)]
    model: Option<ModelName>,
    /// `csv` for CSV.
    #[param(inline)]
    format: Option<Format>,
}

/// Query parameters of `GET /api/get_submissions`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SubmissionsParams {
    /// `month` (default) or `year`.
    #[param(inline)]
    time_group: Option<TimeGroup>,
    /// First day, inclusive (a month counts when its first day is inside the range).
    start_date: Option<NaiveDate>,
    /// Last day, inclusive.
    end_date: Option<NaiveDate>,
    /// `csv` for CSV.
    #[param(inline)]
    format: Option<Format>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(q: &str) -> Result<DataQuery, String> {
        let p = RawParams::parse(q).map_err(|e| e.to_string())?;
        DataQuery::try_from(&p).map_err(|e| e.to_string())
    }

    #[test]
    fn a_dashboard_request_parses_with_defaults() {
        let q = data("model=hourly&group_by=category").unwrap();
        assert_eq!(q.group_by, Dimension::Category);
        assert_eq!(
            (q.second_group_by, q.time_group, q.metric),
            (None, None, Metric::Primary)
        );
    }

    #[test]
    fn empty_optional_parameters_count_as_absent_and_unknown_ones_are_ignored() {
        let q = data("model=hourly&group_by=country&second_group_by=&time_group=&_=123").unwrap();
        assert_eq!((q.second_group_by, q.time_group), (None, None));
    }

    #[test]
    fn a_count_column_is_not_a_dimension() {
        let err = data("model=hourly&group_by=primary_count").unwrap_err();
        assert!(
            err.contains("group_by") && err.contains("country, download_type, archive, category"),
            "{err}"
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let err = data("model=hourly&group_by=country&group_by=archive").unwrap_err();
        assert!(
            err.contains("group_by") && err.contains("more than once"),
            "{err}"
        );
    }

    #[test]
    fn second_group_by_must_differ() {
        assert!(data("model=hourly&group_by=country&second_group_by=country").is_err());
    }

    #[test]
    fn dates_must_be_real_and_in_order() {
        assert!(data("model=hourly&group_by=country&start_date=2026-02-30").is_err());
        assert!(data("model=hourly&group_by=country&start_date=2026-2-3").is_err());
        assert!(
            data("model=hourly&group_by=country&start_date=2026-03-02&end_date=2026-03-01")
                .is_err()
        );
        let q = data("model=hourly&group_by=country&start_date=2026-03-01&end_date=2026-03-01")
            .unwrap();
        let r = q.range.to_time_range();
        assert_eq!(r.from.unwrap().to_string(), "2026-03-01 00:00:00");
        assert_eq!(r.to.unwrap().to_string(), "2026-03-02 00:00:00");
    }

    #[test]
    fn filters_split_on_commas_lowercase_countries_and_allow_escaped_commas() {
        let q =
            data("model=hourly&group_by=archive&country=United%20States,Germany&category=a\\,b,c")
                .unwrap();
        assert_eq!(q.filters[0].values, vec!["germany", "united states"]);
        assert_eq!(q.filters[1].dimension, Dimension::Category);
        assert_eq!(q.filters[1].values, vec!["a,b", "c"]);
        assert!(data("model=hourly&group_by=archive&country=a,,b").is_err());
    }

    #[test]
    fn percent_escapes_that_are_not_utf8_are_refused_in_known_parameters_only() {
        assert!(data("model=hourly&group_by=%C3%28").is_err());
        assert!(data("model=hourly&group_by=country&country=%FF").is_err());
        assert!(data("model=hourly&group_by=country&foo=%FF&%FF=1").is_ok());
    }

    #[test]
    fn extreme_dates_leave_the_range_open() {
        let q = data("model=hourly&group_by=country&start_date=0001-01-01&end_date=9999-12-31")
            .unwrap();
        assert_eq!(q.range.to_time_range(), TimeRange::default());
    }

    #[test]
    fn csv_is_chosen_by_format_or_by_an_accept_header_that_does_not_refuse_it() {
        let none = RawParams::parse("").unwrap();
        assert_eq!(
            Format::negotiate(&none, Some("text/csv")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::negotiate(&none, Some("application/json, text/csv;q=0.5")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::negotiate(&none, Some("text/csv;q=0, application/json")).unwrap(),
            Format::Json
        );
        assert_eq!(Format::negotiate(&none, None).unwrap(), Format::Json);
        let json = RawParams::parse("format=json").unwrap();
        assert_eq!(
            Format::negotiate(&json, Some("text/csv")).unwrap(),
            Format::Json
        );
    }

    #[test]
    fn plus_is_a_space() {
        let q = data("model=hourly&group_by=country&country=united+states").unwrap();
        assert_eq!(q.filters[0].values, vec!["united states"]);
    }

    #[test]
    fn daily_query_defaults_and_time_zones() {
        let p = RawParams::parse("").unwrap();
        let q = DailyQuery::try_from(&p).unwrap();
        assert_eq!((q.timezone, q.date), (Tz::UTC, None));
        let p = RawParams::parse("timezone=Asia/Kathmandu&date=2026-03-08").unwrap();
        assert_eq!(
            DailyQuery::try_from(&p).unwrap().timezone,
            Tz::Asia__Kathmandu
        );
        let p = RawParams::parse("timezone=Mars/Olympus").unwrap();
        assert!(
            DailyQuery::try_from(&p)
                .unwrap_err()
                .to_string()
                .contains("timezone")
        );
    }
}
