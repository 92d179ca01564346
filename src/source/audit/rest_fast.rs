//! The common case, read straight into typed fields: a well-formed Fledge REST entry, or a
//! REST list response made only of such entries.
//!
//! The general path parses into a `serde_json::Value` first and then checks it; for a
//! REST entry that means building a map of the entry's own keys only to take them apart
//! again. Here the entry's fields are borrowed from the input and only the details become
//! a map. Anything unusual (another shape, an unknown or repeated key, a `null`, a value
//! the checks refuse) is not handled here: the caller then takes the general path, which
//! gives the same result for good input and the precise error for bad input.

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::shape;
use super::time::parse_timestamp_text;

/// `{source, severity, details|detail, timestamp}` with nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestEntry<'a> {
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(borrow)]
    severity: Cow<'a, str>,
    #[serde(default, deserialize_with = "present_details")]
    details: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present_details")]
    detail: Option<Map<String, Value>>,
    #[serde(default, borrow, deserialize_with = "present")]
    timestamp: Option<Cow<'a, str>>,
}

/// `{"audit": [...], "totalCount": N}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestList<'a> {
    #[serde(borrow)]
    audit: Vec<RestEntry<'a>>,
    #[serde(default, rename = "totalCount")]
    _total_count: Option<Value>,
}

/// A key that is present holds a value: `null` is not "absent" (the general path reports
/// it), so an optional field only accepts its type.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Details, read into a map sized for the usual handful of keys: growing a map from empty
/// rebuilds its index on the way.
fn present_details<'de, D>(deserializer: D) -> Result<Option<Map<String, Value>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Details;
    impl<'de> Visitor<'de> for Details {
        type Value = Map<String, Value>;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            const USUAL_KEYS: usize = 8;
            let mut details = Map::with_capacity(access.size_hint().unwrap_or(USUAL_KEYS));
            while let Some((key, value)) = access.next_entry::<String, Value>()? {
                details.insert(key, value);
            }
            Ok(details)
        }
    }
    deserializer.deserialize_map(Details).map(Some)
}

/// The normalised audits of `text`, when it is one REST entry or a REST list response and
/// every entry passes the checks; `None` sends the caller to the general path.
pub fn decode(text: &str, received: Timestamp) -> Option<Vec<Value>> {
    let first = text.trim_start().as_bytes().first()?;
    if *first != b'{' {
        return None;
    }
    // Other shapes fail both attempts below at their first key, after serde has built an
    // error message for each: look at that key first.
    if first_key(text).is_some_and(|key| !KEYS.contains(&key)) {
        return None;
    }
    // An entry is the common case; a list response fails it at its first key.
    if let Ok(entry) = serde_json::from_str::<RestEntry>(text) {
        return Some(vec![normalise(entry, received)?]);
    }
    let list: RestList = serde_json::from_str(text).ok()?;
    list.audit
        .into_iter()
        .map(|entry| normalise(entry, received))
        .collect()
}

/// Every key of [`RestEntry`] and [`RestList`].
const KEYS: &[&str] = &[
    "source",
    "severity",
    "details",
    "detail",
    "timestamp",
    "audit",
    "totalCount",
];

/// The first key of an object's text, when it is written without escapes.
fn first_key(text: &str) -> Option<&str> {
    let rest = text
        .trim_start_matches(JSON_WHITESPACE)
        .strip_prefix('{')?
        .trim_start_matches(JSON_WHITESPACE)
        .strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

fn normalise(entry: RestEntry<'_>, received: Timestamp) -> Option<Value> {
    if !shape::is_code(&entry.source) {
        return None;
    }
    let severity = shape::severity_name(&entry.severity)?;
    let detail = match (entry.details, entry.detail) {
        (Some(_), Some(_)) => return None,
        (Some(detail), None) | (None, Some(detail)) => detail,
        (None, None) => Map::new(),
    };
    if !shape::detail_is_valid(&detail) {
        return None;
    }
    let timestamp = match entry.timestamp {
        Some(text) => parse_timestamp_text(&text).ok()?,
        None => received,
    };
    Some(shape::normalised(
        entry.source.into_owned(),
        severity,
        detail,
        timestamp,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_key_decides_without_parsing() {
        assert_eq!(first_key(" {\n\t\"code\": 1}"), Some("code"));
        assert_eq!(first_key(r#"{"co\"de": 1}"#), None);
        assert_eq!(first_key("{}"), None);
        assert_eq!(first_key("[1]"), None);
        let received = Timestamp::UNIX_EPOCH;
        // A storage payload is not a REST entry; a REST entry is, whatever its key order.
        assert!(decode(r#"{"code": "STLNK", "level": 2, "log": {}}"#, received).is_none());
        let entry = r#"{"timestamp": "2026-11-21 09:15:42.317", "source": "SRVFL",
            "severity": "FAILURE", "details": {"name": "x"}}"#;
        assert_eq!(decode(entry, received).map(|audits| audits.len()), Some(1));
        let list = r#"{"totalCount": 1, "audit": [{"source": "SRVFL", "severity": "FAILURE"}]}"#;
        assert_eq!(decode(list, received).map(|audits| audits.len()), Some(1));
    }
}
