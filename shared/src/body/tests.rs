use std::collections::HashMap;

use serde::Deserialize;

use super::*;
use crate::http::{Patch, non_null};

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Format {
    Csv,
    Jsonl,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Filter {
    vip: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Sample {
    label: String,
    #[serde(default, deserialize_with = "non_null")]
    enabled: Option<bool>,
    #[serde(default)]
    team: Patch<String>,
    hour: Option<u8>,
    format: Option<Format>,
    filter: Option<Filter>,
    #[serde(default)]
    values: HashMap<String, Option<String>>,
}

fn err(body: &str) -> (String, serde_json::Value) {
    let e = parse::<Sample>(body.as_bytes()).unwrap_err();
    let body = e.to_body();
    (e.code().to_owned(), body["error"].clone())
}

#[test]
fn patch_fields_tell_absent_from_null() {
    let b: Sample = parse(br#"{"label": "x"}"#).unwrap();
    assert_eq!(
        (b.label.as_str(), b.enabled, b.team),
        ("x", None, Patch::Keep)
    );
    let b: Sample = parse(br#"{"label": "x", "team": null}"#).unwrap();
    assert_eq!(b.team, Patch::Clear);
    let b: Sample = parse(br#"{"label": "x", "team": "t"}"#).unwrap();
    assert_eq!(b.team, Patch::Set("t".into()));
}

#[test]
fn oversized_bodies_are_refused() {
    let big = format!(r#"{{"label": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    let err = parse::<Sample>(big.as_bytes()).unwrap_err();
    assert_eq!(err.code(), "payload_too_large");
}

#[test]
fn wrong_shapes_are_bad_requests_naming_the_field() {
    let (code, e) = err(r#"{"label": 5}"#);
    assert_eq!(
        (code.as_str(), e["field"].as_str()),
        ("bad_request", Some("label"))
    );
    assert_eq!(e["message"], "`label` must be a string");
    let (_, e) = err(r#"{"label": "x", "colour": "red"}"#);
    assert_eq!(e["field"], "colour");
    let (_, e) = err(r#"{"label": "x", "enabled": null}"#);
    assert_eq!(e["field"], "enabled");
    let (_, e) = err(r#"{}"#);
    assert_eq!(
        (e["field"].as_str(), e["message"].as_str()),
        (Some("label"), Some("`label` is required"))
    );
    let (_, e) = err(r#"{"label": "x", "filter": {"vip": true, "all": 1}}"#);
    assert_eq!(e["field"], "filter.all");
    assert_eq!(err("{").1["message"], "the body is not valid JSON");
    assert_eq!(err("").0, "bad_request");
    assert_eq!(err(r#"{"label":"x"} {}"#).0, "bad_request");
}

#[test]
fn only_an_object_is_a_body() {
    for body in [r#"["x", true]"#, r#""label""#, "7", "null", "true"] {
        let (code, e) = err(body);
        assert_eq!(code, "bad_request", "{body}");
        assert_eq!(e["message"], "the body must be a JSON object");
    }
}

#[test]
fn an_array_never_fills_an_object() {
    let (code, e) = err(r#"{"label": "x", "filter": [true]}"#);
    assert_eq!(
        (code.as_str(), e["field"].as_str()),
        ("bad_request", Some("filter"))
    );
    assert_eq!(e["message"], "`filter` must be an object");
    let (code, _) = err(r#"{"label": "x", "values": [["k", "v"]]}"#);
    assert_eq!(code, "bad_request");
}

#[test]
fn duplicate_keys_are_refused_at_any_depth() {
    for body in [
        r#"{"label": "x", "label": "y"}"#,
        r#"{"label": "x", "values": {"a": "1", "a": "2"}}"#,
        r#"{"label": "x", "filter": {"vip": true, "vip": true}}"#,
    ] {
        let (code, e) = err(body);
        assert_eq!(code, "bad_request", "{body}");
        assert!(
            e["message"].as_str().unwrap().contains("more than once"),
            "{e}"
        );
    }
}

#[test]
fn messages_never_name_rust_types() {
    for body in [
        r#"{"label": "x", "hour": "7"}"#,
        r#"{"label": "x", "hour": 7.5}"#,
        r#"{"label": "x", "filter": "vip"}"#,
        r#"{"label": "x", "format": 1}"#,
        r#"{"label": "x", "values": {"a": 1}}"#,
        r#"{"label": ["x"]}"#,
    ] {
        let (code, e) = err(body);
        let message = e["message"].as_str().unwrap();
        assert_eq!(code, "bad_request", "{body}: {message}");
        for word in [
            "struct", "u8", "i64", "variant", "Sample", "Filter", "Format", "Option",
        ] {
            assert!(!message.contains(word), "{body}: {message}");
        }
    }
}

#[test]
fn a_value_outside_a_closed_set_or_range_is_a_validation_failure() {
    let (code, e) = err(r#"{"label": "x", "format": "xml"}"#);
    assert_eq!(
        (code.as_str(), e["field"].as_str()),
        ("validation_failed", Some("format"))
    );
    assert_eq!(e["message"], "`format` must be one of csv or jsonl");
    let (code, e) = err(r#"{"label": "x", "hour": 300}"#);
    assert_eq!(
        (code.as_str(), e["field"].as_str()),
        ("validation_failed", Some("hour"))
    );
}

#[test]
fn an_integer_may_carry_a_zero_fraction() {
    let s: Sample = parse(br#"{"label": "x", "hour": 21.0}"#).unwrap();
    assert_eq!(s.hour, Some(21));
    let s: Sample =
        parse(br#"{"label": "x", "format": "csv", "team": null, "filter": {"vip": true}}"#)
            .unwrap();
    assert_eq!(
        (s.format, s.team, s.filter),
        (Some(Format::Csv), Patch::Clear, Some(Filter { vip: true }))
    );
}
