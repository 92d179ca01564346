//! The three shapes of a Fledge audit (REST entry, storage payload, notification trigger
//! reason), each checked and turned into the normalised document
//! `{source, severity, detail, timestamp}`.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::error::Problem;
use super::time::{format_timestamp, parse_timestamp};
use super::{MAX_DETAIL_DEPTH, MAX_DETAIL_STRING_BYTES};

/// Severity names, indexed by the level Fledge stores (`3` is unused).
const LEVELS: [(u64, &str); 4] = [
    (0, "SUCCESS"),
    (1, "FAILURE"),
    (2, "WARNING"),
    (4, "INFORMATION"),
];

/// What `GET /fledge/audit` (api/audit.py) names any other level: such audits are still
/// Fledge's, so they are kept under this name rather than refused.
const UNKNOWN_SEVERITY: &str = "UNKNOWN";

/// Longest excerpt of an offending value quoted in a message.
const MAX_QUOTED_CHARS: usize = 64;

/// Normalises one audit object. A notification trigger reason may carry several audits,
/// hence one result per audit found.
pub fn normalise(
    audit: Map<String, Value>,
    received: Timestamp,
) -> Vec<Result<Value, Vec<Problem>>> {
    let has = |key: &str| audit.contains_key(key);
    if has("data") && (has("reason") || has("auditCode") || has("asset")) {
        notification(&audit, received)
    } else if has("source") {
        vec![rest(audit, received)]
    } else if has("code") {
        vec![storage(audit, received)]
    } else {
        vec![Err(vec![Problem::UnknownShape {
            keys: describe_keys(&audit),
        }])]
    }
}

/// `GET /fledge/audit` element `{source, severity, details, timestamp}`; also the
/// `POST /fledge/audit` body (no timestamp) and this module's own output (`detail`).
fn rest(mut audit: Map<String, Value>, received: Timestamp) -> Result<Value, Vec<Problem>> {
    let mut problems = Vec::new();
    let source = code(audit.get("source"), "source", &mut problems);
    let severity = severity(audit.get("severity"), "severity", &mut problems);
    let detail = match (audit.remove("details"), audit.remove("detail")) {
        (Some(_), Some(_)) => {
            problems.push(Problem::BothDetails);
            Map::new()
        }
        (Some(details), None) => detail(details, "details", &mut problems),
        (None, Some(details)) => detail(details, "detail", &mut problems),
        (None, None) => Map::new(),
    };
    let timestamp = match audit.get("timestamp") {
        Some(value) => timestamp(value, "timestamp", &mut problems),
        None => Some(received),
    };
    document(source, severity, detail, timestamp, problems)
}

/// Storage insert payload `{code, level, log}`: no timestamp, so the time of receipt
/// (or `ts`, when the payload is a row exported with its column).
fn storage(mut audit: Map<String, Value>, received: Timestamp) -> Result<Value, Vec<Problem>> {
    let mut problems = Vec::new();
    let source = code(audit.get("code"), "code", &mut problems);
    let severity = severity(audit.get("level"), "level", &mut problems);
    let detail = match audit.remove("log") {
        Some(log) => detail(log, "log", &mut problems),
        None => Map::new(),
    };
    let timestamp = match audit.get("ts") {
        Some(value) => timestamp(value, "ts", &mut problems),
        None => Some(received),
    };
    document(source, severity, detail, timestamp, problems)
}

/// Notification delivery `triggerReason`:
/// `{reason, auditCode|asset, timestamp, data: {CODE: {code, level, log}, timestamp_CODE}}`.
/// One audit per `CODE` entry of `data`, in the order they appear.
fn notification(
    reason: &Map<String, Value>,
    received: Timestamp,
) -> Vec<Result<Value, Vec<Problem>>> {
    let Some(data) = reason.get("data").and_then(Value::as_object) else {
        let found = reason.get("data").map_or("missing", kind_of);
        return vec![Err(vec![Problem::WrongType {
            field: "data".to_owned(),
            expected: "an object",
            found,
        }])];
    };
    let entries: Vec<(&String, &Value)> = data
        .iter()
        .filter(|(key, _)| !key.starts_with("timestamp_"))
        .collect();
    if entries.is_empty() {
        return vec![Err(vec![Problem::NoAuditData])];
    }
    entries
        .into_iter()
        .map(|(key, entry)| notification_entry(reason, data, key, entry, received))
        .collect()
}

fn notification_entry(
    reason: &Map<String, Value>,
    data: &Map<String, Value>,
    key: &str,
    entry: &Value,
    received: Timestamp,
) -> Result<Value, Vec<Problem>> {
    let prefix = format!("data.{}", field_name(key));
    let Some(entry) = entry.as_object() else {
        return Err(vec![Problem::WrongType {
            field: prefix,
            expected: "an object {code, level, log}",
            found: kind_of(entry),
        }]);
    };
    let mut problems = Vec::new();
    let source = match entry.get("code") {
        Some(code_value) => {
            let field = format!("{prefix}.code");
            let source = code(Some(code_value), &field, &mut problems);
            if let Some(source) = &source
                && source != key
            {
                problems.push(Problem::CodeMismatch {
                    field,
                    value: quote(source),
                    code: quote(key),
                });
            }
            source
        }
        // Fledge files the entry under its code: the key says it when `code` is absent.
        None => code(
            Some(&Value::String(key.to_owned())),
            "data key",
            &mut problems,
        ),
    };
    let severity = severity(
        entry.get("level"),
        &format!("{prefix}.level"),
        &mut problems,
    );
    let detail = match entry.get("log") {
        Some(log) => detail(log.clone(), &format!("{prefix}.log"), &mut problems),
        None => Map::new(),
    };
    // The service's own receipt time of this entry; the reason's time otherwise.
    let stamp_key = format!("timestamp_{key}");
    let timestamp = if let Some(value) = data.get(&stamp_key) {
        timestamp(
            value,
            &format!("data.{}", field_name(&stamp_key)),
            &mut problems,
        )
    } else if let Some(value) = reason.get("timestamp") {
        timestamp(value, "timestamp", &mut problems)
    } else {
        Some(received)
    };
    document(source, severity, detail, timestamp, problems)
}

fn document(
    source: Option<String>,
    severity: Option<&'static str>,
    detail: Map<String, Value>,
    timestamp: Option<Timestamp>,
    problems: Vec<Problem>,
) -> Result<Value, Vec<Problem>> {
    match (source, severity, timestamp) {
        (Some(source), Some(severity), Some(timestamp)) if problems.is_empty() => {
            Ok(normalised(source, severity, detail, timestamp))
        }
        _ => Err(problems),
    }
}

/// The normalised document `{source, severity, detail, timestamp}` of checked parts.
pub fn normalised(
    source: String,
    severity: &'static str,
    detail: Map<String, Value>,
    timestamp: Timestamp,
) -> Value {
    // A copy of a map already holding the four keys, in order (serde_json keeps insertion
    // order): copying its index costs less than hashing the keys again for every audit.
    thread_local! {
        static KEYS: Map<String, Value> = ["source", "severity", "detail", "timestamp"]
            .into_iter()
            .map(|key| (key.to_owned(), Value::Null))
            .collect();
    }
    let mut document = KEYS.with(Map::clone);
    let values = [
        Value::String(source),
        Value::String(severity.to_owned()),
        Value::Object(detail),
        Value::String(format_timestamp(timestamp)),
    ];
    for (slot, value) in document.values_mut().zip(values) {
        *slot = value;
    }
    Value::Object(document)
}

/// Whether `text` is an audit code: five characters, A-Z and 0-9 (Fledge's
/// `log_codes.code`, `CHAR(5)`).
pub fn is_code(text: &str) -> bool {
    text.len() == 5
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The severity named `name` (any case), `UNKNOWN` included.
pub fn severity_name(name: &str) -> Option<&'static str> {
    LEVELS
        .iter()
        .map(|(_, known)| *known)
        .chain([UNKNOWN_SEVERITY])
        .find(|known| known.eq_ignore_ascii_case(name))
}

/// The severity of a level number: Fledge's `log.level` is an integer column, and any
/// integer that is not one of the four levels is `UNKNOWN`, as `GET /fledge/audit` says.
/// Only a number that is not a whole number has no name.
fn level_name(number: &serde_json::Number) -> Option<&'static str> {
    if let Some(level) = number.as_u64() {
        let known = LEVELS.iter().find(|(known, _)| *known == level);
        return Some(known.map_or(UNKNOWN_SEVERITY, |(_, name)| *name));
    }
    number.as_i64().map(|_| UNKNOWN_SEVERITY)
}

/// Whether every detail is a scalar and every string within the size limit: the fast
/// path's test. Nested details take the general path ([`detail`]), which accepts them.
pub fn detail_is_valid(details: &Map<String, Value>) -> bool {
    details.values().all(|value| match value {
        Value::String(text) => text.len() <= MAX_DETAIL_STRING_BYTES,
        Value::Number(_) | Value::Bool(_) => true,
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    })
}

/// An audit code ([`is_code`]). Unknown but well-formed codes pass: whether a rule knows them is decided downstream.
fn code(value: Option<&Value>, field: &str, problems: &mut Vec<Problem>) -> Option<String> {
    match value {
        None => {
            problems.push(Problem::Missing {
                field: field.to_owned(),
            });
            None
        }
        Some(Value::String(code)) if is_code(code) => Some(code.clone()),
        Some(Value::String(code)) => {
            problems.push(Problem::BadCode {
                field: field.to_owned(),
                value: quote(code),
            });
            None
        }
        Some(other) => {
            problems.push(Problem::WrongType {
                field: field.to_owned(),
                expected: "a string",
                found: kind_of(other),
            });
            None
        }
    }
}

/// A severity given by name (any case) or by Fledge level number.
fn severity(
    value: Option<&Value>,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'static str> {
    let problem = match value {
        None => Problem::Missing {
            field: field.to_owned(),
        },
        Some(Value::String(name)) => match severity_name(name) {
            Some(known) => return Some(known),
            None => Problem::UnknownSeverity {
                field: field.to_owned(),
                value: quote(name),
            },
        },
        Some(Value::Number(number)) => match level_name(number) {
            Some(known) => return Some(known),
            None => Problem::UnknownLevel {
                field: field.to_owned(),
                value: number.to_string(),
            },
        },
        Some(other) => Problem::WrongType {
            field: field.to_owned(),
            expected: "a severity name or level number",
            found: kind_of(other),
        },
    };
    problems.push(problem);
    None
}

/// The details, checked: an object whose values are scalars, objects or arrays (Fledge
/// writes JSON config values and bulk updates nested), every string within the size limit
/// and nothing nested deeper than [`MAX_DETAIL_DEPTH`]. A `null` is refused at the top,
/// where Fledge writes none, and kept inside nested values, where JSON config values may
/// hold one. Every bad value is reported, not only the first. Taken by value so the common
/// case, all good, moves the map instead of copying it.
fn detail(value: Value, field: &str, problems: &mut Vec<Problem>) -> Map<String, Value> {
    // AuditLogger._log (audit_logger.py) stores no log when given None: some storage
    // back-ends then read it back as null. It means "no details".
    if value.is_null() {
        return Map::new();
    }
    let Value::Object(details) = value else {
        problems.push(Problem::WrongType {
            field: field.to_owned(),
            expected: "an object",
            found: kind_of(&value),
        });
        return Map::new();
    };
    for (key, value) in &details {
        let path = format!("{field}.{}", field_name(key));
        if value.is_null() {
            problems.push(Problem::WrongType {
                field: path,
                expected: "a string, number, boolean, object or array",
                found: kind_of(value),
            });
        } else {
            check_detail_value(value, &path, 1, problems);
        }
    }
    details
}

/// One detail value at `depth` (1 for a value of the details object itself): strings
/// within the size limit, nesting within the depth limit, at any depth.
fn check_detail_value(value: &Value, path: &str, depth: usize, problems: &mut Vec<Problem>) {
    match value {
        Value::String(text) if text.len() > MAX_DETAIL_STRING_BYTES => {
            problems.push(Problem::DetailTooLong {
                field: path.to_owned(),
                size: text.len(),
                limit: MAX_DETAIL_STRING_BYTES,
            });
        }
        Value::Array(_) | Value::Object(_) if depth >= MAX_DETAIL_DEPTH => {
            // One report for the whole too-deep value: its insides add nothing.
            problems.push(Problem::DetailTooDeep {
                field: path.to_owned(),
                limit: MAX_DETAIL_DEPTH,
            });
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_detail_value(item, &format!("{path}[{index}]"), depth + 1, problems);
            }
        }
        Value::Object(entries) => {
            for (key, item) in entries {
                let inner = format!("{path}.{}", field_name(key));
                check_detail_value(item, &inner, depth + 1, problems);
            }
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {}
    }
}

fn timestamp(value: &Value, field: &str, problems: &mut Vec<Problem>) -> Option<Timestamp> {
    match parse_timestamp(value) {
        Ok(timestamp) => Some(timestamp),
        Err(reason) => {
            problems.push(Problem::BadTimestamp {
                field: field.to_owned(),
                value: excerpt(value),
                reason,
            });
            None
        }
    }
}

pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Text quoted as JSON (so control characters show escaped), cut to a readable length.
fn quote(text: &str) -> String {
    let mut cut: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    let truncated = cut.len() < text.len();
    cut = Value::String(cut).to_string();
    if truncated {
        cut.push('…');
    }
    cut
}

fn excerpt(value: &Value) -> String {
    match value {
        Value::String(text) => quote(text),
        Value::Array(_) | Value::Object(_) => kind_of(value).to_owned(),
        scalar => scalar.to_string(),
    }
}

/// A key as a path segment: as is when plain, quoted when it holds anything odd.
fn field_name(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= MAX_QUOTED_CHARS
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain { key.to_owned() } else { quote(key) }
}

fn describe_keys(audit: &Map<String, Value>) -> String {
    const SHOWN: usize = 10;
    if audit.is_empty() {
        return "an empty object".to_owned();
    }
    let mut keys: Vec<String> = audit.keys().take(SHOWN).map(|k| field_name(k)).collect();
    if audit.len() > SHOWN {
        keys.push(format!("and {} more", audit.len() - SHOWN));
    }
    format!("keys {}", keys.join(", "))
}
