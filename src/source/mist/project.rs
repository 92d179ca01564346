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

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::scan::{key_end, skip_whitespace, value_end};

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
    match fast_values(body, each) {
        Some(items) => Ok(items),
        None => parse_array_strictly(body, each),
    }
}

/// [`parse_array`] with `serde_json` walking every byte.
fn parse_array_strictly(body: &[u8], each: &Projection) -> Result<Vec<Value>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let items = deserializer.deserialize_seq(ArrayVisitor(each))?;
    deserializer.end()?;
    Ok(items)
}

/// Deserialises one value, keeping what the projection keeps.
#[derive(Clone, Copy)]
pub struct Project<'p>(pub &'p Projection);

impl<'de> DeserializeSeed<'de> for Project<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.0.whole {
            return serde::Deserialize::deserialize(deserializer);
        }
        deserializer.deserialize_any(ProjectVisitor(self.0))
    }
}

struct ArrayVisitor<'p>(&'p Projection);

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Project(self.0))? {
            items.push(item);
        }
        Ok(items)
    }
}

struct ProjectVisitor<'p>(&'p Projection);

/// A key of an object: the projection below it if kept (with the key as text), or nothing.
struct KeySeed<'p>(&'p Projection);

impl<'de, 'p> DeserializeSeed<'de> for KeySeed<'p> {
    type Value = Option<(String, &'p Projection)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for KeySeed<'p> {
    type Value = Option<(String, &'p Projection)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.key(key).map(|below| (key.to_owned(), below)))
    }
}

impl<'de> Visitor<'de> for ProjectVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            match key {
                Some((key, below)) => {
                    let value = map.next_value_seed(Project(below))?;
                    // A repeated key: the last one wins, as in serde_json's own maps.
                    kept.insert(key, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Some(each) = self.0.each.as_deref() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Value::Array(Vec::new()));
        };
        ArrayVisitor(each).visit_seq(seq).map(Value::Array)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Project(self.0).deserialize(deserializer)
    }

    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Value, E> {
        Err(E::custom("bytes are not JSON"))
    }
}

/// A kept field of a record, as the fast path found it.
struct Kept<'b, 'p> {
    /// The key as the projection names it (the body's key, unescaped, is equal).
    key: &'p str,
    below: &'p Projection,
    /// The value's JSON text.
    value: &'b [u8],
}

/// Walks `body`, a JSON array, handing `on_element` each element's text and, for an
/// object, its kept fields in order. `None` when the body is not one array of values (as
/// far as [`super::scan`] checks) or `on_element` fails.
fn walk_array<'b, 'p>(
    body: &'b [u8],
    each: &'p Projection,
    mut on_element: impl FnMut(&'b [u8], &[Kept<'b, 'p>]) -> Option<()>,
) -> Option<()> {
    // Keys are compared as bytes and skipped strings are not decoded: check the encoding
    // of the whole body once (ASCII goes by at many bytes a cycle).
    std::str::from_utf8(body).ok()?;
    let mut at = skip_whitespace(body, 0);
    if body.get(at) != Some(&b'[') {
        return None;
    }
    at = skip_whitespace(body, at + 1);
    let mut kept = Vec::new();
    if body.get(at) != Some(&b']') {
        loop {
            kept.clear();
            let end = match body.get(at)? {
                b'{' => object_fields(body, at, each, &mut kept)?,
                _ => value_end(body, at)?,
            };
            on_element(&body[at..end], &kept)?;
            at = skip_whitespace(body, end);
            match body.get(at)? {
                b',' => at = skip_whitespace(body, at + 1),
                b']' => break,
                _ => return None,
            }
        }
    }
    (skip_whitespace(body, at + 1) == body.len()).then_some(())
}

/// Reads the object whose `{` is at `at`, pushing its kept fields; where it ends.
fn object_fields<'b, 'p>(
    body: &'b [u8],
    at: usize,
    projection: &'p Projection,
    kept: &mut Vec<Kept<'b, 'p>>,
) -> Option<usize> {
    let mut at = skip_whitespace(body, at + 1);
    if body.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        if body.get(at) != Some(&b'"') {
            return None;
        }
        let (end, escaped) = key_end(body, at)?;
        let key = &body[at..end];
        at = skip_whitespace(body, end);
        if body.get(at) != Some(&b':') {
            return None;
        }
        at = skip_whitespace(body, at + 1);
        let end = value_end(body, at)?;
        if let Some((key, below)) = kept_key(projection, key, escaped)? {
            kept.push(Kept {
                key,
                below,
                value: &body[at..end],
            });
        }
        at = skip_whitespace(body, end);
        match body.get(at)? {
            b',' => at = skip_whitespace(body, at + 1),
            b'}' => return Some(at + 1),
            _ => return None,
        }
    }
}

/// The projection's entry for the key whose JSON text (quotes included) is `token`, which
/// has an escape if `escaped`.
fn kept_key<'p>(
    projection: &'p Projection,
    token: &[u8],
    escaped: bool,
) -> Option<Option<(&'p str, &'p Projection)>> {
    let inner = &token[1..token.len() - 1];
    let found = if escaped {
        let key: String = serde_json::from_slice(token).ok()?;
        projection.keys.iter().find(|(k, _)| *k == key)
    } else {
        projection.keys.iter().find(|(k, _)| k.as_bytes() == inner)
    };
    Some(found.map(|(key, below)| (key.as_str(), below)))
}

/// `text` if it is a literal or a string that `serde_json` would read and write back byte
/// for byte (no escapes, no control characters): most kept fields are, and they then skip
/// a deserializer each.
fn plain_scalar(text: &[u8]) -> Option<&[u8]> {
    match text {
        b"true" | b"false" | b"null" => Some(text),
        [b'"', inner @ .., b'"'] if inner.iter().all(|&byte| byte >= 0x20 && byte != b'\\') => {
            Some(text)
        }
        _ => None,
    }
}

/// The value of a [`plain_scalar`].
fn plain_value(text: &[u8]) -> Option<Value> {
    Some(match text {
        b"true" => Value::Bool(true),
        b"false" => Value::Bool(false),
        b"null" => Value::Null,
        // The body was checked to be UTF-8, and quotes cannot split a character.
        [b'"', inner @ .., b'"'] => Value::String(std::str::from_utf8(inner).ok()?.to_owned()),
        _ => return None,
    })
}

/// Runs `seed` on the whole of `text`.
fn parse_slice<'de, S: DeserializeSeed<'de>>(text: &'de [u8], seed: S) -> Option<S::Value> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let value = seed.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(value)
}

/// [`parse_array`] on the fast path; `None` to take the strict one.
fn fast_values(body: &[u8], each: &Projection) -> Option<Vec<Value>> {
    if each.whole {
        return None;
    }
    let mut items = Vec::new();
    walk_array(body, each, |element, kept| {
        let item = if element.first() == Some(&b'{') {
            let mut fields = Map::with_capacity(kept.len());
            for field in kept {
                let value = match plain_scalar(field.value) {
                    Some(text) => plain_value(text)?,
                    None => parse_slice(field.value, Project(field.below))?,
                };
                // A repeated key: the last one wins, as in serde_json's own maps.
                fields.insert(field.key.to_owned(), value);
            }
            Value::Object(fields)
        } else {
            parse_slice(element, Project(each))?
        };
        items.push(item);
        Some(())
    })?;
    Some(items)
}

/// [`parse_array_text`] on the fast path; `None` to take the strict one.
fn fast_texts<const N: usize>(
    body: &[u8],
    each: &Projection,
    capture: [&str; N],
) -> Option<Vec<Captured<N>>> {
    if each.whole {
        return None;
    }
    let mut records = Vec::new();
    let mut out = Vec::with_capacity(256);
    walk_array(body, each, |element, kept| {
        if N > 0 && element.first() != Some(&b'{') {
            // Not a record to capture keys of: the strict way says what is wrong.
            return None;
        }
        out.clear();
        let mut captured: [Option<String>; N] = std::array::from_fn(|_| None);
        let mut seen = [false; N];
        if element.first() == Some(&b'{') {
            out.push(b'{');
            for (n, field) in kept.iter().enumerate() {
                if let Some(slot) = capture.iter().position(|key| *key == field.key) {
                    if std::mem::replace(&mut seen[slot], true) {
                        return None;
                    }
                    captured[slot] = match plain_scalar(field.value) {
                        Some(text) => match plain_value(text)? {
                            Value::String(text) => Some(text),
                            _ => None,
                        },
                        None => match serde_json::from_slice(field.value).ok()? {
                            Value::String(text) => Some(text),
                            _ => None,
                        },
                    };
                }
                if n > 0 {
                    out.push(b',');
                }
                write_scalar::<str, serde_json::Error>(&mut out, field.key).ok()?;
                out.push(b':');
                match plain_scalar(field.value) {
                    Some(text) => out.extend_from_slice(text),
                    None => {
                        let text = Text {
                            projection: field.below,
                            out: &mut out,
                        };
                        parse_slice(field.value, text)?;
                    }
                }
            }
            out.push(b'}');
        } else {
            parse_slice(
                element,
                Text {
                    projection: each,
                    out: &mut out,
                },
            )?;
        }
        // Only JSON text was written: valid UTF-8 by construction.
        records.push((std::str::from_utf8(&out).ok()?.into(), captured));
        Some(())
    })?;
    Some(records)
}

/// A projection keeping everything, for the parts below a value kept whole.
const WHOLE: &Projection = &Projection {
    whole: true,
    keys: Vec::new(),
    each: None,
};

/// Parses `body`, a JSON array of records, into each record's projection written as
/// compact JSON text, the same text `serde_json` would write for the projected value, but
/// without building it: records held for a while (the org-wide list, until every page is
/// in) cost their projected text and nothing else.
pub fn parse_array_text(
    body: &[u8],
    each: &Projection,
) -> Result<Vec<Box<str>>, serde_json::Error> {
    match fast_texts(body, each, []) {
        Some(records) => Ok(records.into_iter().map(|(text, [])| text).collect()),
        None => parse_array_text_strictly(body, each),
    }
}

/// A record's projected text, with the string values of the keys captured from it.
pub type Captured<const N: usize> = (Box<str>, [Option<String>; N]);

/// [`parse_array_text`], with each record's string values of the `capture` keys (`None`
/// where a key is missing or not a string), read as the record is walked rather than by
/// parsing its text again. `None` where the fast path cannot walk the body, or a captured
/// key is repeated: the caller then takes the strict way.
pub fn parse_array_text_capturing<const N: usize>(
    body: &[u8],
    each: &Projection,
    capture: [&str; N],
) -> Option<Vec<Captured<N>>> {
    fast_texts(body, each, capture)
}

/// [`parse_array_text`] with `serde_json` walking every byte.
fn parse_array_text_strictly(
    body: &[u8],
    each: &Projection,
) -> Result<Vec<Box<str>>, serde_json::Error> {
    struct Records<'p>(&'p Projection);
    impl<'de> Visitor<'de> for Records<'_> {
        type Value = Vec<Box<str>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Box<str>>, A::Error> {
            let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            let mut out = Vec::with_capacity(256);
            while seq
                .next_element_seed(Text {
                    projection: self.0,
                    out: &mut out,
                })?
                .is_some()
            {
                // Only JSON text was written: valid UTF-8 by construction.
                let text = String::from_utf8(std::mem::take(&mut out)).map_err(A::Error::custom)?;
                records.push(text.into_boxed_str());
                out.reserve(256);
            }
            Ok(records)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let records = deserializer.deserialize_seq(Records(each))?;
    deserializer.end()?;
    Ok(records)
}

/// Writes the projection of one value as JSON text into `out`.
struct Text<'p, 'o> {
    projection: &'p Projection,
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Text<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Writes a scalar the way `serde_json` writes it.
fn write_scalar<T: serde::Serialize + ?Sized, E: serde::de::Error>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), E> {
    serde_json::to_writer(out, value).map_err(E::custom)
}

/// A key of an object being written: written (after a comma unless first) if kept.
struct TextKey<'p, 'o> {
    projection: &'p Projection,
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'de, 'p> DeserializeSeed<'de> for TextKey<'p, '_> {
    type Value = Option<&'p Projection>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for TextKey<'p, '_> {
    type Value = Option<&'p Projection>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        let below = if self.projection.whole {
            Some(WHOLE)
        } else {
            self.projection.key(key)
        };
        if below.is_some() {
            if !self.first {
                self.out.push(b',');
            }
            write_scalar::<str, E>(self.out, key)?;
            self.out.push(b':');
        }
        Ok(below)
    }
}

impl<'de> Visitor<'de> for Text<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push(b'{');
        let mut first = true;
        loop {
            let key = map.next_key_seed(TextKey {
                projection: self.projection,
                out: self.out,
                first,
            })?;
            match key {
                None => break,
                Some(Some(below)) => {
                    first = false;
                    map.next_value_seed(Text {
                        projection: below,
                        out: self.out,
                    })?;
                }
                Some(None) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        self.out.push(b'}');
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let each = if self.projection.whole {
            Some(WHOLE)
        } else {
            self.projection.each.as_deref()
        };
        self.out.push(b'[');
        match each {
            None => while seq.next_element::<IgnoredAny>()?.is_some() {},
            Some(each) => {
                let mut first = true;
                loop {
                    let comma = self.out.len();
                    if !first {
                        self.out.push(b',');
                    }
                    let more = seq.next_element_seed(Text {
                        projection: each,
                        out: self.out,
                    })?;
                    if more.is_none() {
                        self.out.truncate(comma);
                        break;
                    }
                    first = false;
                }
            }
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<(), E> {
        write_scalar(self.out, &value)
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<(), E> {
        write_scalar(self.out, &value)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<(), E> {
        write_scalar(self.out, &value)
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<(), E> {
        // As `Value` would hold it: a number, or null if not finite.
        write_scalar(
            self.out,
            &Number::from_f64(value).map_or(Value::Null, Value::Number),
        )
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<(), E> {
        write_scalar(self.out, value)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }
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
        let texts: Vec<&str> = texts.iter().map(|t| &**t).collect();
        assert_eq!(texts, expected);
        let whole = parse_array_text(body, &Projection::whole()).unwrap();
        let full: Vec<Value> = serde_json::from_slice(body).unwrap();
        let whole: Vec<&str> = whole.iter().map(|t| &**t).collect();
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
            prop_assert_eq!(fast_values(body, &each), Some(strict));
            let strict_text = parse_array_text_strictly(body, &each).unwrap();
            let fast_text = fast_texts(body, &each, [])
                .map(|records| records.into_iter().map(|(text, [])| text).collect::<Vec<_>>());
            prop_assert_eq!(fast_text, Some(strict_text));
        }
    }

    proptest::proptest! {
        #[test]
        fn captured_keys_are_the_string_values_of_the_text(body in records()) {
            let each = projection(&["status", "name"]);
            let Some(records) = parse_array_text_capturing(body.as_bytes(), &each, ["status", "name"])
            else {
                // Only bodies with a repeated captured key or a non-object element.
                let values: Vec<Value> = serde_json::from_str(&body).unwrap();
                prop_assert!(values.iter().any(|v| !v.is_object()) || body.matches("\"status\"").count() > 1
                    || body.matches("\"name\"").count() > 1 || body.contains("st\\u0061tus"));
                return Ok(());
            };
            let texts = parse_array_text_strictly(body.as_bytes(), &each).unwrap();
            prop_assert_eq!(records.len(), texts.len());
            for ((text, [status, name]), strict) in records.iter().zip(&texts) {
                prop_assert_eq!(text, strict);
                let value: Value = serde_json::from_str(text).unwrap();
                let string = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
                prop_assert_eq!(status, &string("status"));
                prop_assert_eq!(name, &string("name"));
            }
        }
    }

    #[test]
    fn a_repeated_captured_key_leaves_the_record_to_the_strict_way() {
        let each = projection(&["site_id"]);
        let body = br#"[{"site_id":"a","site_id":"b"}]"#;
        assert_eq!(parse_array_text_capturing(body, &each, ["site_id"]), None);
        let body = br#"[{"site_id":"a","x":1},{"site_id":7}]"#;
        let records = parse_array_text_capturing(body, &each, ["site_id"]).unwrap();
        let captured: Vec<Option<String>> = records.into_iter().map(|(_, [site])| site).collect();
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
            assert!(fast_values(body, &each).is_none());
            let error = parse_array(body, &each).unwrap_err();
            assert!(error.line() >= 1 && error.column() >= 1, "{error}");
            assert!(parse_array_text(body, &each).is_err());
        }
    }
}
