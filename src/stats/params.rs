//! Parse, don't validate: a query string becomes one raw params struct per endpoint (the one
//! list of its parameter names, which also documents them in OpenAPI), and that struct becomes
//! a validated query ([`DataQuery`], [`GlobalSumQuery`], [`DailyQuery`], [`SubmissionsQuery`])
//! made of enums and dates. Past this module no string from the user exists except dimension
//! filter values, which only ever travel as bound parameters.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use percent_encoding::percent_decode;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use super::vocab::{Dimension, Format, Metric, Model, ModelName, Period, TimeGroup};

/// Longest query string, in bytes: the longest legitimate one (100 filter values) fits well.
pub const MAX_QUERY_LEN: usize = 8 * 1024;
/// Longest value a parameter may have, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;
/// Most values a comma-separated filter may list.
pub const MAX_FILTER_VALUES: usize = 100;
/// Longest single filter value (the widest column, `country`, is varchar(255)).
pub const MAX_FILTER_VALUE_LEN: usize = 255;

/// A request's parameters are wrong; the message names the parameter and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A parameter is missing, repeated, malformed or not one of the allowed values.
    #[error("{0}")]
    Invalid(String),
    /// The query string is longer than any legitimate one.
    #[error("{0}")]
    TooLong(String),
}

fn bad(message: impl Into<String>) -> ParamError {
    ParamError::Invalid(message.into())
}

/// Reads the raw params `T` of an endpoint from a query string. Names and values are
/// percent-decoded (`+` is a space); a name given twice is refused when `T` knows it, unknown
/// names are ignored whatever they hold (the shipped dashboard sends extra ones); an empty
/// value counts as absent; a known value must be UTF-8 and at most [`MAX_VALUE_LEN`] bytes.
pub fn from_query<T: DeserializeOwned>(query: &str) -> Result<T, ParamError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(ParamError::TooLong(format!(
            "the query string is longer than {MAX_QUERY_LEN} bytes"
        )));
    }
    let pairs = query
        .split('&')
        .filter(|s| !s.is_empty())
        .filter_map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            // A name that is not UTF-8 is no parameter this service knows.
            let name = decode(name).ok()?;
            let value = RawValue {
                value: decode(value).ok(),
                name: name.clone(),
            };
            Some((name, value))
        });
    T::deserialize(de::value::MapDeserializer::new(pairs)).map_err(|e| e.0)
}

fn decode(raw: &str) -> Result<String, std::str::Utf8Error> {
    let plus_as_space = raw.replace('+', " ");
    percent_decode(plus_as_space.as_bytes())
        .decode_utf8()
        .map(|s| s.into_owned())
}

/// The error of [`from_query`]'s deserializer: a [`ParamError`] whose message is ours.
#[derive(Debug)]
pub struct DeError(ParamError);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(bad(msg.to_string()))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError(bad(format!(
            "parameter {field} is given more than once; give it at most once"
        )))
    }
}

/// One decoded value (`None`: not UTF-8), with its parameter's name for messages.
struct RawValue {
    name: String,
    value: Option<String>,
}

impl RawValue {
    fn checked(self) -> Result<String, DeError> {
        let name = &self.name;
        match self.value {
            None => Err(DeError(bad(format!(
                "parameter {name}: the value is not valid UTF-8 after percent-decoding"
            )))),
            Some(v) if v.len() > MAX_VALUE_LEN => Err(DeError(bad(format!(
                "parameter {name} is longer than {MAX_VALUE_LEN} bytes"
            )))),
            // No stored value holds one, and PostgreSQL refuses a NUL in bound text.
            Some(v) if v.chars().any(char::is_control) => Err(DeError(bad(format!(
                "parameter {name}: control characters (NUL, tab, line breaks, ...) are not \
                 allowed in a value"
            )))),
            Some(v) => Ok(v),
        }
    }
}

impl<'de> IntoDeserializer<'de, DeError> for RawValue {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for RawValue {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_string(self.checked()?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.value.as_deref() == Some("") {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier
    }
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

fn invalid(name: &str, value: &str, allowed: &str) -> ParamError {
    bad(format!(
        "parameter {name}: {} is not allowed; allowed: {allowed}",
        shorten(value)
    ))
}

fn required<'a>(
    value: &'a Option<String>,
    name: &str,
    allowed: &str,
) -> Result<&'a str, ParamError> {
    value
        .as_deref()
        .ok_or_else(|| bad(format!("parameter {name} is required; allowed: {allowed}")))
}

/// An optional value read with `parse`, refused with the allowed values when it does not parse.
fn optional<T>(
    value: &Option<String>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<Option<T>, ParamError> {
    value
        .as_deref()
        .map(|v| parse(v).ok_or_else(|| invalid(name, v, allowed)))
        .transpose()
}

/// A required value read with `parse`.
fn one_of<T>(
    value: &Option<String>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<T, ParamError> {
    let v = required(value, name, allowed)?;
    parse(v).ok_or_else(|| invalid(name, v, allowed))
}

fn model(value: &Option<String>, is_required: bool) -> Result<Model, ParamError> {
    match value {
        None if !is_required => Ok(Model::Hourly),
        _ => one_of(value, "model", Model::from_wire, Model::ALLOWED),
    }
}

const DATE: &str = "a date written YYYY-MM-DD";

/// Inclusive range of days (UTC, or local to the query's zone); either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DateRange {
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

impl DateRange {
    fn parse(start: &Option<String>, end: &Option<String>) -> Result<Self, ParamError> {
        let start = optional(start, "start_date", parse_date, DATE)?;
        let end = optional(end, "end_date", parse_date, DATE)?;
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(bad(format!(
                "start_date {s} is after end_date {e}; the range is inclusive and must not be empty"
            )));
        }
        Ok(Self { start, end })
    }

    /// The half-open UTC datetime range `[from, to)` of the UTC days.
    pub fn to_time_range(self) -> TimeRange {
        self.to_time_range_in(Tz::UTC)
    }

    /// The UTC hours `[from, to)` that start on the local days of the range in `tz`: from the
    /// first hour that starts on `start` to the first that starts after `end` (each UTC hour
    /// belongs to the local day where it starts, so in a :30 zone the range starts at :00 UTC
    /// half an hour after local midnight).
    pub fn to_time_range_in(self, tz: Tz) -> TimeRange {
        // Bounds outside 1000..=9998 are left open: no data lies there, MySQL's DATETIME range
        // starts at 1000, and the day after 9999-12-31 would be written with five year digits,
        // which SQLite compares as text.
        let first = NaiveDate::from_ymd_opt(1000, 1, 1).unwrap_or(NaiveDate::MIN);
        let last = NaiveDate::from_ymd_opt(9998, 12, 31).unwrap_or(NaiveDate::MAX);
        TimeRange {
            from: self
                .start
                .filter(|d| *d >= first)
                .and_then(|d| first_hour_of_local_day(tz, d)),
            to: self
                .end
                .filter(|d| *d <= last)
                .and_then(|d| d.succ_opt())
                .and_then(|d| first_hour_of_local_day(tz, d)),
        }
    }

    /// Whether a monthly row (labelled by its first day) is inside the range.
    pub fn contains(self, day: NaiveDate) -> bool {
        self.start.is_none_or(|s| day >= s) && self.end.is_none_or(|e| day <= e)
    }
}

/// The first UTC hour that starts on `date` or later in `tz` (naive UTC).
pub fn first_hour_of_local_day(tz: Tz, date: NaiveDate) -> Option<NaiveDateTime> {
    if tz == Tz::UTC {
        return date.and_hms_opt(0, 0, 0);
    }
    // Every offset in use lies within ±15 h of UTC.
    let first = date.and_hms_opt(0, 0, 0)? - chrono::Duration::hours(16);
    (0..24 + 32)
        .map(|i| first + chrono::Duration::hours(i))
        .find(|h| h.and_utc().with_timezone(&tz).date_naive() >= date)
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
    fn parse(dimension: Dimension, raw: &str) -> Result<Self, ParamError> {
        let name = dimension.as_str();
        let mut values = Vec::new();
        let mut current = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped @ (',' | '\\')) => current.push(escaped),
                    _ => {
                        return Err(bad(format!(
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
            return Err(bad(format!(
                "parameter {name}: empty value in the list; give one or more values separated by commas"
            )));
        }
        if values.len() > MAX_FILTER_VALUES {
            return Err(bad(format!(
                "parameter {name}: at most {MAX_FILTER_VALUES} values"
            )));
        }
        if let Some(long) = values
            .iter()
            .find(|v| v.chars().count() > MAX_FILTER_VALUE_LEN)
        {
            return Err(bad(format!(
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

// The raw params of each endpoint: every field is the text as given (an empty value is
// absent), documented for OpenAPI with the type it must parse as.

/// Query parameters of `GET /api/get_data`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataParams {
    /// The fact table.
    #[param(value_type = ModelName, inline, required = true)]
    pub model: Option<String>,
    /// Dimension of the answer's objects.
    #[param(value_type = Dimension, inline, required = true)]
    pub group_by: Option<String>,
    /// Second dimension, as parallel arrays; must differ from `group_by`.
    #[param(value_type = Option<Dimension>, inline)]
    pub second_group_by: Option<String>,
    /// Time bucket in `timezone`, as parallel arrays labelled `YYYY`, `YYYY-MM-01`,
    /// `YYYY-MM-DD` (`week`: the Monday that starts the ISO week) or `YYYY-MM-DDTHH:00:00Z`
    /// (outside UTC, `YYYY-MM-DDTHH:MM:00±HH:MM`).
    #[param(value_type = Option<TimeGroup>, inline)]
    pub time_group: Option<String>,
    /// IANA time zone of `time_group`, `start_date` and `end_date` (default `UTC`; only with
    /// one of them).
    #[param(example = "America/New_York", max_length = 64)]
    pub timezone: Option<String>,
    /// What `data` sums (default `primary`).
    #[param(value_type = Option<Metric>, inline)]
    pub metric: Option<String>,
    /// First day (in `timezone`), inclusive.
    #[param(value_type = Option<NaiveDate>, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub start_date: Option<String>,
    /// Last day (in `timezone`), inclusive.
    #[param(value_type = Option<NaiveDate>, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub end_date: Option<String>,
    /// Exact countries, comma-separated (any matches; matched lowercase; `\,` is a comma).
    #[param(max_length = 4096)]
    pub country: Option<String>,
    /// Exact categories, comma-separated.
    #[param(max_length = 4096)]
    pub category: Option<String>,
    /// Exact archives, comma-separated.
    #[param(max_length = 4096)]
    pub archive: Option<String>,
    /// Exact download types, comma-separated.
    #[param(max_length = 4096)]
    pub download_type: Option<String>,
    /// `csv` for CSV (also chosen by `Accept: text/csv`).
    #[param(value_type = Option<Format>, inline)]
    pub format: Option<String>,
}

impl DataParams {
    fn filter(&self, dimension: Dimension) -> &Option<String> {
        match dimension {
            Dimension::Country => &self.country,
            Dimension::DownloadType => &self.download_type,
            Dimension::Archive => &self.archive,
            Dimension::Category => &self.category,
        }
    }
}

/// Query parameters of `GET /api/get_global_sum`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GlobalSumParams {
    /// The fact table.
    #[param(value_type = ModelName, inline, required = true)]
    pub model: Option<String>,
    /// Period of each entry in `timezone`; `month` and `year` merge in legacy monthly totals.
    #[param(value_type = TimeGroup, inline, required = true)]
    pub time_group: Option<String>,
    /// IANA time zone of the periods and of `start_date` and `end_date` (default `UTC`).
    #[param(example = "America/New_York", max_length = 64)]
    pub timezone: Option<String>,
    /// What `total_sum` adds up (default `primary`; legacy totals are primary only).
    #[param(value_type = Option<Metric>, inline)]
    pub metric: Option<String>,
    /// First day (in `timezone`), inclusive.
    #[param(value_type = Option<NaiveDate>, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub start_date: Option<String>,
    /// Last day (in `timezone`), inclusive.
    #[param(value_type = Option<NaiveDate>, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub end_date: Option<String>,
    /// `csv` for CSV.
    #[param(value_type = Option<Format>, inline)]
    pub format: Option<String>,
}

/// Query parameters of `GET /api/get_daily_downloads` and `/api/get_todays_downloads`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyParams {
    /// Any IANA time zone name (default `UTC`).
    #[param(example = "America/New_York", max_length = 64)]
    pub timezone: Option<String>,
    /// The local day (default: today in `timezone`).
    #[param(value_type = Option<NaiveDate>, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub date: Option<String>,
    /// The fact table (default `hourly`).
    #[param(value_type = Option<ModelName>, inline)]
    pub model: Option<String>,
    /// `csv` for CSV.
    #[param(value_type = Option<Format>, inline)]
    pub format: Option<String>,
}

/// Query parameters of `GET /api/get_submissions`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubmissionsParams {
    /// `month` (default) or `year`.
    #[param(value_type = Option<Period>, inline)]
    pub time_group: Option<String>,
    /// First day, inclusive (a month counts when its first day is inside the range).
    #[param(value_type = Option<NaiveDate>, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub start_date: Option<String>,
    /// Last day, inclusive.
    #[param(value_type = Option<NaiveDate>, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub end_date: Option<String>,
    /// `csv` for CSV.
    #[param(value_type = Option<Format>, inline)]
    pub format: Option<String>,
}

/// The `format` parameter (`None`: not given, the HTTP layer may negotiate).
pub fn format(value: &Option<String>) -> Result<Option<Format>, ParamError> {
    optional(value, "format", Format::from_wire, Format::ALLOWED)
}

/// `GET /api/get_data`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataQuery {
    pub group_by: Dimension,
    pub second_group_by: Option<Dimension>,
    pub time_group: Option<TimeGroup>,
    /// The zone of `time_group` and `range` (UTC unless one of them is given).
    pub timezone: Tz,
    pub metric: Metric,
    pub range: DateRange,
    /// One entry per filtered dimension, in [`Dimension::ALL`] order.
    pub filters: Vec<Filter>,
}

impl TryFrom<&DataParams> for DataQuery {
    type Error = ParamError;

    fn try_from(p: &DataParams) -> Result<Self, ParamError> {
        model(&p.model, true)?;
        let group_by = one_of(
            &p.group_by,
            "group_by",
            Dimension::from_wire,
            Dimension::ALLOWED,
        )?;
        let second_group_by = optional(
            &p.second_group_by,
            "second_group_by",
            Dimension::from_wire,
            Dimension::ALLOWED,
        )?;
        if second_group_by == Some(group_by) {
            return Err(bad(format!(
                "parameter second_group_by must differ from group_by ({group_by}); allowed: the other dimensions of {}",
                Dimension::ALLOWED
            )));
        }
        let time_group = optional(
            &p.time_group,
            "time_group",
            TimeGroup::from_wire,
            TimeGroup::ALLOWED,
        )?;
        let metric = optional(&p.metric, "metric", Metric::from_wire, Metric::ALLOWED)?
            .unwrap_or(Metric::Primary);
        let range = DateRange::parse(&p.start_date, &p.end_date)?;
        let timezone = timezone(&p.timezone)?;
        if timezone.is_some() && time_group.is_none() && range == DateRange::default() {
            return Err(bad(
                "parameter timezone applies only to time_group, start_date and end_date; give \
                 one of them (time_group: year, month, week, day, hour) or drop timezone",
            ));
        }
        let mut filters = Vec::new();
        for &dimension in Dimension::ALL {
            if let Some(raw) = p.filter(dimension) {
                filters.push(Filter::parse(dimension, raw)?);
            }
        }
        Ok(Self {
            group_by,
            second_group_by,
            time_group,
            timezone: timezone.unwrap_or(Tz::UTC),
            metric,
            range,
            filters,
        })
    }
}

/// `GET /api/get_global_sum`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalSumQuery {
    pub time_group: TimeGroup,
    /// The zone of the periods and of `range`.
    pub timezone: Tz,
    pub metric: Metric,
    pub range: DateRange,
}

impl GlobalSumQuery {
    /// Months and years of primary downloads merge in `monthly_downloads`; the rest do not.
    pub fn legacy_merge(&self) -> bool {
        matches!(self.time_group, TimeGroup::Month | TimeGroup::Year)
            && self.metric == Metric::Primary
    }

    /// The UTC bucket the hourly totals are read by. With the legacy merge, hourly totals are
    /// needed per UTC month whatever the period (per UTC hour in another zone), so that the
    /// months the legacy table covers can be left out before periods are summed.
    pub fn grain(&self) -> TimeGroup {
        match (self.legacy_merge(), self.timezone) {
            (true, Tz::UTC) => TimeGroup::Month,
            (true, _) => TimeGroup::Hour,
            (false, tz) => self.time_group.grain(tz),
        }
    }
}

impl TryFrom<&GlobalSumParams> for GlobalSumQuery {
    type Error = ParamError;

    fn try_from(p: &GlobalSumParams) -> Result<Self, ParamError> {
        model(&p.model, true)?;
        let time_group = one_of(
            &p.time_group,
            "time_group",
            TimeGroup::from_wire,
            TimeGroup::ALLOWED,
        )?;
        let metric = optional(&p.metric, "metric", Metric::from_wire, Metric::ALLOWED)?
            .unwrap_or(Metric::Primary);
        Ok(Self {
            time_group,
            timezone: timezone(&p.timezone)?.unwrap_or(Tz::UTC),
            metric,
            range: DateRange::parse(&p.start_date, &p.end_date)?,
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

impl TryFrom<&SubmissionsParams> for SubmissionsQuery {
    type Error = ParamError;

    fn try_from(p: &SubmissionsParams) -> Result<Self, ParamError> {
        let time_group = optional(
            &p.time_group,
            "time_group",
            Period::from_wire,
            Period::ALLOWED,
        )?
        .map_or(TimeGroup::Month, Period::time_group);
        Ok(Self {
            time_group,
            range: DateRange::parse(&p.start_date, &p.end_date)?,
        })
    }
}

/// The `timezone` parameter: any IANA name, case-insensitive, old aliases included.
fn timezone(value: &Option<String>) -> Result<Option<Tz>, ParamError> {
    optional(
        value,
        "timezone",
        |s| {
            s.parse::<Tz>()
                .or_else(|_| Tz::from_str_insensitive(s))
                .ok()
        },
        "an IANA time zone name such as UTC, America/New_York or Asia/Kolkata",
    )
}

/// `GET /api/get_daily_downloads`, validated. `date: None` means today in `timezone`, which
/// [`super::Query::parse`] resolves (with the clock) before the query is run or cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DailyQuery {
    pub timezone: Tz,
    pub date: Option<NaiveDate>,
}

impl TryFrom<&DailyParams> for DailyQuery {
    type Error = ParamError;

    fn try_from(p: &DailyParams) -> Result<Self, ParamError> {
        model(&p.model, false)?;
        let timezone = timezone(&p.timezone)?.unwrap_or(Tz::UTC);
        let date = optional(&p.date, "date", parse_date, DATE)?;
        Ok(Self { timezone, date })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(q: &str) -> Result<DataQuery, String> {
        let p: DataParams = from_query(q).map_err(|e| e.to_string())?;
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
    fn repeated_unknown_parameters_are_ignored_and_a_value_that_is_too_long_is_refused() {
        assert!(data("model=hourly&group_by=country&_=1&_=2").is_ok());
        let long = "a".repeat(MAX_VALUE_LEN + 1);
        let err = data(&format!("model=hourly&group_by=country&archive={long}")).unwrap_err();
        assert!(err.contains("archive") && err.contains("longer"), "{err}");
    }

    #[test]
    fn control_characters_are_refused_in_every_known_parameter() {
        for q in [
            "model=hourly&group_by=country&country=a%00b",
            "model=hourly&group_by=country&category=%00",
            "model=hourly&group_by=country&archive=cs%0A",
            "model=hourly&group_by=country&download_type=%09pdf",
            "model=hourly%00&group_by=country",
        ] {
            let err = data(q).unwrap_err();
            assert!(err.contains("control characters"), "{q}: {err}");
        }
        assert!(data("model=hourly&group_by=country&unknown=%00").is_ok());
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
    fn plus_is_a_space() {
        let q = data("model=hourly&group_by=country&country=united+states").unwrap();
        assert_eq!(q.filters[0].values, vec!["united states"]);
    }

    #[test]
    fn local_date_ranges_start_at_the_first_utc_hour_that_starts_on_the_day() {
        let range = |q: &str| {
            let q = data(&format!("model=hourly&group_by=country&{q}")).unwrap();
            let r = q.range.to_time_range_in(q.timezone);
            (r.from.unwrap().to_string(), r.to.unwrap().to_string())
        };
        // 00:00 in Kolkata is 18:30 UTC: the first hour that starts on the day is 19:00 UTC.
        assert_eq!(
            range("timezone=Asia/Calcutta&start_date=2026-03-01&end_date=2026-03-01"),
            ("2026-02-28 19:00:00".into(), "2026-03-01 19:00:00".into())
        );
        assert_eq!(
            range("timezone=America/New_York&start_date=2026-03-08&end_date=2026-03-08"),
            ("2026-03-08 05:00:00".into(), "2026-03-09 04:00:00".into())
        );
        assert_eq!(
            range("timezone=asia/kathmandu&start_date=2026-03-08&end_date=2026-03-08"),
            ("2026-03-07 19:00:00".into(), "2026-03-08 19:00:00".into())
        );
    }

    #[test]
    fn timezone_needs_a_time_group_or_a_range_and_week_is_a_time_group() {
        let err = data("model=hourly&group_by=country&timezone=UTC").unwrap_err();
        assert!(
            err.contains("timezone") && err.contains("time_group"),
            "{err}"
        );
        let q =
            data("model=hourly&group_by=country&time_group=week&timezone=Asia/Kolkata").unwrap();
        assert_eq!(
            (q.time_group, q.timezone),
            (Some(TimeGroup::Week), Tz::Asia__Kolkata)
        );
        assert!(data("model=hourly&group_by=country&time_group=day&timezone=Mars/Base").is_err());
        let sub =
            |q: &str| SubmissionsQuery::try_from(&from_query::<SubmissionsParams>(q).unwrap());
        assert!(
            sub("time_group=week")
                .unwrap_err()
                .to_string()
                .contains("month, year")
        );
    }

    #[test]
    fn daily_query_defaults_and_time_zones() {
        let daily = |q: &str| DailyQuery::try_from(&from_query::<DailyParams>(q).unwrap());
        let q = daily("").unwrap();
        assert_eq!((q.timezone, q.date), (Tz::UTC, None));
        assert_eq!(
            daily("timezone=Asia/Kathmandu&date=2026-03-08")
                .unwrap()
                .timezone,
            Tz::Asia__Kathmandu
        );
        assert!(
            daily("timezone=Mars/Olympus")
                .unwrap_err()
                .to_string()
                .contains("timezone")
        );
    }
}
