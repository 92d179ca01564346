//! Unit tests of audit decoding: framing, shapes, limits and error positions.

use super::*;
use serde_json::json;

const RECEIVED: &str = "2026-11-21T10:00:00.123Z";

fn received() -> Timestamp {
    RECEIVED.parse().unwrap()
}

fn decode(input: &str) -> Vec<Result<Value, AuditError>> {
    decode_input_at(input.as_bytes(), received())
}

fn one(input: &str) -> Result<Value, AuditError> {
    let mut results = decode(input);
    assert_eq!(results.len(), 1, "{results:?}");
    results.remove(0)
}

fn message(input: &str) -> String {
    match one(input) {
        Ok(doc) => panic!("accepted: {doc}"),
        Err(e) => e.message,
    }
}

const REST: &str = r#"{"source":"STLNK","severity":"WARNING","details":{"nameService":"iec104-south","nameLink":"PA-Lyon-1","valueLink":"OFF"},"timestamp":"2026-11-21 09:15:42.317"}"#;

fn stlnk() -> Value {
    json!({
        "source": "STLNK",
        "severity": "WARNING",
        "detail": {"nameService": "iec104-south", "nameLink": "PA-Lyon-1", "valueLink": "OFF"},
        "timestamp": "2026-11-21T09:15:42.317Z"
    })
}

#[test]
fn rest_entry_is_normalised_in_key_order() {
    let doc = one(REST).unwrap();
    assert_eq!(doc, stlnk());
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["source", "severity", "detail", "timestamp"]);
}

#[test]
fn normalised_output_decodes_to_itself() {
    let doc = one(REST).unwrap();
    assert_eq!(one(&doc.to_string()).unwrap(), doc);
}

#[test]
fn storage_payload_is_dated_at_receipt() {
    let doc = one(r#"{"code":"STLNK","level":2,"log":{"valueLink":"OFF"}}"#).unwrap();
    assert_eq!(doc["severity"], "WARNING");
    assert_eq!(doc["timestamp"], RECEIVED);
    assert_eq!(doc["detail"], json!({"valueLink": "OFF"}));
}

#[test]
fn storage_payload_with_ts_column_keeps_it() {
    let doc = one(r#"{"code":"START","level":4,"ts":"2026-01-02 03:04:05.678"}"#).unwrap();
    assert_eq!(doc["timestamp"], "2026-01-02T03:04:05.678Z");
    assert_eq!(doc["detail"], json!({}));
}

#[test]
fn levels_map_to_names() {
    for (level, name) in [
        (0, "SUCCESS"),
        (1, "FAILURE"),
        (2, "WARNING"),
        (4, "INFORMATION"),
    ] {
        let doc = one(&format!(r#"{{"code":"START","level":{level}}}"#)).unwrap();
        assert_eq!(doc["severity"], name);
    }
    // api/audit.py names every other level UNKNOWN: such audits are kept, not refused.
    for level in [3, 5, 100, -1] {
        let doc = one(&format!(r#"{{"code":"START","level":{level}}}"#)).unwrap();
        assert_eq!(doc["severity"], "UNKNOWN", "level {level}");
    }
    assert_eq!(
        message(r#"{"code":"START","level":2.5}"#),
        "level 2.5 is not a level: expected a whole number (0 SUCCESS, 1 FAILURE, \
         2 WARNING, 4 INFORMATION, any other UNKNOWN)"
    );
}

#[test]
fn severity_names_ignore_case_and_come_out_canonical() {
    let doc =
        one(r#"{"source":"START","severity":"information","timestamp":"2026-11-21 09:15:42"}"#)
            .unwrap();
    assert_eq!(doc["severity"], "INFORMATION");
    let doc = one(r#"{"source":"START","severity":"Unknown"}"#).unwrap();
    assert_eq!(doc["severity"], "UNKNOWN");
    assert_eq!(
        message(r#"{"source":"START","severity":"LOUD"}"#),
        r#"severity "LOUD" is unknown (expected SUCCESS, FAILURE, WARNING, INFORMATION or UNKNOWN)"#
    );
}

#[test]
fn nested_details_are_kept_as_they_are() {
    // configuration_manager.py: a JSON config item's values, and a bulk update's items.
    let doc = one(
        r#"{"source":"CONCH","severity":"INFORMATION","details":{"category":"south","item":"map","oldValue":{"a":1,"b":[true,null]},"newValue":{"a":2}}}"#,
    )
    .unwrap();
    assert_eq!(
        doc["detail"]["oldValue"],
        json!({"a": 1, "b": [true, null]})
    );
    let doc = one(
        r#"{"source":"CONCH","severity":"INFORMATION","details":{"category":"south","items":{"x":{"oldValue":"1","newValue":"2"}}}}"#,
    )
    .unwrap();
    assert_eq!(doc["detail"]["items"]["x"]["newValue"], "2");
    let doc =
        one(r#"{"source":"EVTIF","severity":"SUCCESS","details":{"list":[1,"a",[]]}}"#).unwrap();
    assert_eq!(doc["detail"]["list"], json!([1, "a", []]));
}

#[test]
fn null_details_are_no_details() {
    let doc = one(r#"{"source":"START","severity":"INFORMATION","details":null}"#).unwrap();
    assert_eq!(doc["detail"], json!({}));
    let doc = one(r#"{"code":"START","level":4,"log":null}"#).unwrap();
    assert_eq!(doc["detail"], json!({}));
}

#[test]
fn nested_details_keep_the_string_limit_with_their_path() {
    let long = "x".repeat(MAX_DETAIL_STRING_BYTES + 1);
    let input = json!({"source": "CONCH", "severity": "SUCCESS",
        "details": {"items": {"a b": {"newValue": [0, long]}}}});
    assert_eq!(
        message(&input.to_string()),
        r#"details.items."a b".newValue[1] is 4097 bytes, more than the 4096-byte limit"#
    );
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_with_its_path() {
    fn nested(depth: usize) -> Value {
        (1..depth).fold(json!(1), |inner, _| json!([inner]))
    }
    let audit = |depth| {
        json!({"source": "CONCH", "severity": "SUCCESS", "details": {"v": nested(depth)}})
            .to_string()
    };
    // `v` itself is at depth 1; the innermost scalar at MAX_DETAIL_DEPTH.
    assert!(one(&audit(MAX_DETAIL_DEPTH)).is_ok());
    let path = format!("details.v{}", "[0]".repeat(MAX_DETAIL_DEPTH - 1));
    assert_eq!(
        message(&audit(MAX_DETAIL_DEPTH + 1)),
        format!("{path} nests deeper than the 32-level limit for details")
    );
}

#[test]
fn rest_post_body_without_timestamp_is_dated_at_receipt() {
    let doc = one(r#"{"source":"FSTOP","severity":"INFORMATION"}"#).unwrap();
    assert_eq!(doc["timestamp"], RECEIVED);
    assert_eq!(doc["detail"], json!({}));
}

#[test]
fn details_and_detail_together_are_ambiguous() {
    assert_eq!(
        message(r#"{"source":"START","severity":"SUCCESS","details":{},"detail":{}}"#),
        "both details and detail are present; give one"
    );
}

#[test]
fn scalar_details_are_kept_as_they_are() {
    let doc = one(
        r#"{"source":"EVTIF","severity":"SUCCESS","details":{"n":42,"f":1.5,"b":true,"c":"a\u0001\tb"}}"#,
    )
    .unwrap();
    assert_eq!(
        doc["detail"],
        json!({"n": 42, "f": 1.5, "b": true, "c": "a\u{1}\tb"})
    );
}

#[test]
fn every_problem_of_an_audit_is_reported() {
    let text = message(&format!(
        r#"{{"source":"stl","severity":"LOUD","details":{{"a":[1],"b":null,"c":{{}},"d":"{}"}},"timestamp":"yesterday"}}"#,
        "x".repeat(5000)
    ));
    for part in [
        r#"source "stl" is not a 5-character audit code"#,
        r#"severity "LOUD" is unknown"#,
        "details.b is null, expected a string, number, boolean, object or array",
        "details.d is 5000 bytes",
        r#"timestamp "yesterday" is not a date and time"#,
    ] {
        assert!(text.contains(part), "{part:?} not in {text:?}");
    }
}

#[test]
fn wrong_types_of_the_main_fields() {
    assert_eq!(
        message(r#"{"source":"START","severity":"SUCCESS","details":"x"}"#),
        "details is a string, expected an object"
    );
    assert_eq!(
        message(r#"{"source":12345,"severity":"SUCCESS"}"#),
        "source is a number, expected a string"
    );
    assert_eq!(
        message(r#"{"source":"START","severity":true}"#),
        "severity is a boolean, expected a severity name or level number"
    );
    assert_eq!(message(r#"{"code":"START"}"#), "level is missing");
    assert_eq!(message(r#"{"source":"START"}"#), "severity is missing");
}

#[test]
fn unknown_well_formed_code_is_accepted() {
    let doc = one(r#"{"source":"ZZZZZ","severity":"INFORMATION"}"#).unwrap();
    assert_eq!(doc["source"], "ZZZZZ");
}

#[test]
fn codes_must_be_five_upper_case_letters_or_digits() {
    for bad in ["stlnk", "STLN", "STLNKX", "ST LN", "", "STLÑK"] {
        let input = json!({"source": bad, "severity": "SUCCESS"}).to_string();
        assert!(
            message(&input).contains("is not a 5-character audit code"),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn unknown_shape_names_the_keys_found() {
    assert_eq!(
        message(r#"{"id":1,"asset_code":"SRVFL","reading":{}}"#),
        "not a Fledge audit: expected the keys source/severity/details/timestamp (REST), \
         code/level/log (storage) or reason/data (notification); found keys id, asset_code, reading"
    );
    assert!(message("{}").ends_with("found an empty object"));
}

#[test]
fn notification_gives_one_audit_per_code() {
    let input = json!({
        "reason": "triggered",
        "auditCode": ["STLNK", "SRVFL"],
        "timestamp": "2026-11-21 09:15:42.999999+00:00",
        "data": {
            "STLNK": {"code": "STLNK", "level": 2, "log": {"valueLink": "OFF"}},
            "timestamp_STLNK": 1795252542.318204,
            "SRVFL": {"code": "SRVFL", "level": 1, "log": {"nameService": "s"}}
        }
    })
    .to_string();
    let results = decode(&input);
    assert_eq!(results.len(), 2);
    let stlnk = results[0].as_ref().unwrap();
    assert_eq!(stlnk["source"], "STLNK");
    assert_eq!(stlnk["timestamp"], "2026-11-21T09:15:42.318Z");
    let srvfl = results[1].as_ref().unwrap();
    assert_eq!(srvfl["source"], "SRVFL");
    assert_eq!(srvfl["severity"], "FAILURE");
    // No timestamp_SRVFL: the reason's own time.
    assert_eq!(srvfl["timestamp"], "2026-11-21T09:15:42.999Z");
}

#[test]
fn notification_with_asset_key_and_no_times_is_dated_at_receipt() {
    let doc = one(
        r#"{"reason":"triggered","asset":["START"],"data":{"START":{"code":"START","level":4}}}"#,
    )
    .unwrap();
    assert_eq!(doc["source"], "START");
    assert_eq!(doc["timestamp"], RECEIVED);
}

#[test]
fn one_bad_code_in_a_notification_keeps_the_other() {
    let input = r#"{"reason":"triggered","auditCode":["STLNK","STCHA"],"data":{
        "STLNK":{"code":"STLNK","level":9.5},
        "STCHA":{"code":"STCHA","level":4,"log":{}}}}"#;
    let results = decode(input);
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0].as_ref().unwrap_err().message,
        "data.STLNK.level 9.5 is not a level: expected a whole number (0 SUCCESS, 1 FAILURE, \
         2 WARNING, 4 INFORMATION, any other UNKNOWN)"
    );
    assert_eq!(results[1].as_ref().unwrap()["source"], "STCHA");
}

#[test]
fn notification_errors() {
    assert_eq!(
        message(r#"{"reason":"triggered","data":{"timestamp_X":1}}"#),
        "data holds no audit entry (only timestamps or nothing)"
    );
    assert_eq!(
        message(r#"{"reason":"triggered","data":[]}"#),
        "data is an array, expected an object"
    );
    assert_eq!(
        message(r#"{"reason":"triggered","data":{"STLNK":{"code":"STCHA","level":4}}}"#),
        r#"data.STLNK.code "STCHA" differs from the data key "STLNK" it is filed under"#
    );
    assert_eq!(
        message(
            r#"{"reason":"triggered","data":{"STLNK":{"code":"STLNK","level":4},"timestamp_STLNK":"soon"}}"#
        ),
        r#"data.timestamp_STLNK "soon" is not a date and time: expected YYYY-MM-DD HH:MM:SS[.fff] (UTC) or ISO 8601 with Z or an offset"#
    );
    assert_eq!(
        message(r#"{"reason":"triggered","data":{"stlnk":{"level":4}}}"#),
        r#"data key "stlnk" is not a 5-character audit code (letters A-Z and digits)"#
    );
}

#[test]
fn list_elements_are_decoded_independently_with_their_index() {
    let input = format!(r#"[{REST}, 7, {{"source":"START"}}, {REST}]"#);
    let results = decode(&input);
    assert_eq!(results.len(), 4);
    assert_eq!(results[0].as_ref().unwrap(), &stlnk());
    assert_eq!(
        results[1].as_ref().unwrap_err().message,
        "index 1: expected an audit object, found a number"
    );
    assert_eq!(
        results[2].as_ref().unwrap_err().message,
        "index 2: severity is missing"
    );
    assert_eq!(
        results[2].as_ref().unwrap_err().position,
        Position {
            line: None,
            index: Some(2)
        }
    );
    assert_eq!(results[3].as_ref().unwrap(), &stlnk());
}

#[test]
fn rest_list_response() {
    let input = format!(r#"{{"audit":[{REST},{REST}],"totalCount":40}}"#);
    let results = decode(&input);
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        message(r#"{"audit":{"source":"START"},"totalCount":1}"#),
        "audit is an object, expected a list of audits"
    );
    assert!(decode(r#"{"audit":[],"totalCount":0}"#).is_empty());
    assert!(decode("[]").is_empty());
}

#[test]
fn json_lines_keep_every_line() {
    let input = format!("{REST}\n\n{{\"source\":\n  \r\n{REST}\r\n[{REST}, 1]\n");
    let results = decode(&input);
    assert_eq!(results.len(), 5, "{results:?}");
    assert!(results[0].is_ok());
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.position, Position::line(3));
    assert_eq!(
        error.message,
        "line 3: truncated JSON: EOF while parsing a value at column 10"
    );
    assert!(results[2].is_ok());
    assert!(results[3].is_ok());
    assert_eq!(
        results[4].as_ref().unwrap_err().message,
        "line 6, index 1: expected an audit object, found a number"
    );
}

#[test]
fn json_lines_with_a_bad_first_line() {
    let input = format!("not json\n{REST}\n");
    let results = decode(&input);
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0].as_ref().unwrap_err().message,
        "line 1: not JSON: expected ident at column 2"
    );
    assert!(results[1].is_ok());
}

#[test]
fn json_lines_with_invalid_utf8_in_one_line() {
    let mut input = format!("{REST}\n").into_bytes();
    let start = input.len();
    input.extend_from_slice(b"{\"source\":\"\xff\"}\n");
    input.extend_from_slice(format!("{REST}\n").as_bytes());
    let results = decode_input_at(&input, received());
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[1].as_ref().unwrap_err().message,
        format!("line 2: invalid UTF-8 at byte offset {}", start + 11)
    );
    assert!(results[0].is_ok() && results[2].is_ok());
}

#[test]
fn broken_pretty_printed_document_is_one_error() {
    let input = "{\n  \"source\": \"STLNK\",\n  \"severity\": \"WARNING\"\n  \"details\": {}\n}\n";
    assert_eq!(
        message(input),
        "not JSON: expected `,` or `}` at line 4 column 3"
    );
}

#[test]
fn single_document_errors_carry_serde_positions() {
    assert_eq!(
        message("not json at all\n"),
        "not JSON: expected ident at line 1 column 2"
    );
    assert_eq!(
        message(r#"{"source":"STLNK""#),
        "truncated JSON: EOF while parsing an object at line 1 column 17"
    );
    assert_eq!(
        message("\"just text\""),
        "expected an audit object, found a string"
    );
}

#[test]
fn invalid_utf8_names_the_byte_offset() {
    let results = decode_input_at(b"{\"source\":\"ab\xc3\"}", received());
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].as_ref().unwrap_err().kind,
        AuditErrorKind::InvalidUtf8 { offset: 13 }
    );
}

#[test]
fn empty_input() {
    for input in ["", "  \n\r\n\t"] {
        assert_eq!(
            one(input).unwrap_err().kind,
            AuditErrorKind::Empty,
            "{input:?}"
        );
    }
}

#[test]
fn oversized_input_is_refused_whole() {
    let input = vec![b' '; MAX_INPUT_BYTES + 1];
    let results = decode_input_at(&input, received());
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].as_ref().unwrap_err().message,
        "input is 16777217 bytes, more than the 16777216-byte limit (16 MiB)"
    );
}

#[test]
fn oversized_audit_in_a_list_leaves_the_others() {
    // Many small details: each within limits, the audit as a whole over 1 MiB.
    let details: serde_json::Map<String, Value> = (0..400)
        .map(|i| (format!("k{i}"), Value::String("v".repeat(3000))))
        .collect();
    let big = json!({"source": "EVTIF", "severity": "SUCCESS", "details": details});
    let input = format!("[{REST},{big},{REST}]");
    let results = decode(&input);
    assert_eq!(results.len(), 3);
    let error = results[1].as_ref().unwrap_err();
    assert!(
        matches!(error.kind, AuditErrorKind::AuditTooLarge { size, limit } if size > limit),
        "{error}"
    );
    assert!(error.message.starts_with("index 1: audit is "), "{error}");
    assert!(results[0].is_ok() && results[2].is_ok());

    // The same audit as a JSON line.
    let input = format!("{REST}\n{big}\n{REST}\n");
    let results = decode(&input);
    assert_eq!(results.len(), 3);
    assert!(
        results[1]
            .as_ref()
            .unwrap_err()
            .message
            .starts_with("line 2: audit is ")
    );
}

#[test]
fn long_detail_string_names_field_and_size() {
    let ok = json!({"source":"EVTIF","severity":"SUCCESS","details":{"s":"x".repeat(4096)}});
    assert!(one(&ok.to_string()).is_ok());
    let bad = json!({"source":"EVTIF","severity":"SUCCESS","details":{"s":"é".repeat(2049)}});
    assert_eq!(
        message(&bad.to_string()),
        "details.s is 4098 bytes, more than the 4096-byte limit"
    );
}

#[test]
fn odd_values_are_quoted_and_cut_in_messages() {
    let input =
        json!({"source": "START", "severity": format!("\u{1}{}", "A".repeat(200))}).to_string();
    let text = message(&input);
    assert!(text.starts_with(r#"severity "\u0001AAAA"#), "{text}");
    assert!(text.contains("A\"… is unknown"), "{text}");
    assert!(text.len() < 200, "{text}");
}

/// The general path alone: parse to a value, then decode it.
fn general(text: &str) -> Vec<Result<Value, AuditError>> {
    let document: Value = serde_json::from_str(text).unwrap();
    decode_document(document, text.len(), Position::WHOLE_INPUT, received())
}

#[test]
fn fast_path_agrees_with_the_general_path_on_every_fixture() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fledge");
    let mut fast = 0;
    for shape in ["rest", "storage", "notification", "bad"] {
        for entry in std::fs::read_dir(root.join(shape)).unwrap() {
            let path = entry.unwrap().path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if serde_json::from_str::<Value>(&text).is_err() {
                continue;
            }
            if let Some(audits) = fast_path(&text, received()) {
                fast += 1;
                let expected: Vec<Value> = general(&text)
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| panic!("{}: {e:?}", path.display())))
                    .collect();
                assert_eq!(audits, expected, "{}", path.display());
            }
        }
    }
    assert!(fast >= 11, "only {fast} fixtures took the fast path");
    assert!(fast_path(REST, received()).is_some());
}

mod fast_path_equivalence {
    use super::*;
    use proptest::prelude::*;

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            "[a-zA-Z0-9 _\"\\\\é-]{0,12}".prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
            Just(json!([1])),
            Just(json!({"a": 1})),
            Just(json!({"a": {"b": [1, null, {"c": "d"}]}})),
            Just(json!([[["deep"]]])),
            Just(Value::from("x".repeat(MAX_DETAIL_STRING_BYTES + 1))),
        ]
    }

    fn entry() -> impl Strategy<Value = Value> {
        let code = prop_oneof![
            Just(json!("STLNK")),
            Just(json!("EVTIF")),
            Just(json!("stlnk")),
            Just(json!("TOOLONG")),
            Just(json!(5)),
            Just(Value::Null),
        ];
        let severity = prop_oneof![
            Just(json!("WARNING")),
            Just(json!("information")),
            Just(json!("LOUD")),
            Just(json!("UNKNOWN")),
            Just(json!(2)),
            Just(json!(3)),
            Just(Value::Null),
        ];
        let timestamp = prop_oneof![
            Just(json!("2026-11-21 09:15:42.317")),
            Just(json!("2026-11-21T09:15:42.317+02:00")),
            Just(json!("yesterday")),
            Just(json!(1_795_338_942.5)),
            Just(Value::Null),
        ];
        let details = proptest::collection::vec(("[a-zA-Z]{1,6}", scalar()), 0..5)
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect()));
        let keys = proptest::collection::vec(
            prop_oneof![
                Just("source"),
                Just("severity"),
                Just("details"),
                Just("detail"),
                Just("timestamp"),
                Just("extra"),
            ],
            0..7,
        );
        (code, severity, timestamp, details, keys).prop_map(
            |(code, severity, timestamp, details, keys)| {
                let mut entry = serde_json::Map::new();
                for key in keys {
                    let value = match key {
                        "source" => code.clone(),
                        "severity" => severity.clone(),
                        "timestamp" => timestamp.clone(),
                        "extra" => json!(1),
                        _ => details.clone(),
                    };
                    entry.insert(key.to_owned(), value);
                }
                Value::Object(entry)
            },
        )
    }

    proptest! {
        /// Whatever the fast path accepts, the general path decodes to the same audits.
        #[test]
        fn fast_path_never_differs(entries in proptest::collection::vec(entry(), 1..4), list in any::<bool>()) {
            let text = if list {
                json!({"audit": entries, "totalCount": entries.len()}).to_string()
            } else {
                entries[0].to_string()
            };
            if let Some(audits) = fast_path(&text, received()) {
                let expected: Vec<Value> = general(&text)
                    .into_iter()
                    .map(|r| r.map_err(|e| e.message))
                    .collect::<Result<_, _>>()
                    .map_err(|e| TestCaseError::fail(format!("general path refused {text}: {e}")))?;
                prop_assert_eq!(audits, expected, "{}", text);
            }
        }
    }
}
