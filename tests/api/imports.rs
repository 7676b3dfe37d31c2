//! `import-legacy` and `import-submissions`, run as the real binary, and the answers built on
//! what they load: `get_global_sum` against the real legacy file, `get_submissions`.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::helpers::{Backend, Row, TestDb, date, dt};
use crate::model;
use crate::{backend_tests, spawn_or_skip};

/// The real legacy file in the original's format (1994-01 to 2023-11) and its yearly sums,
/// kept with the tests.
fn legacy_dir() -> Option<PathBuf> {
    Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy"))
}

/// Runs the binary against `db`; returns (success, stderr).
fn run(db: &TestDb, args: &[&str]) -> (bool, String) {
    let output = crate::helpers::run_cli(&db.url, args);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn read_json(path: PathBuf) -> Vec<(String, i64)> {
    model::sums(&serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

async fn the_real_legacy_file_gives_the_real_yearly_sums(backend: Backend) {
    let Some(dir) = legacy_dir() else { return };
    let app = spawn_or_skip!(backend);
    // Hourly rows inside a legacy month (ignored) and in December 2023, which the file lacks.
    let rows = vec![
        Row::at(dt("2023-06-10 12:00:00"))
            .country("germany")
            .primary(999_999)
            .cross(5),
        Row::at(dt("2023-12-01 00:00:00"))
            .country("germany")
            .primary(1234)
            .cross(5),
        Row::at(dt("2023-12-31 23:00:00"))
            .category("hep-th")
            .country("india")
            .download_type("html")
            .primary(66)
            .cross(None),
        Row::at(dt("2024-01-02 03:00:00"))
            .category("hep-th")
            .country("india")
            .download_type("html")
            .primary(7)
            .cross(None),
    ];
    app.db.insert(&rows).await;
    let file = dir.join("monthly_data.json");
    for _ in 0..2 {
        // Twice: importing is idempotent.
        let (ok, stderr) = run(&app.db, &["import-legacy", file.to_str().unwrap()]);
        assert!(ok, "{backend:?}: {stderr}");
    }
    let monthly = read_json(file);
    let yearly = read_json(dir.join("yearly_data.json"));
    let years = app
        .get_json("/api/get_global_sum?model=hourly&time_group=year")
        .await;
    let years = model::sums(&years);
    for (label, total) in &yearly {
        let year = &label[..4];
        let got = years.iter().find(|(y, _)| y == year).map(|(_, t)| *t);
        if year == "2023" {
            let legacy_2023: i64 = monthly
                .iter()
                .filter(|(m, _)| m.starts_with("2023"))
                .map(|(_, v)| v)
                .sum();
            assert_eq!(got, Some(legacy_2023 + 1234 + 66), "{backend:?} 2023");
        } else {
            assert_eq!(got, Some(*total), "{backend:?} {year}");
        }
    }
    assert_eq!(years.last().unwrap(), &("2024".to_string(), 7));
    let months = app
        .get_json("/api/get_global_sum?model=hourly&time_group=month")
        .await;
    let months = model::sums(&months);
    let mut want = monthly.clone();
    want.push(("2023-12-01".into(), 1300));
    want.push(("2024-01-01".into(), 7));
    assert_eq!(
        months, want,
        "{backend:?}: each legacy month once, then the hourly months"
    );
    app.finish().await;
}

async fn a_malformed_or_yearly_file_changes_nothing_and_names_the_entry(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    db.insert_legacy(&[(date("1999-01-01"), 5), (date("1999-02-01"), 6)])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"time_group": "1999-01-01", "total_sum": 100},
            {"time_group": "1999-03-01", "total_sum": 200},
            {"time_group": "1999-04-15", "total_sum": 300}]"#,
    )
    .unwrap();
    let (ok, stderr) = run(&db, &["import-legacy", bad.to_str().unwrap()]);
    assert!(!ok, "{backend:?}: a bad file was accepted");
    assert!(
        stderr.contains("entry 3")
            && stderr.contains("1999-04-15")
            && stderr.contains("first day of a month"),
        "{stderr}"
    );
    let yearly = dir.path().join("yearly.json");
    std::fs::write(&yearly, r#"[{"time_group": "1998-01-01", "total_sum": 1}, {"time_group": "1999-01-01", "total_sum": 2}]"#).unwrap();
    let (ok, stderr) = run(&db, &["import-legacy", yearly.to_str().unwrap()]);
    assert!(
        !ok && stderr.contains("years are derived from months"),
        "{stderr}"
    );
    if let Some(dir) = legacy_dir() {
        let (ok, stderr) = run(
            &db,
            &[
                "import-legacy",
                dir.join("yearly_data.json").to_str().unwrap(),
            ],
        );
        assert!(
            !ok && stderr.contains("years are derived from months"),
            "{stderr}"
        );
    }
    let bad_csv = dir.path().join("bad.csv");
    std::fs::write(&bad_csv, "month,count\n2024-01-01,5\n2024-02-01,x\n").unwrap();
    let (ok, stderr) = run(&db, &["import-submissions", bad_csv.to_str().unwrap()]);
    assert!(!ok && stderr.contains("line 3"), "{stderr}");
    // Exactly as before.
    let server = crate::helpers::start_on(&db).await;
    assert_eq!(
        server
            .get_json("/api/get_global_sum?model=hourly&time_group=month")
            .await,
        json!([{"total_sum": 5, "time_group": "1999-01-01"}, {"total_sum": 6, "time_group": "1999-02-01"}])
    );
    assert_eq!(server.get_json("/api/get_submissions").await, json!([]));
    db.drop_database().await;
}

async fn submissions_by_month_and_year_match_the_imported_file(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let months: Vec<(String, i64)> = (0..30)
        .map(|i| {
            let (y, m) = (2022 + i / 12, 1 + i % 12);
            (format!("{y}-{m:02}-01"), 15_000 + i64::from(i) * 137)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("submissions.csv");
    let mut text = "month,count\n".to_string();
    for (m, c) in &months {
        text += &format!("{m},{c}\n");
    }
    std::fs::write(&file, text).unwrap();
    let (ok, stderr) = run(&app.db, &["import-submissions", file.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let want_months: Value = months
        .iter()
        .map(|(m, c)| json!({"total_sum": c, "time_group": m}))
        .collect();
    assert_eq!(app.get_json("/api/get_submissions").await, want_months);
    assert_eq!(
        app.get_json("/api/get_submissions?time_group=month").await,
        want_months
    );
    let mut years = std::collections::BTreeMap::<String, i64>::new();
    for (m, c) in &months {
        *years.entry(m[..4].to_string()).or_default() += c;
    }
    let want_years: Value = years
        .iter()
        .map(|(y, c)| json!({"total_sum": c, "time_group": y}))
        .collect();
    assert_eq!(
        app.get_json("/api/get_submissions?time_group=year").await,
        want_years
    );
    let ranged: Value = months
        .iter()
        .filter(|(m, _)| m.as_str() >= "2022-03-01" && m.as_str() <= "2023-02-01")
        .map(|(m, c)| json!({"total_sum": c, "time_group": m}))
        .collect();
    assert_eq!(
        app.get_json("/api/get_submissions?start_date=2022-02-02&end_date=2023-02-01")
            .await,
        ranged
    );
    for bad in [
        "time_group=day",
        "time_group=hour",
        "start_date=2023-01-01&end_date=2022-01-01",
        "format=xml",
    ] {
        assert_eq!(
            app.get(&format!("/api/get_submissions?{bad}")).await.status,
            400,
            "{bad}"
        );
    }
    app.finish().await;
}

backend_tests!(
    the_real_legacy_file_gives_the_real_yearly_sums,
    a_malformed_or_yearly_file_changes_nothing_and_names_the_entry,
    submissions_by_month_and_year_match_the_imported_file,
);
