//! Writing a [`Payload`] as JSON or CSV. CSV has a header line and one row per data point
//! (nested answers flattened); an empty answer is the header alone; NULL is an empty field.

use bytes::Bytes;

use super::shape::{DailyEntry, DataGroup, SumEntry};
use super::vocab::Format;
use super::{Payload, StatsError};

pub fn render(payload: &Payload, format: Format) -> Result<Bytes, StatsError> {
    let csv_error = |e: csv::Error| StatsError::Render(format!("CSV: {e}"));
    match (payload, format) {
        // A site answer is a page or arXiv's CSV, whatever the key's format.
        (Payload::Site(site), _) if site.page => Ok(super::pages::render(site).into_bytes()),
        (Payload::Site(site), _) => site.csv().map_err(csv_error),
        (_, Format::Json) => json(payload),
        (_, Format::Csv) => csv(payload).map_err(csv_error),
    }
    // The buffer grew by doubling; a cached body should hold its length, not up to twice it
    // (the cache weighs bodies by length).
    .map(|mut body| {
        body.shrink_to_fit();
        Bytes::from(body)
    })
}

fn json(payload: &Payload) -> Result<Vec<u8>, StatsError> {
    let result = match payload {
        Payload::Data { groups, .. } => serde_json::to_vec(groups),
        Payload::Sums(entries) => serde_json::to_vec(entries),
        Payload::Daily(entries) => serde_json::to_vec(entries),
        Payload::Site(_) => return Err(StatsError::Render("a site answer has no JSON".into())),
    };
    result.map_err(|e| StatsError::Render(format!("JSON: {e}")))
}

fn csv(payload: &Payload) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    match payload {
        Payload::Data {
            group_by,
            second,
            time_group,
            groups,
        } => {
            let mut header = vec![group_by.as_str()];
            header.extend(second.map(|d| d.as_str()));
            header.extend(time_group.map(|_| "time_group"));
            header.push("data");
            out.write_record(&header)?;
            for group in groups {
                write_group(&mut out, group)?;
            }
        }
        Payload::Sums(entries) => {
            out.write_record(["time_group", "total_sum"])?;
            for SumEntry {
                total_sum,
                time_group,
            } in entries
            {
                out.write_record([time_group.as_str(), &total_sum.to_string()])?;
            }
        }
        Payload::Daily(entries) => {
            out.write_record(["hour", "start", "total_primary"])?;
            for DailyEntry {
                hour,
                total_primary,
                start,
            } in entries
            {
                out.write_record([hour.to_string().as_str(), start, &total_primary.to_string()])?;
            }
        }
        // Written by `SitePayload::csv`, never here.
        Payload::Site(_) => {}
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

fn write_group(out: &mut csv::Writer<Vec<u8>>, group: &DataGroup) -> Result<(), csv::Error> {
    let first = group.value.as_deref().unwrap_or_default();
    let Some(series) = &group.series else {
        return out.write_record([first, &group.data.to_string()]);
    };
    for (i, value) in series.data.iter().enumerate() {
        let mut record = vec![first.to_string()];
        if let Some((_, values)) = &series.second {
            record.push(values.get(i).cloned().flatten().unwrap_or_default());
        }
        if let Some(times) = &series.times {
            record.push(times.get(i).cloned().unwrap_or_default());
        }
        record.push(value.to_string());
        out.write_record(&record)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::shape::Series;
    use crate::stats::vocab::{Dimension, TimeGroup};

    #[test]
    fn nested_answers_flatten_to_one_row_per_point_and_null_is_empty() {
        let payload = Payload::Data {
            group_by: Dimension::Country,
            second: Some(Dimension::Archive),
            time_group: Some(TimeGroup::Month),
            groups: vec![DataGroup {
                dimension: Dimension::Country,
                value: Some("Côte D'Ivoire".into()),
                series: Some(Series {
                    second: Some((Dimension::Archive, vec![None, Some("cs".into())])),
                    times: Some(vec!["2026-03-01".into(), "2026-04-01".into()]),
                    data: vec![3, 4],
                }),
                data: 0,
            }],
        };
        let text = String::from_utf8(render(&payload, Format::Csv).unwrap().to_vec()).unwrap();
        assert_eq!(
            text,
            "country,archive,time_group,data\nCôte D'Ivoire,,2026-03-01,3\nCôte D'Ivoire,cs,2026-04-01,4\n"
        );
    }

    #[test]
    fn an_empty_answer_is_a_header_only_csv() {
        let text = render(&Payload::Daily(vec![]), Format::Csv).unwrap();
        assert_eq!(&text[..], b"hour,start,total_primary\n");
        assert_eq!(
            &render(&Payload::Sums(vec![]), Format::Json).unwrap()[..],
            b"[]"
        );
    }
}
