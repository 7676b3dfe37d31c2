//! The `/stats` pages as HTML: maud templates (every value escaped), an arXiv look of our own
//! (no arXiv asset files, no request that leaves the service), and bar charts drawn here as
//! inline SVG, each bar with a title that reads its number, so no script is needed.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::site::{SiteConfig, SiteContent, SitePayload, local_hour_label};

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:"Lucida Grande",Helvetica,Arial,sans-serif;color:#222;background:#fff;font-size:16px;line-height:1.45}
a{color:#0068ac}
header.masthead{background:#b31b1b;color:#fff;padding:.6rem 1.2rem;display:flex;align-items:baseline;gap:1rem;flex-wrap:wrap}
header.masthead .brand{font-family:Georgia,"Times New Roman",serif;font-size:2rem;font-weight:bold;color:#fff;text-decoration:none;letter-spacing:.02em}
header.masthead .section{font-size:1.1rem;color:#fbe9e9}
nav.crumbs{background:#f0f0f0;border-bottom:1px solid #ddd;padding:.4rem 1.2rem;font-size:.9rem}
nav.crumbs a{margin-right:1rem}
main{max-width:62rem;margin:0 auto;padding:1rem 1.2rem 2rem}
h1{font-family:Georgia,"Times New Roman",serif;font-weight:normal;font-size:1.7rem;margin:.6rem 0 1rem}
.figure{font-size:1.15rem;margin:.3rem 0}
.figure strong{font-size:1.3rem}
.note{color:#555;font-size:.9rem}
.chart{width:100%;height:auto;margin:1rem 0;border:1px solid #e4e4e4;background:#fcfcfc}
.chart .bar{fill:#b31b1b}
.chart .bar:hover{fill:#7c1212}
.chart text{font-size:12px;fill:#333;font-family:Helvetica,Arial,sans-serif}
.chart .axis{stroke:#555;stroke-width:1}
.chart .grid{stroke:#e2e2e2;stroke-width:1}
.chart .caption{font-size:15px;font-weight:bold}
.links a{margin-right:1.2rem}
ul.pages li{margin:.4rem 0}
footer{background:#f0f0f0;border-top:1px solid #ddd;padding:1rem 1.2rem;font-size:.85rem;color:#555}
footer a{margin-right:1rem}
.error{border-left:4px solid #b31b1b;padding:.5rem 1rem;background:#fff5f5}
form.controls{display:flex;flex-wrap:wrap;gap:.6rem 1.2rem;align-items:center;background:#f7f7f7;border:1px solid #e4e4e4;padding:.6rem .8rem;margin:.4rem 0 1rem}
form.controls select,form.controls input,form.controls button{font-size:.95rem;max-width:100%}
form.controls button{background:#b31b1b;color:#fff;border:0;padding:.3rem .9rem;border-radius:3px;cursor:pointer}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.5rem 0}
td,th{border-bottom:1px solid #e4e4e4;padding:.2rem .8rem;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85rem;word-break:break-all}
.links a{word-break:break-all}
@media (max-width:600px){main{padding:.6rem}h1{font-size:1.4rem}header.masthead .brand{font-size:1.6rem}}
"#;

/// Where the pages' icon is served; without one, browsers ask for `/favicon.ico`.
pub const FAVICON_PATH: &str = "/stats/favicon.svg";

/// The icon: a white "a" on arXiv's red, drawn here.
pub const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="5" fill="#b31b1b"/><text x="16" y="23" font-family="Georgia,serif" font-size="22" font-weight="bold" text-anchor="middle" fill="#fff">a</text></svg>"##;

/// The page of a site answer.
pub fn render(payload: &SitePayload) -> String {
    let config = &payload.config;
    let (title, body) = match &payload.content {
        SiteContent::Main => ("arXiv Usage Statistics".to_string(), main_page()),
        SiteContent::Requests { date, hours } => (
            format!("arXiv Web Edge Requests from {}", long_date(*date)),
            today_page(config, *date, hours, payload.generated),
        ),
        SiteContent::Downloads {
            months,
            latest_hour,
        } => (
            "arXiv Monthly Downloads".to_string(),
            downloads_page(months, latest_hour.as_ref()),
        ),
        SiteContent::Submissions { months, today } => (
            "arXiv Monthly Submissions".to_string(),
            submissions_page(config, months, *today),
        ),
    };
    layout(&title, body).into_string()
}

/// A page that says what was wrong with the request (or that the database is unavailable).
pub fn error_page(status: u16, message: &str) -> String {
    let title = match status {
        400 => "Bad request",
        404 => "Page not found",
        405 => "Method not allowed",
        503 => "Statistics temporarily unavailable",
        _ => "Error",
    };
    layout(
        title,
        html! {
            p.error { (message) }
            p { a href="/stats/main" { "Back to the statistics pages" } }
        },
    )
    .into_string()
}

fn layout(title: &str, body: Markup) -> Markup {
    shell(
        title,
        "usage statistics",
        &[
            ("/stats/main", "Statistics"),
            ("/stats/today", "Today"),
            ("/stats/monthly_downloads", "Monthly downloads"),
            ("/stats/monthly_submissions", "Monthly submissions"),
            ("/", "Dashboard"),
        ],
        body,
        None,
    )
}

/// A page of the service: the masthead with `section`, a bar of `links`, the title and body,
/// the footer; `script` (inline, optional) last.
pub fn shell(
    title: &str,
    section: &str,
    links: &[(&str, &str)],
    body: Markup,
    script: Option<&str>,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " | arXiv statistics" }
                link rel="icon" type="image/svg+xml" href=(FAVICON_PATH);
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.masthead {
                    a.brand href="/stats/main" { "arXiv" }
                    span.section { (section) }
                }
                nav.crumbs {
                    @for (href, text) in links {
                        a href=(href) { (text) }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer {
                    a href="/stats/main" { "Statistics" }
                    a href="/" { "Dashboard" }
                    a href="/docs/" { "API documentation" }
                    span { "Counts come from arXiv's hourly tables; times are local to the zone named on the page unless marked UTC." }
                }
                @if let Some(script) = script {
                    script { (PreEscaped(script)) }
                }
            }
        }
    }
}

fn main_page() -> Markup {
    html! {
        p { "Usage statistics of arXiv, from the same tables as the statistics API." }
        ul.pages {
            li { a href="/stats/today" { "Today's web edge requests" } " by hour, for any day ("
                a href="/stats/get_hourly_requests" { "CSV" } ")" }
            li { a href="/stats/monthly_downloads" { "Monthly downloads" } " since 1994" }
            li { a href="/stats/monthly_submissions" { "Monthly submissions" } " since 1991 ("
                a href="/stats/get_monthly_submissions" { "CSV" } ")" }
            li { a href="/" { "The dashboard" } ": downloads by hour in any time zone, by month, by country, category and archive" }
            li { a href="/docs/" { "The statistics API" } " (OpenAPI)" }
        }
    }
}

fn today_page(
    config: &SiteConfig,
    date: NaiveDate,
    hours: &[(DateTime<Tz>, i64)],
    generated: DateTime<Utc>,
) -> Markup {
    let csv = format!("/stats/get_hourly_requests?date={}", date.format("%Y%m%d"));
    let total: i64 = hours.iter().map(|(_, n)| n).sum();
    let now = generated.with_timezone(&config.tz);
    // On a day the clocks change, the zone's abbreviation tells the repeated hour apart.
    let changes = hours.windows(2).any(|w| w[0].0.offset() != w[1].0.offset());
    let bars: Vec<Bar> = hours
        .iter()
        .map(|(hour, n)| Bar {
            label: if changes {
                hour.format("%H:%M %Z").to_string()
            } else {
                hour.format("%H:%M").to_string()
            },
            title: format!("{}: {} requests", local_hour_label(hour), thousands(*n)),
            value: *n,
        })
        .collect();
    let day = |d: NaiveDate| format!("/stats/today?date={}", d.format("%Y%m%d"));
    html! {
        @if hours.is_empty() {
            p.figure { "No data currently available." }
        } @else {
            p.figure { "Total requests: " strong #total { (thousands(total)) } }
        }
        p.note { "Current time in " (config.tz.name()) ": " (now.format("%A, %B %-d, %Y, %H:%M %Z")) }
        @if !hours.is_empty() {
            (bar_chart(&format!("Requests per hour at the CDN edge, {}", long_date(date)),
                &format!("Hour starting ({})", config.tz.name()), "Requests", &bars, 1))
        }
        p.links {
            a href=(day(date - Duration::days(1))) { "Previous day" }
            a href=(day(date + Duration::days(1))) { "Next day" }
            a #csv href=(csv) { "These numbers as CSV" }
        }
    }
}

fn downloads_page(months: &[(NaiveDate, i64)], latest: Option<&DateTime<Tz>>) -> Markup {
    let total: i64 = months.iter().map(|(_, n)| n).sum();
    let bars = month_bars(months, "downloads");
    html! {
        @match latest {
            None => p.figure { "No data currently available." },
            Some(latest) => {
                // The series is of UTC months: its last one is the UTC month of the newest hour,
                // which for a few hours a month is not the local one.
                @let month = latest.naive_utc().format("%B %Y").to_string();
                p.figure { "Total downloads through " (month) ": "
                    strong #total { (thousands(total)) } }
                p.note { "Months before " (month) " (UTC) are arXiv's monthly totals; "
                    (month) " counts its hours through the one starting "
                    (latest.format("%Y-%m-%d %H:%M %Z")) "." }
                (bar_chart("Downloads per month (UTC months)", "Month", "Downloads", &bars, 0))
                p.links { a #csv href=(format!("/stats/get_monthly_downloads?latest_hour={}", latest.format("%Y%m%d%H"))) { "These numbers as CSV" } }
            }
        }
    }
}

fn submissions_page(
    config: &SiteConfig,
    months: &[(NaiveDate, i64)],
    today: Option<NaiveDate>,
) -> Markup {
    let today = today.unwrap_or(config.start_date);
    let counted: i64 = months
        .iter()
        .filter(|(m, _)| *m <= today)
        .map(|(_, n)| n)
        .sum();
    let total = counted - config.deleted_submissions;
    let available = total + config.migrated_submissions;
    let age = (today - config.start_date).num_days() as f64 / 365.25;
    let bars = month_bars(months, "submissions");
    html! {
        @if months.is_empty() {
            p.figure { "No data currently available." }
        } @else {
            p.figure { "Total submissions as of " (long_date(today)) ": " strong #total { (thousands(total)) } }
            p.figure { "Available: " strong #available { (thousands(available)) }
                " (including " (thousands(config.migrated_submissions)) " papers migrated from elsewhere)" }
            p.note { "arXiv is " span #age { (format!("{age:.1}")) } " years old (since "
                (long_date(config.start_date)) "). " (thousands(config.deleted_submissions))
                " submissions since deleted are not counted." }
            (bar_chart("New submissions per month", "Month", "Submissions", &bars, 0))
        }
        p.links { a #csv href="/stats/get_monthly_submissions" { "These numbers as CSV" } }
    }
}

/// A bar per month, labelled with the year every fifth January, titled `November 2026: 1,234
/// <unit>`.
fn month_bars(months: &[(NaiveDate, i64)], unit: &str) -> Vec<Bar> {
    months
        .iter()
        .map(|(m, n)| Bar {
            label: if m.month() == 1 && m.year() % 5 == 0 {
                m.year().to_string()
            } else {
                String::new()
            },
            title: format!("{}: {} {unit}", m.format("%B %Y"), thousands(*n)),
            value: *n,
        })
        .collect()
}

/// One bar: its axis label (may be empty), the title a reader sees on hovering it, its value.
pub struct Bar {
    pub label: String,
    pub title: String,
    pub value: i64,
}

/// A bar chart as inline SVG. `label_every` = 1 labels every bar; 0 labels the bars whose
/// label is not empty.
pub fn bar_chart(
    caption: &str,
    x_title: &str,
    y_title: &str,
    bars: &[Bar],
    label_every: usize,
) -> Markup {
    const W: f64 = 960.0;
    const H: f64 = 380.0;
    const LEFT: f64 = 90.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 36.0;
    const BOTTOM: f64 = 82.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let (step, top) = nice_scale(max);
    let slot = plot_w / bars.len().max(1) as f64;
    let gap = if slot > 6.0 { slot * 0.15 } else { 0.0 };
    let y = |v: i64| TOP + plot_h - (v as f64 / top as f64) * plot_h;
    let ticks: Vec<i64> = (0..).map(|i| i * step).take_while(|t| *t <= top).collect();
    html! {
        svg.chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(caption) xmlns="http://www.w3.org/2000/svg" {
            title { (caption) }
            text.caption x=(LEFT) y="22" { (caption) }
            @for t in &ticks {
                line.grid x1=(LEFT) x2=(W - RIGHT) y1=(y(*t)) y2=(y(*t)) {}
                text x=(LEFT - 8.0) y=(y(*t) + 4.0) text-anchor="end" { (short(*t)) }
            }
            @for (i, bar) in bars.iter().enumerate() {
                @let x = LEFT + i as f64 * slot + gap / 2.0;
                rect.bar x=(format!("{x:.2}")) y=(format!("{:.2}", y(bar.value)))
                    width=(format!("{:.2}", (slot - gap).max(0.5)))
                    height=(format!("{:.2}", TOP + plot_h - y(bar.value)))
                    data-value=(bar.value) {
                    title { (bar.title) }
                }
                @if (label_every > 0 && i % label_every == 0) || (label_every == 0 && !bar.label.is_empty()) {
                    @let lx = x + (slot - gap) / 2.0;
                    @let ly = TOP + plot_h + 14.0;
                    text x=(format!("{lx:.2}")) y=(ly) text-anchor="end"
                        transform=(format!("rotate(-50 {lx:.2} {ly})")) { (bar.label) }
                }
            }
            line.axis x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(TOP + plot_h) {}
            line.axis x1=(LEFT) x2=(W - RIGHT) y1=(TOP + plot_h) y2=(TOP + plot_h) {}
            text x=(LEFT + plot_w / 2.0) y=(H - 6.0) text-anchor="middle" { (x_title) }
            text x="16" y=(TOP + plot_h / 2.0) text-anchor="middle"
                transform=(format!("rotate(-90 16 {})", TOP + plot_h / 2.0)) { (y_title) }
        }
    }
}

/// A horizontal bar chart as inline SVG, one row per bar in the given order, each labelled on the
/// left with its value at the end: for long lists of named values (countries, categories).
pub fn hbar_chart(caption: &str, label_title: &str, value_title: &str, bars: &[Bar]) -> Markup {
    hbar_chart_split(caption, label_title, value_title, bars, &[], &[])
}

/// Colours of the parts of a split bar, in order (arXiv's red first).
const PART_COLOURS: [&str; 6] = [
    "#b31b1b", "#e3876f", "#6f8fb0", "#8a6fb0", "#6fb08a", "#b0a36f",
];

/// [`hbar_chart`] with each bar drawn as its parts, `parts[i][k]` being bar `i`'s share of
/// `series[k]`, and a legend of the series. The whole bar stays beneath them, with its title.
pub fn hbar_chart_split(
    caption: &str,
    label_title: &str,
    value_title: &str,
    bars: &[Bar],
    series: &[String],
    parts: &[Vec<i64>],
) -> Markup {
    const W: f64 = 960.0;
    const LEFT: f64 = 230.0;
    const RIGHT: f64 = 90.0;
    const TOP: f64 = 70.0;
    const ROW: f64 = 18.0;
    let plot_w = W - LEFT - RIGHT;
    let h = TOP + ROW * bars.len().max(1) as f64 + 16.0;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let (step, top) = nice_scale(max);
    let x = |v: i64| LEFT + (v as f64 / top as f64) * plot_w;
    let ticks: Vec<i64> = (0..).map(|i| i * step).take_while(|t| *t <= top).collect();
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(caption) xmlns="http://www.w3.org/2000/svg" {
            title { (caption) }
            text.caption x="8" y="20" { (caption) }
            text x=(LEFT + plot_w / 2.0) y="40" text-anchor="middle" { (value_title) }
            text x=(LEFT - 6.0) y="40" text-anchor="end" { (label_title) }
            @for t in &ticks {
                line.grid x1=(x(*t)) x2=(x(*t)) y1=(TOP - 6.0) y2=(h - 16.0) {}
                text x=(x(*t)) y=(TOP - 9.0) text-anchor="middle" { (short(*t)) }
            }
            @for (i, bar) in bars.iter().enumerate() {
                @let y = TOP + i as f64 * ROW;
                text x=(LEFT - 6.0) y=(format!("{:.1}", y + ROW * 0.7)) text-anchor="end" { (bar.label) }
                rect.bar x=(LEFT) y=(format!("{:.1}", y + 2.0))
                    width=(format!("{:.2}", (x(bar.value) - LEFT).max(0.0)))
                    height=(format!("{:.1}", ROW - 4.0)) data-value=(bar.value) {
                    title { (bar.title) }
                }
                @if let Some(shares) = parts.get(i) {
                    @for (k, (start, share)) in stacked(shares).into_iter().enumerate() {
                        rect.part x=(format!("{:.2}", x(start))) y=(format!("{:.1}", y + 2.0))
                            width=(format!("{:.2}", (x(start + share) - x(start)).max(0.0)))
                            height=(format!("{:.1}", ROW - 4.0))
                            fill=(PART_COLOURS[k % PART_COLOURS.len()]) data-value=(share) {
                            title { (bar.label) ", " (series.get(k).map(String::as_str).unwrap_or("")) ": " (thousands(share)) }
                        }
                    }
                }
                text x=(format!("{:.1}", x(bar.value) + 4.0)) y=(format!("{:.1}", y + ROW * 0.7)) { (thousands(bar.value)) }
            }
            line.axis x1=(LEFT) x2=(LEFT) y1=(TOP - 6.0) y2=(h - 16.0) {}
            @for (k, name) in series.iter().enumerate() {
                @let lx = W - RIGHT - 90.0 * (series.len() - k) as f64;
                rect x=(lx) y="8" width="12" height="12" fill=(PART_COLOURS[k % PART_COLOURS.len()]) {}
                text x=(lx + 16.0) y="19" { (name) }
            }
        }
    }
}

/// Each share with where it starts: the running sum of the shares before it.
fn stacked(shares: &[i64]) -> Vec<(i64, i64)> {
    shares
        .iter()
        .scan(0i64, |start, share| {
            let at = *start;
            *start += share;
            Some((at, *share))
        })
        .collect()
}

/// A tick step of 1, 2 or 5 times a power of ten giving about five ticks, and the top of the
/// axis (a multiple of the step at or above `max`).
fn nice_scale(max: i64) -> (i64, i64) {
    let rough = (max as f64 / 5.0).max(1.0);
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * power) as i64;
    let step = step.max(1);
    (step, (max + step - 1) / step * step)
}

/// `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An axis number: `1.5M`, `250k`, `900`.
fn short(n: i64) -> String {
    let v = n as f64;
    if n.abs() >= 1_000_000_000 {
        format!("{}G", trim(v / 1e9))
    } else if n.abs() >= 1_000_000 {
        format!("{}M", trim(v / 1e6))
    } else if n.abs() >= 1_000 {
        format!("{}k", trim(v / 1e3))
    } else {
        n.to_string()
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// `Tuesday, December 1, 2026`.
pub fn long_date(d: NaiveDate) -> String {
    d.format("%A, %B %-d, %Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1234), "-1,234");
        assert_eq!(short(1_500_000), "1.5M");
        assert_eq!(short(250_000), "250k");
        assert_eq!(nice_scale(97), (20, 100));
        assert_eq!(nice_scale(1), (1, 1));
    }

    #[test]
    fn a_page_escapes_what_it_shows() {
        let page = error_page(400, "parameter date: \"<script>\" is not a day");
        assert!(
            page.contains("&lt;script&gt;") && !page.contains("<script>"),
            "{page}"
        );
    }
}
