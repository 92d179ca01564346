//! Integration tests: audit intake. Every Fledge fixture shape normalises to the same
//! document, lists and JSON lines keep every audit, bad inputs get clear errors, and no
//! input makes the decoder panic.

use jiff::Timestamp;
use monbridge::source::audit::{AuditError, decode_input, decode_input_at};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::common;

const CODES: [&str; 11] = [
    "STLNK", "STCHA", "STSRV", "START", "FSTOP", "CONCH", "SRVFL", "SNAUF", "EVTIF", "EVTWA",
    "EVTFA",
];

/// Time of receipt given to the decoder, so storage payloads get a fixed date.
const RECEIVED: &str = "2026-11-21T10:00:00.123Z";

fn received() -> Timestamp {
    RECEIVED.parse().expect("RECEIVED is a valid timestamp")
}

fn decode(bytes: &[u8]) -> Vec<Result<Value, AuditError>> {
    decode_input_at(bytes, received())
}

/// Results as text: each document pretty-printed, each error as its message.
fn render(results: &[Result<Value, AuditError>]) -> String {
    results
        .iter()
        .map(|result| match result {
            Ok(document) => {
                serde_json::to_string_pretty(document).expect("a Value always serialises")
            }
            Err(error) => format!("ERROR {error}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ok_documents(relative: &str) -> Vec<Value> {
    decode(&common::read_fixture(relative))
        .into_iter()
        .map(|result| result.unwrap_or_else(|e| panic!("{relative}: {e}")))
        .collect()
}

fn assert_normalised(document: &Value) {
    let object = document.as_object().expect("a document is an object");
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["source", "severity", "detail", "timestamp"],
        "{document}"
    );
    let source = object["source"].as_str().expect("source is text");
    assert_eq!(source.len(), 5, "{document}");
    assert!(
        ["SUCCESS", "FAILURE", "WARNING", "INFORMATION", "UNKNOWN"]
            .contains(&object["severity"].as_str().expect("severity is text")),
        "{document}"
    );
    let detail = object["detail"].as_object().expect("detail is an object");
    // Nested values are Fledge's own (upstream CONCH); a null only ever sits inside them.
    assert!(detail.values().all(|v| !v.is_null()), "{document}");
    let timestamp = object["timestamp"].as_str().expect("timestamp is text");
    assert_eq!(timestamp.len(), 24, "{document}");
    assert!(timestamp.ends_with('Z'), "{document}");
    timestamp
        .parse::<Timestamp>()
        .unwrap_or_else(|e| panic!("{timestamp}: {e}"));
}

#[test]
fn every_fixture_normalises() {
    common::snapshot_settings().bind(|| {
        insta::glob!(
            "../fixtures/fledge",
            "{rest,storage,notification,upstream}/*.json",
            |path: &std::path::Path| {
                let bytes = std::fs::read(path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                let results = decode(&bytes);
                assert!(!results.is_empty(), "{}", path.display());
                for result in &results {
                    match result {
                        Ok(document) => assert_normalised(document),
                        Err(error) => panic!("{}: {error}", path.display()),
                    }
                }
                insta::assert_snapshot!("audit_fixture", render(&results));
            }
        );
    });
}

#[test]
fn three_shapes_of_each_code_agree() {
    let essentials = |document: &Value| {
        (
            document["source"].clone(),
            document["severity"].clone(),
            document["detail"].clone(),
        )
    };
    for code in CODES {
        let shapes: Vec<Value> = ["rest", "storage", "notification"]
            .iter()
            .map(|shape| {
                let mut documents = ok_documents(&format!("fledge/{shape}/{code}.json"));
                assert_eq!(documents.len(), 1, "{shape}/{code}");
                documents.remove(0)
            })
            .collect();
        assert_eq!(shapes[0]["source"], code);
        assert_eq!(
            essentials(&shapes[0]),
            essentials(&shapes[1]),
            "{code}: rest vs storage"
        );
        assert_eq!(
            essentials(&shapes[0]),
            essentials(&shapes[2]),
            "{code}: rest vs notification"
        );
        // Each shape has its own clock: REST the database's, storage the receipt,
        // notification the notification service's.
        assert_eq!(shapes[0]["timestamp"], "2026-11-21T09:15:42.317Z");
        assert_eq!(shapes[1]["timestamp"], RECEIVED);
        assert_eq!(shapes[2]["timestamp"], "2026-11-21T09:15:42.318Z");
    }
}

#[test]
fn rest_list_response_gives_eleven_audits_in_order() {
    let documents = ok_documents("fledge/rest/audit_list_response.json");
    let sources: Vec<&str> = documents
        .iter()
        .map(|d| d["source"].as_str().expect("source is text"))
        .collect();
    // Fledge lists newest first; the order is kept as received.
    assert_eq!(
        sources,
        [
            "EVTFA", "EVTWA", "EVTIF", "SNAUF", "SRVFL", "CONCH", "FSTOP", "START", "STSRV",
            "STCHA", "STLNK"
        ]
    );
    for document in &documents {
        let code = document["source"].as_str().expect("source is text");
        let single = ok_documents(&format!("fledge/rest/{code}.json"));
        assert_eq!(&single[0], document, "{code}");
    }
}

#[test]
fn json_lines_with_a_bad_line_in_the_middle() {
    let compact = |relative: &str| -> String {
        let value: Value = serde_json::from_slice(&common::read_fixture(relative))
            .unwrap_or_else(|e| panic!("{relative}: {e}"));
        value.to_string()
    };
    let input = [
        compact("fledge/rest/STLNK.json"),
        compact("fledge/storage/SRVFL.json"),
        String::new(),
        r#"{"source":"STCHA","severity":"INFORMATION","details":{"nameLink":"#.to_owned(),
        compact("fledge/notification/EVTFA.json"),
        "   ".to_owned(),
        compact("fledge/rest/START.json"),
    ]
    .join("\n");
    let results = decode(input.as_bytes());
    assert_eq!(results.len(), 5, "{}", render(&results));
    let sources: Vec<Option<&str>> = results
        .iter()
        .map(|r| r.as_ref().ok().and_then(|d| d["source"].as_str()))
        .collect();
    assert_eq!(
        sources,
        [
            Some("STLNK"),
            Some("SRVFL"),
            None,
            Some("EVTFA"),
            Some("START")
        ]
    );
    let error = results[2].as_ref().expect_err("line 4 is truncated");
    assert_eq!(error.position.line, Some(4));
    assert_eq!(
        error.to_string(),
        "line 4: truncated JSON: EOF while parsing a value at column 65"
    );
}

/// Each file of `bad/` gives one error naming the problem, except the two that the
/// intake accepts by design (a missing `details` is `{}`; an unknown code is counted
/// downstream, not here).
#[test]
fn bad_fixtures_give_clear_errors() {
    let errors: [(&str, &[&str]); 5] = [
        ("invalid_utf8.json", &["invalid UTF-8 at byte offset 69"]),
        (
            "not_json.txt",
            &["not JSON: expected ident at line 1 column 2"],
        ),
        (
            "oversized_and_odd.json",
            &["details.nameService is 70000 bytes, more than the 4096-byte limit"],
        ),
        (
            "truncated.json",
            &["truncated JSON: EOF while parsing an object at line 1 column 67"],
        ),
        (
            "wrong_types.json",
            &[
                r#"severity "LOUD" is unknown"#,
                // An array is a detail Fledge may write (nested details); a null at the top is not.
                "details.valueLink is null",
                r#"timestamp "yesterday" is not a date and time"#,
            ],
        ),
    ];
    for (file, parts) in errors {
        let results = decode(&common::read_fixture(&format!("fledge/bad/{file}")));
        assert_eq!(results.len(), 1, "{file}: {}", render(&results));
        let message = results[0].as_ref().expect_err(file).to_string();
        for part in parts {
            assert!(
                message.contains(part),
                "{file}: {part:?} not in {message:?}"
            );
        }
    }

    let missing_details = ok_documents("fledge/bad/missing_details.json");
    assert_eq!(missing_details.len(), 1);
    assert_eq!(missing_details[0]["detail"], json!({}));
    let unknown_code = ok_documents("fledge/bad/unknown_code.json");
    assert_eq!(unknown_code.len(), 1);
    assert_eq!(unknown_code[0]["source"], "ZZZZZ");

    // One snapshot of every file's outcome; a new file in bad/ must be added above too.
    let directory = common::fixture("fledge/bad");
    let mut files: Vec<String> = std::fs::read_dir(&directory)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", directory.display()))
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut expected: Vec<&str> = errors.iter().map(|(file, _)| *file).collect();
    expected.extend(["missing_details.json", "unknown_code.json"]);
    expected.sort_unstable();
    assert_eq!(files, expected);
    let report: Vec<String> = files
        .iter()
        .map(|file| {
            let results = decode(&common::read_fixture(&format!("fledge/bad/{file}")));
            format!("== {file}\n{}", render(&results))
        })
        .collect();
    common::snapshot_settings()
        .bind(|| insta::assert_snapshot!("audit_bad_fixtures", report.join("\n\n")));
}

#[test]
fn odd_characters_in_details_are_kept() {
    // The odd part of oversized_and_odd.json, with its oversized string cut to size.
    let mut audit: Value =
        serde_json::from_slice(&common::read_fixture("fledge/bad/oversized_and_odd.json"))
            .expect("the fixture is JSON");
    audit["details"]["nameService"] = json!("s".repeat(4096));
    let documents: Vec<Value> = decode(audit.to_string().as_bytes())
        .into_iter()
        .map(|r| r.expect("within limits now"))
        .collect();
    assert_eq!(documents[0]["detail"]["valueEvent"], "éè ]]> <&> \u{1}");
    assert_eq!(
        documents[0]["detail"]["nameService"],
        audit["details"]["nameService"]
    );
}

#[test]
fn decode_input_dates_storage_payloads_now() {
    let before = Timestamp::now();
    let results = decode_input(&common::read_fixture("fledge/storage/START.json"));
    let after = Timestamp::now();
    let document = results[0].as_ref().expect("START decodes");
    let dated: Timestamp = document["timestamp"]
        .as_str()
        .expect("timestamp is text")
        .parse()
        .expect("timestamp parses");
    // Millisecond precision, truncated: compare against the window floored to ms.
    let floor = |t: Timestamp| Timestamp::from_millisecond(t.as_millisecond()).expect("in range");
    assert!(
        floor(before) <= dated && dated <= after,
        "{dated} not in [{before}, {after}]"
    );
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        Just(json!("2026-11-21 09:15:42.317")),
        Just(json!("STLNK")),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Objects built from the keys of the three audit shapes, with any values: these reach
/// far deeper into the checks than arbitrary JSON does.
fn audit_like() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "source",
        "severity",
        "details",
        "detail",
        "timestamp",
        "code",
        "level",
        "log",
        "ts",
        "reason",
        "auditCode",
        "asset",
        "data",
        "STLNK",
        "timestamp_STLNK",
        "audit",
    ]);
    let value = prop_oneof![
        any_json(),
        Just(json!("WARNING")),
        Just(json!(2)),
        Just(json!({"nameService": "x"})),
        Just(json!({"STLNK": {"code": "STLNK", "level": 2, "log": {}}})),
    ];
    let object = prop::collection::vec((keys, value), 0..8).prop_map(|entries| {
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    });
    prop_oneof![
        object.clone(),
        prop::collection::vec(object.clone(), 0..4).prop_map(Value::Array),
        object.prop_map(|audit| json!({"audit": [audit], "totalCount": 1})),
    ]
}

fn check_results(results: &[Result<Value, AuditError>]) {
    for result in results {
        match result {
            Ok(document) => assert_normalised(document),
            Err(error) => assert!(!error.to_string().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_results(&decode_input(&bytes));
    }

    #[test]
    fn never_panics_on_arbitrary_json(value in any_json()) {
        let results = decode(value.to_string().as_bytes());
        check_results(&results);
    }

    #[test]
    fn never_panics_on_audit_like_json(value in audit_like(), lines in any::<bool>()) {
        let text = if lines {
            // As JSON lines: the document twice, with a broken line between.
            format!("{value}\n{{\"source\":\n{value}\n")
        } else {
            serde_json::to_string_pretty(&value).expect("a Value always serialises")
        };
        let results = decode(text.as_bytes());
        prop_assert!(!results.is_empty() || value.is_array() || value.get("audit").is_some());
        check_results(&results);
    }
}
