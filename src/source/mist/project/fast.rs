//! The fast path: records walked with [`crate::source::mist::scan`], unkept values skipped
//! by finding where they end, kept plain scalars copied as they are.

use std::borrow::Cow;
use std::ops::Range;

use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use super::strict::{Project, Text, write_scalar};
use super::{Captured, Projection, Texts};
use crate::source::mist::scan::{key_end, skip_whitespace, value_end};

/// A kept field of a record, as the fast path found it.
pub struct Kept<'b, 'p> {
    /// The key as the projection names it (the body's key, unescaped, is equal).
    pub key: &'p str,
    below: &'p Projection,
    /// The value's JSON text.
    pub value: &'b [u8],
}

impl<'b> Kept<'b, '_> {
    /// The value as an optional string (`null` is `None`), borrowed from the body when it
    /// is plain; `None` when it is not a string or null.
    pub fn optional_str(&self) -> Option<Option<Cow<'b, str>>> {
        match plain_scalar(self.value) {
            Some(b"null") => Some(None),
            Some([b'"', inner @ .., b'"']) => {
                Some(Some(Cow::Borrowed(std::str::from_utf8(inner).ok()?)))
            }
            Some(_) => None,
            None => serde_json::from_slice::<Option<String>>(self.value)
                .ok()
                .map(|text| text.map(Cow::Owned)),
        }
    }
}

/// Walks `body`, a JSON array of objects, handing `on_record` each record's kept fields in
/// order: the fast path for callers that read fields themselves. `None` when the fast path
/// cannot walk the body, an element is not an object, or `on_record` refuses a record: the
/// caller then parses the body the strict way.
pub fn walk_records<'b, 'p>(
    body: &'b [u8],
    each: &'p Projection,
    mut on_record: impl FnMut(&[Kept<'b, 'p>]) -> Option<()>,
) -> Option<()> {
    if each.whole {
        return None;
    }
    walk_array(body, each, |element, kept| {
        if element.first() != Some(&b'{') {
            return None;
        }
        on_record(kept)
    })
}

/// Walks `body`, a JSON array, handing `on_element` each element's text and, for an
/// object, its kept fields in order. `None` when the body is not one array of values (as
/// far as [`super::scan`] checks) or `on_element` fails.
fn walk_array<'b, 'p>(
    body: &'b [u8],
    each: &'p Projection,
    mut on_element: impl FnMut(&'b [u8], &[Kept<'b, 'p>]) -> Option<()>,
) -> Option<()> {
    // Only kept values are decoded (and so checked): keys are compared as bytes, and a key
    // that is not UTF-8 matches no projected key, so it is skipped like any unread value.
    let mut at = skip_whitespace(body, 0);
    if body.get(at) != Some(&b'[') {
        return None;
    }
    at = skip_whitespace(body, at + 1);
    let mut kept = Vec::new();
    let keys = KeyIndex::new(each);
    if body.get(at) != Some(&b']') {
        loop {
            kept.clear();
            let end = match body.get(at)? {
                b'{' => object_fields(body, at, &keys, &mut kept)?,
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
    keys: &KeyIndex<'p>,
    kept: &mut Vec<Kept<'b, 'p>>,
) -> Option<usize> {
    object_members(body, at, |key, escaped, value| {
        if let Some((key, below)) = keys.find(&body[key], escaped)? {
            kept.push(Kept {
                key,
                below,
                value: &body[value],
            });
        }
        Some(())
    })
}

/// Walks the object whose `{` is at `at`, handing `on_member` each member's key (its JSON
/// text, quotes included, and whether it has an escape) and value, as places in `bytes`;
/// where the object ends. `None` where it is not one object as far as [`crate::source::mist::scan`]
/// checks, or `on_member` refuses a member.
fn object_members(
    bytes: &[u8],
    at: usize,
    mut on_member: impl FnMut(Range<usize>, bool, Range<usize>) -> Option<()>,
) -> Option<usize> {
    let mut at = skip_whitespace(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let (key_end, escaped) = key_end(bytes, at)?;
        let key = at..key_end;
        at = skip_whitespace(bytes, key_end);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at = skip_whitespace(bytes, at + 1);
        let end = value_end(bytes, at)?;
        on_member(key, escaped, at..end)?;
        at = skip_whitespace(bytes, end);
        match bytes.get(at)? {
            b',' => at = skip_whitespace(bytes, at + 1),
            b'}' => return Some(at + 1),
            _ => return None,
        }
    }
}

/// The keys a projection keeps, looked up by a record's keys. Most of a record's keys are
/// not kept: a 256-bit filter on each kept key's length and first byte turns nearly all of
/// them away before any comparison (walking the list compared forty keys with every kept
/// one, a fifth of a page's walk).
struct KeyIndex<'p> {
    keys: &'p [(String, Projection)],
    filter: [u64; 4],
}

impl<'p> KeyIndex<'p> {
    fn new(projection: &'p Projection) -> KeyIndex<'p> {
        let mut filter = [0; 4];
        for (key, _) in &projection.keys {
            let slot = Self::slot(key.as_bytes());
            filter[slot / 64] |= 1 << (slot % 64);
        }
        KeyIndex {
            keys: &projection.keys,
            filter,
        }
    }

    fn slot(key: &[u8]) -> usize {
        (usize::from(key.first().copied().unwrap_or(0)) ^ key.len().wrapping_mul(37)) & 255
    }

    /// The entry for the key whose JSON text (quotes included) is `token`, which has an
    /// escape if `escaped`.
    fn find(&self, token: &[u8], escaped: bool) -> Option<Option<(&'p str, &'p Projection)>> {
        let inner = &token[1..token.len() - 1];
        let found = if escaped {
            let key: String = serde_json::from_slice(token).ok()?;
            self.keys.iter().find(|(k, _)| *k == key)
        } else {
            let slot = Self::slot(inner);
            if self.filter[slot / 64] >> (slot % 64) & 1 == 0 {
                return Some(None);
            }
            self.keys.iter().find(|(k, _)| k.as_bytes() == inner)
        };
        Some(found.map(|(key, below)| (key.as_str(), below)))
    }
}

/// `text` if it is a literal or a string that `serde_json` would read and write back byte
/// for byte (no escapes, no control characters): most kept fields are, and they then skip
/// a deserializer each.
fn plain_scalar(text: &[u8]) -> Option<&[u8]> {
    match text {
        b"true" | b"false" | b"null" => Some(text),
        [b'"', inner @ .., b'"'] if plain_string(inner) => Some(text),
        _ => None,
    }
}

/// Whether `inner` has no control character and no backslash, looked at eight bytes at a
/// time: `v - 0x20.. & !v & 0x80..` marks a byte below 0x20 (a byte of 0x80 or more never
/// is), `v ^ 0x5c..` makes a backslash a zero byte; a borrow can mark a byte wrongly only
/// above a byte rightly marked, so any mark means one is there.
fn plain_string(inner: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS;
    let words = inner.chunks_exact(8);
    let rest = words.remainder();
    words
        .map(|word| u64::from_le_bytes(word.try_into().unwrap_or([0; 8])))
        .all(|v| below(v, 0x20) | below(v ^ (ONES * u64::from(b'\\')), 1) == 0)
        && rest.iter().all(|&byte| byte >= 0x20 && byte != b'\\')
}

/// The value of a [`plain_scalar`].
fn plain_value(text: &[u8]) -> Option<Value> {
    Some(match text {
        b"true" => Value::Bool(true),
        b"false" => Value::Bool(false),
        b"null" => Value::Null,
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
/// With `reuse`, records are written over this thread's spent device values
/// ([`super::spent`]) where those have the kept keys in the same order.
pub(super) fn fast_values(body: &[u8], each: &Projection, reuse: bool) -> Option<Vec<Value>> {
    if each.whole {
        return None;
    }
    let mut items = Vec::new();
    walk_array(body, each, |element, kept| {
        let item = if element.first() == Some(&b'{') {
            let spent = if reuse { super::spent::take() } else { None };
            match spent {
                Some(Value::Object(mut fields)) if same_keys(&fields, kept) => {
                    for (slot, field) in fields.values_mut().zip(kept) {
                        write_kept(slot, field)?;
                    }
                    Value::Object(fields)
                }
                _ => {
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
                }
            }
        } else {
            parse_slice(element, Project(each))?
        };
        items.push(item);
        Some(())
    })?;
    Some(items)
}

/// Whether `fields` has exactly the keys of `kept`, in the same order (then `kept` has no
/// repeated key, as a map's keys are distinct).
fn same_keys(fields: &Map<String, Value>, kept: &[Kept<'_, '_>]) -> bool {
    fields.len() == kept.len() && fields.keys().zip(kept).all(|(key, field)| key == field.key)
}

/// Writes a kept field's value over `slot`, keeping the buffer of a string written over a
/// string.
fn write_kept(slot: &mut Value, field: &Kept<'_, '_>) -> Option<()> {
    match (plain_scalar(field.value), slot) {
        (Some([b'"', inner @ .., b'"']), Value::String(old)) => {
            let inner = std::str::from_utf8(inner).ok()?;
            old.clear();
            old.push_str(inner);
        }
        (Some(text), slot) => *slot = plain_value(text)?,
        (None, slot) => *slot = parse_slice(field.value, Project(field.below))?,
    }
    Some(())
}

/// [`parse_array_text`] on the fast path; `None` to take the strict one.
pub(super) fn fast_texts<'b, const N: usize>(
    body: &'b [u8],
    each: &Projection,
    capture: [&str; N],
) -> Option<(Texts, Vec<Captured<'b, N>>)> {
    if each.whole {
        return None;
    }
    let mut records = Vec::new();
    let mut ends = Vec::new();
    let mut out = Vec::with_capacity(body.len() / 16);
    walk_array(body, each, |element, kept| {
        if N > 0 && element.first() != Some(&b'{') {
            // Not a record to capture keys of: the strict way says what is wrong.
            return None;
        }
        let mut captured: [Option<Cow<'b, str>>; N] = std::array::from_fn(|_| None);
        let mut seen = [false; N];
        if element.first() == Some(&b'{') {
            out.push(b'{');
            for (n, field) in kept.iter().enumerate() {
                if let Some(slot) = capture.iter().position(|key| *key == field.key) {
                    if std::mem::replace(&mut seen[slot], true) {
                        return None;
                    }
                    captured[slot] = match plain_scalar(field.value) {
                        Some([b'"', inner @ .., b'"']) => {
                            Some(Cow::Borrowed(std::str::from_utf8(inner).ok()?))
                        }
                        Some(_) => None,
                        None => match serde_json::from_slice(field.value).ok()? {
                            Value::String(text) => Some(Cow::Owned(text)),
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
        ends.push(out.len());
        records.push(captured);
        Some(())
    })?;
    // Plain scalars were copied as they came: this checks their encoding, once a page.
    Some((Texts::from_parts(out, ends)?, records))
}

/// A record's projected text (as [`fast_texts`] writes it: one object, compact) read back
/// into a value, its plain scalars without a deserializer and its map sized once. `None`
/// where the text is not one object as far as this walk checks: `serde_json` then reads it.
pub fn record_value(text: &str) -> Option<Value> {
    let mut fields = Map::with_capacity(8);
    each_member(text, |key, escaped, value| {
        let key = if escaped {
            serde_json::from_str(key).ok()?
        } else {
            key.get(1..key.len() - 1)?.to_owned()
        };
        // A repeated key: the last one wins, as in serde_json's own maps.
        fields.insert(key, member_value(value)?);
        Some(())
    })?;
    Some(Value::Object(fields))
}

/// [`record_value`] written over `spent`, an earlier record: where it has the same keys in
/// the same order (every record of one projection does), its keys, map and strings are
/// kept and only the values overwritten, so reading a record allocates next to nothing.
/// Any other shape is read afresh. Either way the result equals `record_value(text)`.
pub fn record_value_over(text: &str, spent: Value) -> Option<Value> {
    if let Value::Object(mut fields) = spent
        && overwrite(text, &mut fields)
    {
        return Some(Value::Object(fields));
    }
    record_value(text)
}

/// Overwrites the values of `fields` with those of `text` where both have the same keys in
/// the same order; `false` (and `fields` half written) otherwise.
fn overwrite(text: &str, fields: &mut Map<String, Value>) -> bool {
    let mut slots = fields.iter_mut();
    let walked = each_member(text, |key, escaped, value| {
        let (known, slot) = slots.next()?;
        if escaped || key.get(1..key.len() - 1)? != known {
            return None;
        }
        match (value.as_bytes(), slot) {
            // A plain string over a string: its buffer is kept.
            ([b'"', .., b'"'], Value::String(old)) if plain_scalar(value.as_bytes()).is_some() => {
                old.clear();
                old.push_str(value.get(1..value.len() - 1)?);
            }
            (_, slot) => *slot = member_value(value)?,
        }
        Some(())
    });
    walked.is_some() && slots.next().is_none()
}

/// Walks the members of `text`, one object as [`fast_texts`] writes it, handing each key's
/// JSON text (whether it has an escape) and value's JSON text to `on_member`. `None` where
/// `text` is not one object as far as this walk checks, or `on_member` refuses a member.
/// The text is already known to be UTF-8, so every piece is sliced from it as it is: each
/// starts and ends at an ASCII byte, always a character boundary.
fn each_member<'t>(
    text: &'t str,
    mut on_member: impl FnMut(&'t str, bool, &'t str) -> Option<()>,
) -> Option<()> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let end = object_members(bytes, 0, |key, escaped, value| {
        on_member(text.get(key)?, escaped, text.get(value)?)
    })?;
    (skip_whitespace(bytes, end) == bytes.len()).then_some(())
}

/// A member's value from its JSON text: plain scalars directly, the rest by `serde_json`.
fn member_value(value: &str) -> Option<Value> {
    Some(match plain_scalar(value.as_bytes()) {
        Some(b"true") => Value::Bool(true),
        Some(b"false") => Value::Bool(false),
        Some(b"null") => Value::Null,
        Some(_) => Value::String(value.get(1..value.len() - 1)?.to_owned()),
        None => serde_json::from_str(value).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_those_without_controls_or_backslashes_wherever_they_are() {
        let bytewise = |inner: &[u8]| inner.iter().all(|&byte| byte >= 0x20 && byte != b'\\');
        for length in [0, 1, 7, 8, 9, 16, 23] {
            for position in 0..length {
                for byte in 0..=255u8 {
                    for filler in [b'a', 0x7f, 0x80, 0xff, b' '] {
                        let mut inner = vec![filler; length];
                        inner[position] = byte;
                        assert_eq!(plain_string(&inner), bytewise(&inner), "{inner:?}");
                    }
                }
            }
        }
    }
}
