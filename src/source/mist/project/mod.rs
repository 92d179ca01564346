//! Parsing device records into only the fields that will be read.
//!
//! A device's stats are kilobytes of JSON (radio, port, LLDP, environment blocks) of which
//! the rules may read a handful of fields. Parsing all of it into `serde_json::Value`s costs
//! an allocation per key and per string and most of a run's time; here the JSON is walked
//! with serde, the fields in the [`Projection`] are built as values (in their original
//! order) and everything else is skipped with `IgnoredAny`, which checks the syntax but keeps
//! nothing. Keys are compared borrowed from the body.
//!
//! Arrays of records take a faster path first: each record's keys are read with
//! [`super::scan`], each unkept value is skipped by finding where it ends (64 bytes at a
//! time), and only the kept values go through `serde_json`. A body the fast path cannot
//! walk is parsed again the strict way, which either succeeds or gives `serde_json`'s
//! error with its line and column.

mod fast;
pub mod spent;
mod strict;

use std::borrow::Cow;

use serde_json::Value;

pub use fast::{Kept, record_value, record_value_over, walk_records};
use fast::{fast_texts, fast_values};
pub use strict::Project;
use strict::{parse_array_strictly, parse_array_text_strictly};

/// The part of a value to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// Keep everything below.
    pub whole: bool,
    /// Of an object: the keys to keep, each with what to keep below it. A list, not a hash
    /// map: rules read a handful of keys, and comparing a few short strings is cheaper
    /// than hashing every key of every record.
    pub keys: Vec<(String, Projection)>,
    /// Of an array: what to keep of every element (nothing without it).
    pub each: Option<Box<Projection>>,
}

impl Projection {
    /// Keeps everything.
    pub fn whole() -> Projection {
        Projection {
            whole: true,
            ..Projection::default()
        }
    }

    /// Also keeps `key` whole (a field the source itself needs).
    pub fn with_key(mut self, key: &str) -> Projection {
        if !self.whole {
            self.keys.retain(|(k, _)| k != key);
            self.keys.push((key.to_owned(), Projection::whole()));
        }
        self
    }

    /// What to keep below `key`, if it is kept.
    pub fn key(&self, key: &str) -> Option<&Projection> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, below)| below)
    }
}

/// Parses `body`, a JSON array, into its elements projected by `each`.
pub fn parse_array(body: &[u8], each: &Projection) -> Result<Vec<Value>, serde_json::Error> {
    match fast_values(body, each, false) {
        Some(items) => Ok(items),
        None => parse_array_strictly(body, each),
    }
}

/// [`parse_array`] of device records, written over this thread's [`spent`] device values
/// where they have the same keys in the same order; the values are the same either way.
pub fn parse_devices(body: &[u8], each: &Projection) -> Result<Vec<Value>, serde_json::Error> {
    match fast_values(body, each, true) {
        Some(items) => Ok(items),
        None => parse_array_strictly(body, each),
    }
}

/// The projected texts of a page's records, written one after another into one string:
/// records held for a while (the org-wide list, until every page is in) cost one
/// allocation a page, not one a record, and go back to one allocator when dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Texts {
    all: String,
    /// Where each record's text ends in `all`.
    ends: Vec<usize>,
}

impl Texts {
    /// Texts made of `all`, whose records end at `ends`; `None` if `all` is not UTF-8.
    fn from_parts(all: Vec<u8>, ends: Vec<usize>) -> Option<Texts> {
        let all = String::from_utf8(all).ok()?;
        (ends.last().copied().unwrap_or(0) == all.len()).then_some(Texts { all, ends })
    }

    /// Appends one record's text.
    pub fn push(&mut self, text: &str) {
        self.all.push_str(text);
        self.ends.push(self.all.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The text of record `n`.
    pub fn get(&self, n: usize) -> Option<&str> {
        let start = match n {
            0 => 0,
            _ => *self.ends.get(n - 1)?,
        };
        self.all.get(start..*self.ends.get(n)?)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).filter_map(|n| self.get(n))
    }
}

/// Parses `body`, a JSON array of records, into each record's projection written as
/// compact JSON text, the same text `serde_json` would write for the projected value, but
/// without building it: records held for a while cost their projected text and nothing
/// else.
pub fn parse_array_text(body: &[u8], each: &Projection) -> Result<Texts, serde_json::Error> {
    match fast_texts(body, each, []) {
        Some((texts, _)) => Ok(texts),
        None => parse_array_text_strictly(body, each),
    }
}

/// The string values of the keys captured from one record (borrowed from the body unless
/// they had to be unescaped).
pub type Captured<'b, const N: usize> = [Option<Cow<'b, str>>; N];

/// [`parse_array_text`], with each record's string values of the `capture` keys (`None`
/// where a key is missing or not a string), read as the record is walked rather than by
/// parsing its text again. `None` where the fast path cannot walk the body, or a captured
/// key is repeated: the caller then takes the strict way.
pub fn parse_array_text_capturing<'b, const N: usize>(
    body: &'b [u8],
    each: &Projection,
    capture: [&str; N],
) -> Option<(Texts, Vec<Captured<'b, N>>)> {
    fast_texts(body, each, capture)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn projection(keys: &[&str]) -> Projection {
        Projection {
            keys: keys
                .iter()
                .map(|k| ((*k).to_owned(), Projection::whole()))
                .collect(),
            ..Projection::default()
        }
    }

    #[test]
    fn keeps_the_projected_fields_in_their_order_and_nothing_else() {
        let body = br#"[{"type":"ap","radio_stat":{"band_24":{"channel":6,"power":[1,2]}},
            "name":"A \"1\"","port_stat":[{"up":true}],"status":"connected","n":1.5,"ip":null},
            {"status":"disconnected","type":"switch"}]"#;
        let each = projection(&["status", "type", "name", "ip", "n"]);
        let items = parse_array(body, &each).unwrap();
        assert_eq!(
            items,
            vec![
                json!({"type":"ap","name":"A \"1\"","status":"connected","n":1.5,"ip":null}),
                json!({"status":"disconnected","type":"switch"}),
            ]
        );
        // The order of the keys is the body's, as a full parse would give.
        let keys: Vec<&str> = items[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["type", "name", "status", "n", "ip"]);
    }

    #[test]
    fn a_whole_projection_is_a_full_parse() {
        let body = br#"[{"a":{"b":[1,{"c":"d"}]},"e":-3,"f":18446744073709551615}]"#;
        let full: Vec<Value> = serde_json::from_slice(body).unwrap();
        assert_eq!(parse_array(body, &Projection::whole()).unwrap(), full);
        // And a projection naming every key below gives the same.
        let mut nested = projection(&["e", "f"]);
        nested.keys.push((
            "a".to_owned(),
            Projection {
                keys: vec![(
                    "b".to_owned(),
                    Projection {
                        each: Some(Box::new(Projection::whole())),
                        ..Projection::default()
                    },
                )],
                ..Projection::default()
            },
        ));
        assert_eq!(parse_array(body, &nested).unwrap(), full);
    }

    #[test]
    fn projected_text_is_the_text_of_the_projected_value() {
        let body = br#"[{"type":"ap","radio_stat":{"band_24":{"channel":6,"power":[1,2.5e0]}},
            "name":"A \"1\" \u00e9","port_stat":[{"up":true},{"up":false,"x":1}],"status":"connected",
            "n":1.5,"ip":null,"big":18446744073709551615,"neg":-7},{},[],3]"#;
        let mut each = projection(&["status", "type", "name", "ip", "n", "big", "neg"]);
        each.keys.push((
            "port_stat".to_owned(),
            Projection {
                each: Some(Box::new(projection(&["up"]))),
                ..Projection::default()
            },
        ));
        each.keys
            .push(("radio_stat".to_owned(), Projection::whole()));
        let values = parse_array(body, &each).unwrap();
        let texts = parse_array_text(body, &each).unwrap();
        let expected: Vec<String> = values.iter().map(Value::to_string).collect();
        let texts: Vec<&str> = texts.iter().collect();
        assert_eq!(texts, expected);
        let whole = parse_array_text(body, &Projection::whole()).unwrap();
        let full: Vec<Value> = serde_json::from_slice(body).unwrap();
        let whole: Vec<&str> = whole.iter().collect();
        assert_eq!(whole, full.iter().map(Value::to_string).collect::<Vec<_>>());
        assert!(parse_array_text(br#"[{"status":"x","junk":[1,}]"#, &each).is_err());
    }

    #[test]
    fn skipped_parts_are_still_checked() {
        let each = projection(&["status"]);
        assert!(parse_array(br#"[{"status":"x","junk":[1,}]"#, &each).is_err());
        assert!(parse_array(br#"[{"status":"x"}] trailing"#, &each).is_err());
        assert!(parse_array(br#"{"status":"x"}"#, &each).is_err());
    }

    /// Records with wanted and unwanted keys (some repeated, some escaped) and any values.
    fn records() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z\"\\\\{}\\[\\] \u{e9}\u{1}\t]{0,10}".prop_map(Value::String),
        ];
        let value = leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-z]{1,6}", inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        });
        let key = prop_oneof![
            Just("status"),
            Just("name"),
            Just("radio_stat"),
            Just("port_stat"),
            Just("junk"),
            Just("st\\u0061tus"),
        ];
        let record = proptest::collection::vec((key, value.clone()), 0..8).prop_map(|fields| {
            let fields: Vec<String> = fields
                .iter()
                .map(|(key, value)| format!("\"{key}\" : {value}"))
                .collect();
            format!("{{ {} }}", fields.join(" ,\n"))
        });
        let element = prop_oneof![8 => record, 1 => value.prop_map(|v| v.to_string())];
        proptest::collection::vec(element, 0..6)
            .prop_map(|elements| format!(" [\n{}\n] ", elements.join(",")))
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_gives_what_the_strict_one_gives(body in records()) {
            let mut each = projection(&["status", "name"]);
            each.keys.push((
                "port_stat".to_owned(),
                Projection { each: Some(Box::new(projection(&["up"]))), ..Projection::default() },
            ));
            each.keys.push(("radio_stat".to_owned(), Projection::whole()));
            let body = body.as_bytes();
            let strict = parse_array_strictly(body, &each).unwrap();
            prop_assert_eq!(fast_values(body, &each, false), Some(strict));
            let strict_text = parse_array_text_strictly(body, &each).unwrap();
            let fast_text = fast_texts(body, &each, []).map(|(texts, _)| texts);
            prop_assert_eq!(fast_text, Some(strict_text));
        }

        #[test]
        fn devices_written_over_spent_ones_are_what_a_fresh_parse_gives(
            body in records(),
            spent_body in records(),
        ) {
            // Spent values of the same projection (the same keys in turn, mostly), of
            // whole records (other keys), and of no object at all.
            let each = projection(&["status", "name", "port_stat", "junk"]);
            let mut devices = parse_array(spent_body.as_bytes(), &each).unwrap();
            devices.extend(parse_array(spent_body.as_bytes(), &Projection::whole()).unwrap());
            devices.push(Value::Null);
            spent::keep_site_devices(json!({ "devices": devices }));
            let fresh = parse_array(body.as_bytes(), &each).unwrap();
            prop_assert_eq!(parse_devices(body.as_bytes(), &each).unwrap(), fresh);
            while spent::take().is_some() {}
        }
    }

    proptest::proptest! {
        #[test]
        fn projected_texts_read_back_as_serde_json_reads_them(body in records()) {
            let each = projection(&["status", "name", "port_stat", "junk"]);
            let texts = parse_array_text(body.as_bytes(), &each).unwrap();
            for text in texts.iter() {
                let strict: Value = serde_json::from_str(text).unwrap();
                prop_assert_eq!(record_value(text), strict.is_object().then_some(strict));
            }
            // And any element's own text, whatever it holds.
            let whole = parse_array_text(body.as_bytes(), &Projection::whole()).unwrap();
            for text in whole.iter() {
                let strict: Value = serde_json::from_str(text).unwrap();
                prop_assert_eq!(record_value(text), strict.is_object().then_some(strict));
            }
        }

        #[test]
        fn a_record_written_over_a_spent_one_reads_as_if_read_afresh(
            body in records(),
            spent_body in records(),
        ) {
            // Spent values of the same projection (the same keys in turn, mostly), of the
            // whole records (other keys), and of no object at all.
            let each = projection(&["status", "name", "port_stat", "junk"]);
            let mut spent: Vec<Value> = parse_array_text(spent_body.as_bytes(), &each)
                .unwrap()
                .iter()
                .chain(parse_array_text(spent_body.as_bytes(), &Projection::whole()).unwrap().iter())
                .map(|text| serde_json::from_str(text).unwrap())
                .collect();
            spent.push(Value::Null);
            for (n, text) in parse_array_text(body.as_bytes(), &each).unwrap().iter().enumerate() {
                let over = spent[n % spent.len()].clone();
                prop_assert_eq!(record_value_over(text, over), record_value(text));
            }
        }
    }

    #[test]
    fn a_device_page_reuses_the_spent_devices_keys_and_strings() {
        let each = projection(&["name", "status"]);
        let spent = parse_array(br#"[{"name":"AP-1","status":"connected"}]"#, &each).unwrap();
        let name_at = spent[0]["name"].as_str().unwrap().as_ptr();
        // Built by hand: `json!` would copy the devices into new strings.
        let mut site = serde_json::Map::new();
        site.insert("devices".to_owned(), Value::Array(spent));
        spent::keep_site_devices(Value::Object(site));
        let body = br#"[{"name":"AP-2","x":1,"status":"disconnected"}]"#;
        let read = parse_devices(body, &each).unwrap();
        assert_eq!(read, parse_array(body, &each).unwrap());
        assert_eq!(read[0]["name"].as_str().unwrap().as_ptr(), name_at);
        assert_eq!(spent::take(), None);
    }

    #[test]
    fn a_record_of_the_same_shape_keeps_the_spent_one_s_keys_and_strings() {
        let spent = record_value(r#"{"name":"AP-1","status":"connected","up":true}"#).unwrap();
        let key_at = |value: &Value| value.as_object().unwrap().keys().next().unwrap().as_ptr();
        let name_at = |value: &Value| value["name"].as_str().unwrap().as_ptr();
        let (key, name) = (key_at(&spent), name_at(&spent));
        let text = r#"{"name":"AP-2","status":"disconnected","up":null}"#;
        let read = record_value_over(text, spent).unwrap();
        assert_eq!(Some(&read), record_value(text).as_ref());
        assert_eq!((key_at(&read), name_at(&read)), (key, name));
        // Another shape is read afresh, and still right.
        let text = r#"{"status":"x","name":"AP-3","up":true}"#;
        assert_eq!(record_value_over(text, read), record_value(text));
        let text = r#"{"name":"AP-4","status":"x"}"#;
        let spent = record_value(r#"{"name":"AP-1","status":"connected","up":true}"#).unwrap();
        assert_eq!(record_value_over(text, spent), record_value(text));
        let spent = record_value(r#"{"name":"AP-1"}"#).unwrap();
        let text = r#"{"name":"AP-4","name":"AP-5"}"#;
        assert_eq!(record_value_over(text, spent), record_value(text));
    }

    proptest::proptest! {
        #[test]
        fn captured_keys_are_the_string_values_of_the_text(body in records()) {
            let each = projection(&["status", "name"]);
            let Some((records, captured)) =
                parse_array_text_capturing(body.as_bytes(), &each, ["status", "name"])
            else {
                // Only bodies with a repeated captured key or a non-object element.
                let values: Vec<Value> = serde_json::from_str(&body).unwrap();
                prop_assert!(values.iter().any(|v| !v.is_object()) || body.matches("\"status\"").count() > 1
                    || body.matches("\"name\"").count() > 1 || body.contains("st\\u0061tus"));
                return Ok(());
            };
            let texts = parse_array_text_strictly(body.as_bytes(), &each).unwrap();
            prop_assert_eq!(&records, &texts);
            prop_assert_eq!(captured.len(), texts.len());
            for (text, [status, name]) in records.iter().zip(&captured) {
                let value: Value = serde_json::from_str(text).unwrap();
                let string = |key: &str| value.get(key).and_then(Value::as_str);
                prop_assert_eq!(status.as_deref(), string("status"));
                prop_assert_eq!(name.as_deref(), string("name"));
            }
        }
    }

    #[test]
    fn only_kept_values_have_their_encoding_checked() {
        let each = projection(&["status"]);
        // Skipped strings are not decoded, by either path.
        let body = b"[{\"status\":\"up\",\"name\":\"caf\xe9\",\"radio\":[\"\xff\"]}]";
        let strict = parse_array_strictly(body, &each).unwrap();
        assert_eq!(fast_values(body, &each, false), Some(strict));
        assert_eq!(
            parse_array_text(body, &each).unwrap(),
            parse_array_text_strictly(body, &each).unwrap()
        );
        // A key that is not UTF-8 is skipped on the fast path (`serde_json` refuses it).
        let body = b"[{\"na\xffme\":1,\"status\":\"up\"}]";
        assert_eq!(
            fast_values(body, &each, false),
            Some(vec![json!({"status": "up"})])
        );
        // Kept values are checked by both.
        for body in [
            &b"[{\"status\":\"up\xff\"}]"[..],
            b"[{\"status\":{\"a\":\"\xc3\"}}]",
        ] {
            assert!(parse_array_strictly(body, &each).is_err());
            assert!(fast_values(body, &each, false).is_none());
            assert!(fast_texts(body, &each, ["status"]).is_none());
            assert!(parse_array_text(body, &each).is_err());
        }
    }

    #[test]
    fn a_page_of_texts_gives_each_record_back() {
        let mut texts = Texts::default();
        for text in ["{\"a\":1}", "", "[]"] {
            texts.push(text);
        }
        assert_eq!(texts.len(), 3);
        assert_eq!(texts.iter().collect::<Vec<_>>(), ["{\"a\":1}", "", "[]"]);
        assert_eq!((texts.get(1), texts.get(3)), (Some(""), None));
        assert_eq!(Texts::from_parts(b"ab".to_vec(), vec![1]), None);
        assert_eq!(Texts::from_parts(vec![0xff], vec![1]), None);
    }

    #[test]
    fn a_repeated_captured_key_leaves_the_record_to_the_strict_way() {
        let each = projection(&["site_id"]);
        let body = br#"[{"site_id":"a","site_id":"b"}]"#;
        assert_eq!(parse_array_text_capturing(body, &each, ["site_id"]), None);
        let body = br#"[{"site_id":"a","x":1},{"site_id":7}]"#;
        let (_, records) = parse_array_text_capturing(body, &each, ["site_id"]).unwrap();
        let captured: Vec<Option<String>> = records
            .into_iter()
            .map(|[site]| site.map(Cow::into_owned))
            .collect();
        assert_eq!(captured, [Some("a".to_owned()), None]);
    }

    #[test]
    fn bodies_the_fast_path_cannot_walk_get_serde_json_errors() {
        let each = projection(&["status"]);
        for body in [
            &br#"[{"status":"x"} {"status":"y"}]"#[..],
            br#"[{"status":"x","radio":{"a":1]]"#,
            br#"[{"status":"x""#,
            b"<html>502 Bad Gateway</html>",
            br#"[{"status":"\q"}]"#,
            b"[{\"status\":\"\xff\"}]",
        ] {
            assert!(fast_values(body, &each, false).is_none());
            let error = parse_array(body, &each).unwrap_err();
            assert!(error.line() >= 1 && error.column() >= 1, "{error}");
            assert!(parse_array_text(body, &each).is_err());
        }
    }
}
