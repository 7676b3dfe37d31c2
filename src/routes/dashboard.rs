//! The dashboard at `/`: every view of the React dashboard arXiv shipped, drawn by the service
//! from the API's own answers. Each view asks the answer cache for the API request it shows
//! (linked on the page, with its CSV), so its numbers are the API's, byte for byte the same
//! query. Server-rendered and self-contained; a small inline script only moves a visitor who
//! has not chosen a zone to the browser's own, and every view works without it.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::cache::AnswerKey;
use crate::error::ApiError;
use crate::state::AppState;
use crate::stats::pages::{
    Bar, bar_chart, error_page, hbar_chart_split, long_date, shell, thousands,
};
use crate::stats::params::from_query;
use crate::stats::vocab::Format;
use crate::stats::{Endpoint, Query};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::get_only("/", dashboard));
}

/// The views, by their `view` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Daily,
    Monthly,
    Submissions,
    Country,
    Category,
    Archive,
}

impl View {
    const ALL: [View; 6] = [
        View::Daily,
        View::Monthly,
        View::Submissions,
        View::Country,
        View::Category,
        View::Archive,
    ];

    fn name(self) -> &'static str {
        match self {
            View::Daily => "daily",
            View::Monthly => "monthly",
            View::Submissions => "submissions",
            View::Country => "country",
            View::Category => "category",
            View::Archive => "archive",
        }
    }

    fn title(self) -> &'static str {
        match self {
            View::Daily => "Downloads per hour",
            View::Monthly => "Monthly downloads",
            View::Submissions => "Monthly submissions",
            View::Country => "Downloads by country",
            View::Category => "Downloads by category",
            View::Archive => "Downloads by archive",
        }
    }
}

/// The dashboard's parameters: `view`, and the API's own names for the rest.
#[derive(Debug, Deserialize)]
struct DashboardParams {
    view: Option<String>,
    timezone: Option<String>,
    date: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    metric: Option<String>,
    /// The one second dimension that reads well beside any first one: the three download types.
    second_group_by: Option<String>,
}

async fn dashboard(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match render(&req, &state).await {
        Ok(page) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-cache"))
            .body(page),
        Err(e) if e.status_code() == StatusCode::INTERNAL_SERVER_ERROR => e.error_response(),
        Err(e) => HttpResponse::build(e.status_code())
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(error_page(e.status_code().as_u16(), &e.to_string())),
    }
}

async fn render(req: &HttpRequest, state: &AppState) -> Result<String, ApiError> {
    let mut p: DashboardParams = from_query(req.query_string())?;
    // Shown as the zone database spells it, whatever case the link used.
    if let Some(tz) = p
        .timezone
        .as_deref()
        .and_then(|z| Tz::from_str_insensitive(z).ok())
    {
        p.timezone = Some(tz.name().to_string());
    }
    let view = match p.view.as_deref() {
        None => View::Daily,
        Some(name) => View::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "parameter view: {name:?} is not allowed; allowed: {}",
                    View::ALL.map(View::name).join(", ")
                ))
            })?,
    };
    let now = Utc::now();
    // The API request the view charts, with every default written out, so that the link on the
    // page reproduces exactly these numbers.
    let (endpoint, api) = match view {
        View::Daily => {
            let zone = p.timezone.as_deref().unwrap_or("UTC");
            let tz: Tz = zone
                .parse()
                .or_else(|_| Tz::from_str_insensitive(zone))
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "parameter timezone: {zone:?} is not an IANA time zone name such as \
                         UTC, America/New_York or Asia/Kolkata"
                    ))
                })?;
            let date = match p.date.as_deref() {
                Some(d) => encode(d),
                None => now.with_timezone(&tz).format("%Y-%m-%d").to_string(),
            };
            (
                Endpoint::Daily,
                format!("model=hourly&timezone={}&date={date}", encode(tz.name())),
            )
        }
        View::Monthly => {
            let mut api = "model=hourly&time_group=month".to_string();
            // Local months; legacy months stay the UTC months they are.
            if let Some(zone) = p.timezone.as_deref().filter(|z| *z != "UTC") {
                api.push_str(&format!("&timezone={}", encode(zone)));
            }
            (Endpoint::GlobalSum, api)
        }
        View::Submissions => (Endpoint::Submissions, "time_group=month".to_string()),
        View::Country | View::Category | View::Archive => {
            let mut api = format!("model=hourly&group_by={}", view.name());
            for (name, value) in [
                ("start_date", &p.start_date),
                ("end_date", &p.end_date),
                ("metric", &p.metric),
            ] {
                if let Some(value) = value {
                    api.push_str(&format!("&{name}={}", encode(value)));
                }
            }
            match p.second_group_by.as_deref() {
                None => {}
                Some("download_type") => api.push_str("&second_group_by=download_type"),
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "parameter second_group_by: {other:?} is not allowed here; allowed: \
                         download_type (the dashboard splits by download type only)"
                    )));
                }
            }
            // A zone makes the date range local days; without a range it has nothing to apply
            // to (the API refuses it then), so it is left out.
            let ranged = p.start_date.is_some() || p.end_date.is_some();
            if let Some(zone) = p.timezone.as_deref().filter(|z| *z != "UTC" && ranged) {
                api.push_str(&format!("&timezone={}", encode(zone)));
            }
            (Endpoint::GetData, api)
        }
    };
    let parsed = Query::parse(endpoint, &api, now)?;
    let key = AnswerKey {
        query: parsed.query,
        format: Format::Json,
    };
    let (cached, _) = state.cache.get(key).await?;
    let answer: Value = serde_json::from_slice(&cached.body)
        .map_err(|e| ApiError::Internal(format!("dashboard: the API answer is not JSON: {e}")))?;
    let path = endpoint.paths()[0];
    let api_url = format!("{path}?{api}");
    let body = match view {
        View::Daily => daily(&p, &answer),
        View::Monthly => months(
            &answer,
            "Downloads per month (UTC months, legacy totals merged)",
            "Downloads",
        ),
        View::Submissions => months(&answer, "New submissions per month", "Submissions"),
        View::Country | View::Category | View::Archive => dimension(view, &p, &answer),
    };
    let body = html! {
        (controls(view, &p))
        @if answer.as_array().is_none_or(Vec::is_empty) {
            p.figure #nodata { "No data available." }
        } @else {
            (body)
        }
        p.links {
            "The API request of this view: " a #api href=(api_url) { (api_url) }
            " " a #csv href=(format!("{api_url}&format=csv")) { "CSV" }
        }
    };
    let links: Vec<(String, &str)> = View::ALL
        .into_iter()
        .map(|v| (format!("/?view={}", v.name()), v.title()))
        .chain([("/stats/main".to_string(), "arXiv statistics pages")])
        .collect();
    let links: Vec<(&str, &str)> = links.iter().map(|(h, t)| (h.as_str(), *t)).collect();
    let script = (view == View::Daily && p.timezone.is_none()).then_some(ZONE_SCRIPT);
    Ok(shell(view.title(), "usage dashboard", &links, body, script).into_string())
}

/// Moves a visitor who has not chosen a zone to the browser's own, if the service knows it.
const ZONE_SCRIPT: &str = r#"(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var select = document.getElementById('timezone');
  if (!zone || !select) return;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) {
      var url = new URL(window.location.href);
      url.searchParams.set('view', 'daily');
      url.searchParams.set('timezone', zone);
      window.location.replace(url.toString());
      return;
    }
  }
})();"#;

/// What a query value must escape: everything but letters, digits and `-_./` (zone names keep
/// their slash and underscore; `+` is escaped, as it would read as a space).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'/');

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// The form of a view: its own parameters, sent with GET so that the URL is the view.
fn controls(view: View, p: &DashboardParams) -> Markup {
    let zone = p.timezone.as_deref().unwrap_or("UTC");
    let zones = html! {
        label { "Time zone " select #timezone name="timezone" {
            @for tz in chrono_tz::TZ_VARIANTS {
                option value=(tz.name()) selected[tz.name().eq_ignore_ascii_case(zone)] { (tz.name()) }
            }
        } }
    };
    html! {
        form.controls method="get" action="/" {
            input type="hidden" name="view" value=(view.name());
            @match view {
                View::Daily => {
                    (zones)
                    label { "Day " input #date type="date" name="date" value=[p.date.as_deref()]; }
                }
                View::Monthly => { (zones) }
                View::Country | View::Category | View::Archive => {
                    (zones)
                    label { "From " input type="date" name="start_date" value=[p.start_date.as_deref()]; }
                    label { "to " input type="date" name="end_date" value=[p.end_date.as_deref()]; }
                    label { "Downloads " select name="metric" {
                        @for (value, text) in [("primary", "primary"), ("cross", "cross-listed"), ("total", "total")] {
                            option value=(value) selected[p.metric.as_deref() == Some(value)] { (text) }
                        }
                    } }
                    label { "Split " select name="second_group_by" {
                        option value="" selected[p.second_group_by.is_none()] { "no" }
                        option value="download_type" selected[p.second_group_by.as_deref() == Some("download_type")] { "by download type" }
                    } }
                }
                View::Submissions => {}
            }
            @if view != View::Submissions {
                button type="submit" { "Show" }
            }
        }
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn daily(p: &DashboardParams, answer: &Value) -> Markup {
    let entries = answer.as_array().cloned().unwrap_or_default();
    let starts: Vec<&str> = entries.iter().filter_map(|e| e["start"].as_str()).collect();
    // On a day the clocks change the offset tells the repeated hour apart.
    let offsets_change = starts.windows(2).any(|w| w[0].get(19..) != w[1].get(19..));
    let bars: Vec<Bar> = entries
        .iter()
        .map(|e| {
            let start = e["start"].as_str().unwrap_or_default();
            let hour = start.get(11..16).unwrap_or_default();
            Bar {
                label: if offsets_change {
                    format!("{hour} {}", start.get(19..).unwrap_or_default())
                } else {
                    hour.to_string()
                },
                title: format!("{start}: {} downloads", thousands(int(&e["total_primary"]))),
                value: int(&e["total_primary"]),
            }
        })
        .collect();
    let total: i64 = bars.iter().map(|b| b.value).sum();
    let zone = p.timezone.as_deref().unwrap_or("UTC");
    let day = starts
        .first()
        .and_then(|s| chrono::NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok());
    let caption = match day {
        Some(d) => format!("Downloads per hour, {} ({zone})", long_date(d)),
        None => format!("Downloads per hour ({zone})"),
    };
    html! {
        p.figure { "Total: " strong #total { (thousands(total)) } " primary downloads in "
            (bars.len()) " hours" }
        (bar_chart(&caption, &format!("Hour starting, local time in {zone}"), "Downloads", &bars, 1))
        p.note { "Each UTC hour counts in the local hour where it starts; the day ends at the newest hour of data." }
    }
}

fn months(answer: &Value, caption: &str, value_title: &str) -> Markup {
    let entries = answer.as_array().cloned().unwrap_or_default();
    let bars: Vec<Bar> = entries
        .iter()
        .map(|e| {
            let label = e["time_group"].as_str().unwrap_or_default();
            let january = label.get(5..7) == Some("01");
            let year: i32 = label.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
            Bar {
                label: if january && year % 5 == 0 {
                    year.to_string()
                } else {
                    String::new()
                },
                title: format!(
                    "{}: {}",
                    label.get(..7).unwrap_or(label),
                    thousands(int(&e["total_sum"]))
                ),
                value: int(&e["total_sum"]),
            }
        })
        .collect();
    let total: i64 = bars.iter().map(|b| b.value).sum();
    html! {
        p.figure { "Total: " strong #total { (thousands(total)) } " in " (bars.len()) " months" }
        (bar_chart(caption, "Month", value_title, &bars, 0))
    }
}

/// Per value of the view's dimension: its total and, split by download type, the part of each.
type DimensionRow = (String, i64, Vec<(String, i64)>);

fn dimension(view: View, p: &DashboardParams, answer: &Value) -> Markup {
    let mut rows: Vec<DimensionRow> = answer
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let name = e[view.name()].as_str().unwrap_or("(none)").to_string();
            match e["data"].as_array() {
                // Split by download type: parallel arrays of types and counts.
                Some(counts) => {
                    let types = e["download_type"].as_array().cloned().unwrap_or_default();
                    let split: Vec<(String, i64)> = types
                        .iter()
                        .zip(counts)
                        .map(|(t, n)| (t.as_str().unwrap_or("(none)").to_string(), int(n)))
                        .collect();
                    (name, split.iter().map(|(_, n)| n).sum(), split)
                }
                None => (name, int(&e["data"]), Vec::new()),
            }
        })
        .collect();
    let mut types: Vec<String> = rows
        .iter()
        .flat_map(|(_, _, split)| split.iter().map(|(t, _)| t.clone()))
        .collect();
    types.sort();
    types.dedup();
    // Largest first, then by name, so that equal counts keep a stable order.
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let metric = p.metric.as_deref().unwrap_or("primary");
    let bars: Vec<Bar> = rows
        .iter()
        .map(|(name, n, split)| Bar {
            label: name.clone(),
            title: if split.is_empty() {
                format!("{name}: {}", thousands(*n))
            } else {
                let parts: Vec<String> = split
                    .iter()
                    .map(|(t, k)| format!("{t} {}", thousands(*k)))
                    .collect();
                format!("{name}: {} ({})", thousands(*n), parts.join(", "))
            },
            value: *n,
        })
        .collect();
    let total: i64 = rows.iter().map(|(_, n, _)| n).sum();
    let range = match (&p.start_date, &p.end_date) {
        (None, None) => "all days".to_string(),
        (from, to) => format!(
            "{} to {} (days in {})",
            from.as_deref().unwrap_or("the first day"),
            to.as_deref().unwrap_or("the last day"),
            p.timezone.as_deref().unwrap_or("UTC")
        ),
    };
    html! {
        p.figure { "Total: " strong #total { (thousands(total)) } " " (metric) " downloads, "
            (rows.len()) " " (view.name()) " values, " (range) }
        (hbar_chart_split(
            &format!("{} ({metric} downloads), largest first", view.title()),
            view.name(),
            "Downloads",
            &bars,
            &types,
            &rows
                .iter()
                .map(|(_, _, split)| {
                    types
                        .iter()
                        .map(|t| split.iter().find(|(s, _)| s == t).map_or(0, |(_, k)| *k))
                        .collect()
                })
                .filter(|shares: &Vec<i64>| !types.is_empty() && !shares.is_empty())
                .collect::<Vec<_>>(),
        ))
        details {
            summary { "The numbers as a table" }
            div.scroll { table {
                thead { tr { th { (view.name()) } @for t in &types { th { (t) } } th { "downloads" } } }
                tbody { @for (name, n, split) in &rows { tr {
                    td { (name) }
                    @for t in &types {
                        td.num { (thousands(split.iter().find(|(s, _)| s == t).map_or(0, |(_, k)| *k))) }
                    }
                    td.num { (thousands(*n)) }
                } } }
            } }
        }
    }
}
