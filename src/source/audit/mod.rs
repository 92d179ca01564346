//! Fledge audit entries in any of their shapes, normalised to the document trap bindings read.
//!
//! An input is one of:
//! - one audit object;
//! - a Fledge REST list response `{"audit": [...], "totalCount": N}`;
//! - a JSON array of audits;
//! - JSON lines: one audit per line, blank lines ignored.
//!
//! Each audit may be a REST entry `{source, severity, details, timestamp}`, a storage
//! payload `{code, level, log}` (dated at receipt), or a notification trigger reason
//! `{reason, auditCode|asset, timestamp, data: {CODE: {code, level, log}, timestamp_CODE}}`
//! (one audit per code in `data`). Every audit becomes exactly
//! `{"source", "severity", "detail", "timestamp"}`, in that key order: `severity` a name
//! (`UNKNOWN` for a level Fledge does not name), `detail` an object whose values may nest
//! (objects and arrays, as Fledge writes for configuration changes), `timestamp` ISO 8601
//! UTC with milliseconds and `Z`.
//!
//! Each audit found gives its own result, so one bad audit never hides the others.

mod error;
mod rest_fast;
mod shape;
mod stream;
mod time;

pub use error::{AuditError, AuditErrorKind, Position, Problem};
pub use stream::{AuditReader, Decoded, MAX_DOCUMENT_BYTES};
pub use time::{format_timestamp, parse_timestamp, zoneless_to_utc};

use jiff::Timestamp;
use serde_json::Value;

/// Largest input accepted whole by [`decode_input`] (an HTTP body); a stream read by
/// [`AuditReader`] has no overall limit, only [`MAX_DOCUMENT_BYTES`] per item.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;
/// Largest single audit (a JSON line, or a list element as compact JSON).
pub const MAX_AUDIT_BYTES: usize = 1024 * 1024;
/// Largest string value in an audit's details.
pub const MAX_DETAIL_STRING_BYTES: usize = 4096;
/// Deepest nesting of an audit's details: a value of the details object is at depth 1,
/// and an object or array there may hold values down to this depth. Fledge's nested
/// details (a JSON config value, a bulk update's items) are a few levels deep.
pub const MAX_DETAIL_DEPTH: usize = 32;

/// Splits an input (one audit, a REST list response, a list, or JSON lines) into normalised
/// audit documents `{source, severity, detail, timestamp}`, one result per audit found.
/// Audits without a timestamp of their own are dated now.
pub fn decode_input(bytes: &[u8]) -> Vec<Result<Value, AuditError>> {
    decode_input_at(bytes, Timestamp::now())
}

/// [`decode_input`] with the time of receipt given, for audits that carry no timestamp.
pub fn decode_input_at(bytes: &[u8], received: Timestamp) -> Vec<Result<Value, AuditError>> {
    if bytes.len() > MAX_INPUT_BYTES {
        return vec![Err(AuditError::new(
            Position::WHOLE_INPUT,
            AuditErrorKind::InputTooLarge {
                size: bytes.len(),
                limit: MAX_INPUT_BYTES,
            },
        ))];
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return vec![Err(AuditError::new(
            Position::WHOLE_INPUT,
            AuditErrorKind::Empty,
        ))];
    }
    let whole = match std::str::from_utf8(bytes) {
        Ok(text) => {
            if let Some(audits) = fast_path(text, received) {
                return audits.into_iter().map(Ok).collect();
            }
            serde_json::from_str::<Value>(text).map_err(|e| json_error_kind(&e, false))
        }
        Err(e) => Err(AuditErrorKind::InvalidUtf8 {
            offset: e.valid_up_to(),
        }),
    };
    match whole {
        Ok(document) => decode_document(document, bytes.len(), Position::WHOLE_INPUT, received),
        Err(whole_error) => match json_lines(bytes, received) {
            Some(lines) => lines
                .into_iter()
                .flat_map(|(position, len, line)| match line {
                    Ok(Line::Normalised(audits)) => audits.into_iter().map(Ok).collect(),
                    Ok(Line::Document(document)) => {
                        decode_document(document, len, position, received)
                    }
                    Err(kind) => vec![Err(AuditError::new(position, kind))],
                })
                .collect(),
            None => vec![Err(AuditError::new(Position::WHOLE_INPUT, whole_error))],
        },
    }
}

/// The normalised audits of a well-formed REST entry or list response (see
/// [`rest_fast`]), when `text` is one and small enough that no audit in it can exceed
/// [`MAX_AUDIT_BYTES`].
fn fast_path(text: &str, received: Timestamp) -> Option<Vec<Value>> {
    if text.len() > MAX_AUDIT_BYTES / 2 {
        return None;
    }
    rest_fast::decode(text, received)
}

/// One JSON line: audits already normalised by the fast path, or a document to decode.
enum Line {
    Normalised(Vec<Value>),
    Document(Value),
}

/// A line's position, its length and what it parsed to.
type ParsedLine = (Position, usize, Result<Line, AuditErrorKind>);

/// The input read as JSON lines, when it looks like JSON lines: several non-blank lines,
/// at least one of them a complete JSON object on its own. A pretty-printed document
/// with a syntax error has no such line, and gets one error for the whole input instead
/// of one per line.
fn json_lines(bytes: &[u8], received: Timestamp) -> Option<Vec<ParsedLine>> {
    let mut lines = Vec::new();
    let mut offset = 0;
    for (number, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let start = offset;
        offset += raw.len() + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines.push((
            Position::line(number + 1),
            line.len(),
            parse_line(line, start, received),
        ));
    }
    let any_object = lines.iter().any(|(_, _, line)| {
        matches!(
            line,
            Ok(Line::Normalised(_) | Line::Document(Value::Object(_)))
        )
    });
    (lines.len() >= 2 && any_object).then_some(lines)
}

fn parse_line(line: &[u8], start: usize, received: Timestamp) -> Result<Line, AuditErrorKind> {
    if line.len() > MAX_AUDIT_BYTES {
        return Err(AuditErrorKind::AuditTooLarge {
            size: line.len(),
            limit: MAX_AUDIT_BYTES,
        });
    }
    let text = std::str::from_utf8(line).map_err(|e| AuditErrorKind::InvalidUtf8 {
        offset: start + e.valid_up_to(),
    })?;
    if let Some(audits) = fast_path(text, received) {
        return Ok(Line::Normalised(audits));
    }
    serde_json::from_str(text)
        .map(Line::Document)
        .map_err(|e| json_error_kind(&e, true))
}

/// serde_json's error as a kind. Within a JSON line the line number is already the
/// position, so only the column is kept.
fn json_error_kind(error: &serde_json::Error, within_line: bool) -> AuditErrorKind {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let detail = match full.strip_suffix(&suffix) {
        Some(message) if within_line => format!("{message} at column {}", error.column()),
        _ => full,
    };
    if error.is_eof() {
        AuditErrorKind::TruncatedJson { detail }
    } else {
        AuditErrorKind::NotJson { detail }
    }
}

/// One parsed document: a REST list response, a list, or one audit.
fn decode_document(
    document: Value,
    text_len: usize,
    position: Position,
    received: Timestamp,
) -> Vec<Result<Value, AuditError>> {
    match document {
        Value::Object(mut object) if object.contains_key("audit") => match object.remove("audit") {
            Some(Value::Array(audits)) => decode_list(audits, text_len, position, received),
            other => {
                let found = other.as_ref().map_or("missing", shape::kind_of);
                vec![Err(invalid(
                    position,
                    Problem::WrongType {
                        field: "audit".to_owned(),
                        expected: "a list of audits",
                        found,
                    },
                ))]
            }
        },
        Value::Array(audits) => decode_list(audits, text_len, position, received),
        audit => decode_audit(audit, text_len, position, received),
    }
}

fn decode_list(
    audits: Vec<Value>,
    text_len: usize,
    position: Position,
    received: Timestamp,
) -> Vec<Result<Value, AuditError>> {
    audits
        .into_iter()
        .enumerate()
        .flat_map(|(index, audit)| {
            decode_audit(audit, text_len, position.with_index(index), received)
        })
        .collect()
}

fn decode_audit(
    audit: Value,
    text_len: usize,
    position: Position,
    received: Timestamp,
) -> Vec<Result<Value, AuditError>> {
    // The text it was read from bounds its size: only measure when that text could be too
    // large (compact JSON is at most about as long as any text of the same value).
    let size = if text_len <= MAX_AUDIT_BYTES / 2 {
        text_len
    } else {
        compact_size(&audit)
    };
    if size > MAX_AUDIT_BYTES {
        return vec![Err(AuditError::new(
            position,
            AuditErrorKind::AuditTooLarge {
                size,
                limit: MAX_AUDIT_BYTES,
            },
        ))];
    }
    let Value::Object(object) = audit else {
        return vec![Err(invalid(
            position,
            Problem::NotAnObject {
                found: shape::kind_of(&audit),
            },
        ))];
    };
    shape::normalise(object, received)
        .into_iter()
        .map(|result| {
            result
                .map_err(|problems| AuditError::new(position, AuditErrorKind::Invalid { problems }))
        })
        .collect()
}

fn invalid(position: Position, problem: Problem) -> AuditError {
    AuditError::new(
        position,
        AuditErrorKind::Invalid {
            problems: vec![problem],
        },
    )
}

/// Size of a value written as compact JSON, without building the text.
fn compact_size(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests;
