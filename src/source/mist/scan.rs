//! Finding where a JSON value ends without parsing it.
//!
//! A Mist device record is kilobytes of JSON of which the rules read a few fields; most of
//! the record is nested blocks (radio, port, LLDP, BLE stats) that are only skipped. A
//! container is skipped 64 bytes at a time, the way simdjson finds structure: masks of the
//! quotes, backslashes and brackets in the block, the inside of strings from a running XOR
//! of the quotes, and the brackets outside strings counted until the depth returns to zero.
//! That is several times faster than a parser's byte-by-byte skip.
//!
//! What a skip checks: strings are closed, brackets balance, scalars are made of the right
//! characters. It does not check the grammar between them (a missing comma inside a
//! skipped block goes unseen), nor the encoding of skipped strings and keys (`serde_json`
//! does not decode the strings of a value it ignores either); what is kept is parsed
//! strictly by `serde_json`.

/// Bytes that end a scalar (number or literal) in JSON.
fn ends_scalar(byte: u8) -> bool {
    matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
}

/// The first byte at or after `at` that is not JSON whitespace (`bytes.len()` if none).
pub fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// Where the JSON value starting at `at` ends (one past its last byte), or `None` if it is
/// not a value or is not closed before the end of `bytes`.
pub fn value_end(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at)? {
        b'{' | b'[' => container_end(bytes, at),
        b'"' => string_end(bytes, at),
        b't' => literal_end(bytes, at, b"true"),
        b'f' => literal_end(bytes, at, b"false"),
        b'n' => literal_end(bytes, at, b"null"),
        b'-' | b'0'..=b'9' => number_end(bytes, at),
        _ => None,
    }
}

/// Where the string whose opening quote is at `at` ends (one past its closing quote).
pub fn string_end(bytes: &[u8], at: usize) -> Option<usize> {
    key_end(bytes, at).map(|(end, _)| end)
}

/// [`string_end`], and whether the string has an escape. Keys and most values are short:
/// they are searched sixteen bytes at a time, inline (a `memchr` call costs more than a
/// ten-byte key), the last few bytes of the body one at a time.
pub fn key_end(bytes: &[u8], at: usize) -> Option<(usize, bool)> {
    let mut at = at + 1;
    let mut escaped = false;
    loop {
        let found = match bytes.get(at..at + 16) {
            Some(window) => match first_quote_or_backslash_of_16(window.try_into().ok()?) {
                Some(offset) => at + offset,
                None => {
                    at += 16;
                    continue;
                }
            },
            None => {
                at + bytes
                    .get(at..)?
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\')?
            }
        };
        if bytes[found] == b'"' {
            return Some((found + 1, escaped));
        }
        escaped = true;
        at = found + 2;
    }
}

/// The index of the first `"` or `\` among sixteen bytes, with SSE2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn quote_or_backslash_sse2(window: &[u8; 16]) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: `window` is 16 readable bytes; `_mm_loadu_si128` reads exactly 16 bytes and
    // has no alignment requirement.
    let bytes = unsafe { _mm_loadu_si128(window.as_ptr().cast::<__m128i>()) };
    let found = _mm_or_si128(
        _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8)),
        _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\\' as i8)),
    );
    let marks = _mm_movemask_epi8(found) as u32;
    (marks != 0).then(|| marks.trailing_zeros() as usize)
}

#[cfg(target_arch = "x86_64")]
fn first_quote_or_backslash_of_16(window: &[u8; 16]) -> Option<usize> {
    // SAFETY: `quote_or_backslash_sse2` only needs SSE2, which is part of the x86_64
    // baseline: every processor this code can run on has it.
    unsafe { quote_or_backslash_sse2(window) }
}

#[cfg(not(target_arch = "x86_64"))]
fn first_quote_or_backslash_of_16(window: &[u8; 16]) -> Option<usize> {
    let (low, high) = window.split_at(8);
    let word = |half: &[u8]| u64::from_le_bytes(half.try_into().unwrap_or([0; 8]));
    first_quote_or_backslash(word(low))
        .or_else(|| first_quote_or_backslash(word(high)).map(|offset| offset + 8))
}

/// The index of the first `"` or `\` among the eight bytes of `word` (little-endian): other
/// architectures' search, and the tests' reference.
///
/// `v - 0x01.. & !v & 0x80..` marks the zero bytes of `v`, and a borrow can mark a byte
/// wrongly only above a true zero byte, so the lowest mark is always right.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn first_quote_or_backslash(word: u64) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let marks =
        zero_bytes(word ^ (ONES * u64::from(b'"'))) | zero_bytes(word ^ (ONES * u64::from(b'\\')));
    (marks != 0).then(|| marks.trailing_zeros() as usize / 8)
}

fn literal_end(bytes: &[u8], at: usize, literal: &[u8]) -> Option<usize> {
    let end = at + literal.len();
    let delimited = bytes.get(end).is_none_or(|&byte| ends_scalar(byte));
    (bytes.get(at..end)? == literal && delimited).then_some(end)
}

fn number_end(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = &bytes[at..];
    let length = rest
        .iter()
        .position(|byte| !matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .unwrap_or(rest.len());
    rest.get(length)
        .is_none_or(|&byte| ends_scalar(byte))
        .then_some(at + length)
}

/// Bit `i` set for each byte `i` of a 64-byte block that is a quote, a backslash, an
/// opening bracket (`{` or `[`) or a closing one.
#[derive(Default)]
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

/// The masks with SSE2, which every x86_64 processor has.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn masks(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // `{` and `[` differ only in bit 0x20, as do `}` and `]`: one comparison each once
    // that bit is set.
    let quote = _mm_set1_epi8(b'"' as i8);
    let backslash = _mm_set1_epi8(b'\\' as i8);
    let open = _mm_set1_epi8(b'{' as i8);
    let close = _mm_set1_epi8(b'}' as i8);
    let fold = _mm_set1_epi8(0x20);
    let mut masks = Masks::default();
    for (i, chunk) in block.chunks_exact(16).enumerate() {
        // SAFETY: `chunk` is 16 bytes of `block`, all readable; `_mm_loadu_si128` reads
        // exactly 16 bytes and has no alignment requirement.
        let bytes = unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) };
        let folded = _mm_or_si128(bytes, fold);
        // `movemask` gives one bit per byte in the low 16 bits of its result.
        let bits = |matched: __m128i| u64::from(_mm_movemask_epi8(matched) as u16) << (16 * i);
        masks.quote |= bits(_mm_cmpeq_epi8(bytes, quote));
        masks.backslash |= bits(_mm_cmpeq_epi8(bytes, backslash));
        masks.open |= bits(_mm_cmpeq_epi8(folded, open));
        masks.close |= bits(_mm_cmpeq_epi8(folded, close));
    }
    masks
}

#[cfg(target_arch = "x86_64")]
fn block_masks(block: &[u8; 64]) -> Masks {
    // SAFETY: `masks` only needs SSE2, which is part of the x86_64 baseline: every
    // processor this code can run on has it.
    unsafe { masks(block) }
}

#[cfg(not(target_arch = "x86_64"))]
fn block_masks(block: &[u8; 64]) -> Masks {
    scalar_masks(block)
}

/// The masks one byte at a time (other architectures, and the tests' reference).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn scalar_masks(block: &[u8; 64]) -> Masks {
    let mut masks = Masks::default();
    for (i, &byte) in block.iter().enumerate() {
        let bit = 1u64 << i;
        match byte {
            b'"' => masks.quote |= bit,
            b'\\' => masks.backslash |= bit,
            b'{' | b'[' => masks.open |= bit,
            b'}' | b']' => masks.close |= bit,
            _ => {}
        }
    }
    masks
}

/// Bit `i` is the XOR of bits `0..=i`: set from an opening quote up to (not including)
/// its closing quote.
fn prefix_xor(mut bits: u64) -> u64 {
    bits ^= bits << 1;
    bits ^= bits << 2;
    bits ^= bits << 4;
    bits ^= bits << 8;
    bits ^= bits << 16;
    bits ^= bits << 32;
    bits
}

/// The quotes of a block that are not escaped, byte by byte (blocks with a backslash are
/// rare). `escaped` carries a backslash at the end of one block to the next.
fn unescaped_quotes(block: &[u8; 64], escaped: &mut bool) -> u64 {
    let mut quotes = 0;
    for (i, &byte) in block.iter().enumerate() {
        if std::mem::take(escaped) {
            continue;
        }
        match byte {
            b'\\' => *escaped = true,
            b'"' => quotes |= 1u64 << i,
            _ => {}
        }
    }
    quotes
}

/// How many bits of `bits` are set, one loop turn a bit.
fn few_ones(mut bits: u64) -> u32 {
    let mut count = 0;
    while bits != 0 {
        bits &= bits - 1;
        count += 1;
    }
    count
}

/// Where the object or array whose opening bracket is at `at` ends.
pub fn container_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut depth: u32 = 0;
    // All ones when the previous block ended inside a string.
    let mut in_string = 0u64;
    let mut escaped = false;
    let mut padded = [b' '; 64];
    let mut block_start = at;
    while block_start < bytes.len() {
        let block: &[u8; 64] = match bytes.get(block_start..block_start + 64) {
            Some(full) => full.try_into().ok()?,
            None => {
                // The last, short block: padded with spaces, which are never structure.
                let rest = &bytes[block_start..];
                padded[..rest.len()].copy_from_slice(rest);
                padded[rest.len()..].fill(b' ');
                &padded
            }
        };
        let masks = block_masks(block);
        let quotes = if masks.backslash == 0 && !escaped {
            masks.quote
        } else {
            unescaped_quotes(block, &mut escaped)
        };
        let string = prefix_xor(quotes) ^ in_string;
        in_string = 0u64.wrapping_sub(string >> 63);
        let opens = masks.open & !string;
        let closes = masks.close & !string;
        if closes == 0 {
            // The depth cannot reach zero inside this block. Brackets are few in a block:
            // counting them one by one beats `count_ones`, which x86_64's baseline has no
            // instruction for.
            depth += few_ones(opens);
        } else {
            let mut brackets = opens | closes;
            while brackets != 0 {
                let bit = brackets.trailing_zeros();
                if opens >> bit & 1 == 1 {
                    depth += 1;
                } else {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(block_start + bit as usize + 1);
                    }
                }
                brackets &= brackets - 1;
            }
        }
        block_start += 64;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// Where serde_json says the first value of `text` ends.
    fn reference_end(text: &str) -> Option<usize> {
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        values.next()?.ok()?;
        Some(values.byte_offset())
    }

    #[test]
    fn ends_of_values_of_every_kind() {
        for text in [
            r#"{"a":[1,2,{"b":"}"}],"c":"\"]"}"#,
            r#"["\\",{"x":"\\\""},[],{}]"#,
            r#""plain""#,
            r#""esc\"aped \\ \u0041""#,
            "true",
            "false",
            "null",
            "-12.5e+3",
            "0",
        ] {
            let padded = format!("{text} ,");
            assert_eq!(value_end(padded.as_bytes(), 0), Some(text.len()), "{text}");
            assert_eq!(reference_end(text), Some(text.len()));
        }
    }

    #[test]
    fn keys_say_whether_they_have_an_escape() {
        let long = "x".repeat(40);
        for (text, escaped) in [
            (r#""status""#.to_owned(), false),
            (r#""st\u0061tus""#.to_owned(), true),
            (r#""\\""#.to_owned(), true),
            (format!(r#""{long}""#), false),
            (format!(r#""{long}\"{long}""#), true),
            (format!(r#""{long}\\""#), true),
        ] {
            let framed = format!("{text}:1");
            assert_eq!(
                key_end(framed.as_bytes(), 0),
                Some((text.len(), escaped)),
                "{text}"
            );
        }
        assert_eq!(key_end(br#""open\""#, 0), None);
        assert_eq!(key_end(br#""open\"#, 0), None);
    }

    #[test]
    fn the_first_quote_or_backslash_of_sixteen_bytes_is_found_whatever_surrounds_it() {
        for position in 0..16 {
            for byte in 0..=255u8 {
                for filler in [b'a', b'"', b'\\', 0x80, 0xff, 0] {
                    let mut window = [filler; 16];
                    window[position] = byte;
                    let expected = window.iter().position(|&b| b == b'"' || b == b'\\');
                    assert_eq!(
                        first_quote_or_backslash_of_16(&window),
                        expected,
                        "{window:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_first_quote_or_backslash_of_a_word_is_found_whatever_surrounds_it() {
        let bytes: Vec<u8> = (0..=255).collect();
        for filler in bytes.iter().copied().filter(|&b| b != b'"' && b != b'\\') {
            assert_eq!(
                first_quote_or_backslash(u64::from_le_bytes([filler; 8])),
                None
            );
            for position in 0..8 {
                for target in [b'"', b'\\'] {
                    for after in [filler, b'"', b'\\', 0x00, 0x01, 0x80, 0xff] {
                        let mut word = [filler; 8];
                        word[position] = target;
                        for byte in &mut word[position + 1..] {
                            *byte = after;
                        }
                        let found = first_quote_or_backslash(u64::from_le_bytes(word));
                        assert_eq!(found, Some(position), "{word:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn unclosed_or_unbalanced_values_have_no_end() {
        for text in [
            r#"{"a":[1,2}"#,
            r#"{"a":"}"#,
            r#"["\"]"#,
            r#""open"#,
            "tru",
            "nul,",
            "trueish",
            "1x",
            "",
            "}",
            "[[[[",
        ] {
            assert_eq!(value_end(text.as_bytes(), 0), None, "{text}");
        }
    }

    #[test]
    fn blocks_split_strings_escapes_and_brackets_anywhere() {
        // The same value shifted by every offset puts each quote, backslash and bracket at
        // every position of a 64-byte block, and across block boundaries.
        let value = r#"{"k\\":"a\"b\\\\","l":[{"m":"]]}}\\"},[1,{"n":"\"{"}]],"o":"x\\"}"#;
        assert_eq!(reference_end(value), Some(value.len()));
        for shift in 0..130 {
            let text = format!("{}{value}   ", " ".repeat(shift));
            assert_eq!(value_end(text.as_bytes(), shift), Some(shift + value.len()));
        }
    }

    #[test]
    fn the_sse2_masks_are_the_scalar_ones() {
        let mut block = [0u8; 64];
        for (i, byte) in block.iter_mut().enumerate() {
            *byte = b"{\"}[\\]a{ \"z]}"[i % 13];
        }
        let (fast, slow) = (block_masks(&block), scalar_masks(&block));
        assert_eq!(
            (fast.quote, fast.backslash, fast.open, fast.close),
            (slow.quote, slow.backslash, slow.open, slow.close)
        );
        let every_byte: Vec<u8> = (0..=255).collect();
        for chunk in every_byte.chunks_exact(64) {
            let block: &[u8; 64] = chunk.try_into().unwrap();
            let (fast, slow) = (block_masks(block), scalar_masks(block));
            assert_eq!(
                (fast.quote, fast.backslash, fast.open, fast.close),
                (slow.quote, slow.backslash, slow.open, slow.close)
            );
        }
    }

    /// Any JSON value, with strings full of quotes, backslashes and brackets.
    fn json_value() -> impl Strategy<Value = Value> {
        let text =
            || proptest::string::string_regex(r#"[a-z"\\\[\]{}:, \u{e9}\u{1F600}]{0,12}"#).unwrap();
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 200, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec((text(), inner), 0..8)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_end_is_where_serde_json_ends_the_value(value in json_value(), pretty: bool, shift in 0usize..70) {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            let framed = format!("{}{text}\n,", " ".repeat(shift));
            prop_assert_eq!(value_end(framed.as_bytes(), shift), Some(shift + text.len()));
            // Cut anywhere inside a container, it has no end.
            if text.starts_with(['{', '[']) && text.len() > 1 {
                let cut = &text.as_bytes()[..text.len() - 1];
                prop_assert_eq!(value_end(cut, 0), None);
            }
        }
    }
}
