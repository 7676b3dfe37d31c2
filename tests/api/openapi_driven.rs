//! Every operation of the OpenAPI document, driven from the document alone: parameters are
//! generated from their declared schemas (and sometimes against them), and every answer must
//! have a declared status, a declared content type and a body that fits the declared schema.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::helpers::Backend;
use crate::model;
use crate::{backend_tests, spawn_or_skip};

/// Requests per operation.
const ROUNDS: usize = 40;

/// The schema `schema` refers to, if it is a `$ref`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

/// A value for a parameter of `schema`: one it allows, or now and then one it does not; and
/// whether the value is one the schema pins down (an enum member or a date), which the
/// service must then accept.
fn generate(doc: &Value, schema: &Value, rng: &mut ChaCha8Rng) -> (String, bool) {
    let schema = resolve(doc, schema);
    let schema = schema["oneOf"]
        .as_array()
        .and_then(|alts| alts.iter().find(|a| a["type"] != "null"))
        .map(|a| resolve(doc, a))
        .unwrap_or(schema);
    if rng.random_bool(0.1) {
        // Outside the schema: the service must refuse it with a declared status.
        let junk = [
            "x",
            "-1",
            "9999-99-99",
            "%2C%2C",
            "%00",
            "null",
            "\u{e9}t\u{e9}",
        ];
        return (junk[rng.random_range(0..junk.len())].to_string(), false);
    }
    if let Some(values) = schema["enum"].as_array() {
        let value = values[rng.random_range(0..values.len())].as_str();
        return (value.unwrap_or_default().to_string(), true);
    }
    if schema["format"] == "date" {
        let date = format!(
            "{:04}-{:02}-{:02}",
            rng.random_range(2024..2027),
            rng.random_range(1..13),
            rng.random_range(1..29)
        );
        return (date, true);
    }
    if schema["type"] == "boolean"
        || schema["type"]
            .as_array()
            .is_some_and(|t| t.contains(&"boolean".into()))
    {
        let value = if rng.random_bool(0.5) {
            "true"
        } else {
            "false"
        };
        return (value.into(), true);
    }
    let max = schema["maxLength"].as_u64().unwrap_or(32).min(24) as usize;
    let alphabet = b"abcdefghijklmnopqrstuvwxyz ,._-/";
    let len = rng.random_range(0..=max);
    let text: String = (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect();
    (
        url::form_urlencoded::byte_serialize(text.as_bytes()).collect(),
        false,
    )
}

/// Whether `value` fits `schema` (types, items, required properties; enough to catch a shape
/// that differs from the document).
fn fits(doc: &Value, schema: &Value, value: &Value) -> bool {
    let schema = resolve(doc, schema);
    if let Some(alts) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        return alts.iter().any(|a| fits(doc, a, value));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    types.iter().any(|t| match *t {
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "array" => value
            .as_array()
            .is_some_and(|items| items.iter().all(|i| fits(doc, &schema["items"], i))),
        "object" => value.as_object().is_some_and(|object| {
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            required
                .iter()
                .filter_map(Value::as_str)
                .all(|name| object.contains_key(name))
                && object.iter().all(|(name, v)| {
                    schema["properties"]
                        .get(name)
                        .is_none_or(|s| fits(doc, s, v))
                })
        }),
        _ => true,
    })
}

async fn every_operation_answers_as_its_document_says(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.db.insert(&model::dataset()).await;
    let doc = app.get_json("/api/openapi.json").await;
    let mut rng = ChaCha8Rng::seed_from_u64(1991);
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let params = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for _ in 0..ROUNDS {
                let mut query = Vec::new();
                let mut pinned = true;
                for p in &params {
                    let required = p["required"] == true;
                    if !required && rng.random_bool(0.4) {
                        continue;
                    }
                    let (value, allowed) = generate(&doc, &p["schema"], &mut rng);
                    pinned &= allowed;
                    query.push(format!("{}={value}", p["name"].as_str().unwrap()));
                }
                let target = format!("{path}?{}", query.join("&"));
                let r = app.request(method.clone(), &target).await;
                let declared = &operation["responses"][r.status.to_string()];
                assert!(
                    declared.is_object(),
                    "{backend:?} {method} {target}: status {} is not declared: {}",
                    r.status,
                    r.body
                );
                // Values the document allows are accepted; only the rules between parameters
                // (which the descriptions state) may refuse them.
                if pinned && r.status == 400 {
                    let error = r.json()["error"].as_str().unwrap_or_default().to_string();
                    assert!(
                        error.contains("must differ") || error.contains("is after"),
                        "{backend:?} {method} {target}: a value the document allows was refused: {error}"
                    );
                }
                checked += 1;
                if r.status == 304 || method == reqwest::Method::HEAD {
                    continue;
                }
                let Some(content) = declared["content"].as_object() else {
                    continue;
                };
                let media = r.header("content-type").unwrap_or_default();
                let media = media.split(';').next().unwrap_or_default().trim();
                let schema = content.get(media).unwrap_or_else(|| {
                    panic!(
                        "{backend:?} {method} {target}: {media} is not declared ({:?})",
                        content.keys()
                    )
                });
                if media == "application/json" {
                    let body: Value = serde_json::from_str(&r.body).unwrap();
                    assert!(
                        fits(&doc, &schema["schema"], &body),
                        "{backend:?} {method} {target}: the body does not fit {}: {}",
                        schema["schema"],
                        r.body
                    );
                }
            }
        }
    }
    assert!(
        checked > 10 * ROUNDS,
        "{backend:?}: only {checked} requests"
    );
    app.finish().await;
}

backend_tests!(every_operation_answers_as_its_document_says);
