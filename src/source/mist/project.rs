//! Parsing device records into only the fields that will be read.
//!
//! A device's stats are kilobytes of JSON (radio, port, LLDP, environment blocks) of which
//! the rules may read a handful of fields. Parsing all of it into `serde_json::Value`s costs
//! an allocation per key and per string and most of a run's time; here the JSON is walked
//! with serde, the fields in the [`Projection`] are built as values (in their original
//! order) and everything else is skipped with `IgnoredAny`, which checks the syntax but keeps
//! nothing. Keys are compared borrowed from the body.

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

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
}
