//! The strict path: `serde_json` walks every byte, unkept values are skipped with
//! `IgnoredAny`, and errors carry `serde_json`'s line and column.

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::{Projection, Texts};

/// [`parse_array`] with `serde_json` walking every byte.
pub(super) fn parse_array_strictly(
    body: &[u8],
    each: &Projection,
) -> Result<Vec<Value>, serde_json::Error> {
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

/// [`parse_array_text`] with `serde_json` walking every byte.
pub(super) fn parse_array_text_strictly(
    body: &[u8],
    each: &Projection,
) -> Result<Texts, serde_json::Error> {
    struct Records<'p>(&'p Projection);
    impl<'de> Visitor<'de> for Records<'_> {
        type Value = Texts;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Texts, A::Error> {
            let mut ends = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            let mut out = Vec::with_capacity(4096);
            while seq
                .next_element_seed(Text {
                    projection: self.0,
                    out: &mut out,
                })?
                .is_some()
            {
                ends.push(out.len());
            }
            // Only JSON text was written: valid UTF-8 by construction.
            Texts::from_parts(out, ends)
                .ok_or_else(|| A::Error::custom("projected text is not UTF-8"))
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let records = deserializer.deserialize_seq(Records(each))?;
    deserializer.end()?;
    Ok(records)
}

/// Writes the projection of one value as JSON text into `out`.
pub(super) struct Text<'p, 'o> {
    pub projection: &'p Projection,
    pub out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Text<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Writes a scalar the way `serde_json` writes it.
pub(super) fn write_scalar<T: serde::Serialize + ?Sized, E: serde::de::Error>(
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
