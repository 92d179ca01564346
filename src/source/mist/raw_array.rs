//! Splitting a JSON array into the texts of its elements without building them.
//!
//! The org-wide device list must be held whole before it can be grouped by site; kept as
//! text it costs its size in bytes, while built as `serde_json::Value`s it costs several
//! times that. Each element is fully parsed later, once, when its site is built.

/// Why a text is not a JSON array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {offset}")]
pub struct SplitError {
    pub message: &'static str,
    pub offset: usize,
}

/// The texts of the elements of the JSON array in `text`, trimmed. The brackets, commas and
/// strings are checked here; the inside of each element is checked when it is parsed.
pub fn split_array(text: &str) -> Result<Vec<&str>, SplitError> {
    let bytes = text.as_bytes();
    let error = |message, offset| SplitError { message, offset };
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'[') {
        return Err(error("expected `[`", at));
    }
    at = skip_whitespace(bytes, at + 1);
    let mut elements = Vec::new();
    if bytes.get(at) == Some(&b']') {
        return finish(bytes, at + 1).map(|()| elements);
    }
    loop {
        let start = at;
        let (end, closing) = scan_element(bytes, start)?;
        let element = text[start..end].trim_end();
        if element.is_empty() {
            return Err(error("expected a value", start));
        }
        elements.push(element);
        at = end + 1;
        if closing {
            return finish(bytes, at).map(|()| elements);
        }
        at = skip_whitespace(bytes, at);
    }
}

/// From the start of an element to the `,` or `]` that ends it: that delimiter's offset,
/// and whether it closes the array.
fn scan_element(bytes: &[u8], start: usize) -> Result<(usize, bool), SplitError> {
    let mut depth: usize = 0;
    let mut in_string = false;
    let mut at = start;
    while let Some(&byte) = bytes.get(at) {
        if in_string {
            match byte {
                b'\\' => at += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => depth -= 1,
                b']' => return Ok((at, true)),
                b'}' => {
                    return Err(SplitError {
                        message: "unbalanced `}`",
                        offset: at,
                    });
                }
                b',' if depth == 0 => return Ok((at, false)),
                _ => {}
            }
        }
        at += 1;
    }
    Err(SplitError {
        message: "unexpected end of the array (truncated?)",
        offset: bytes.len(),
    })
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
        at += 1;
    }
    at
}

fn finish(bytes: &[u8], at: usize) -> Result<(), SplitError> {
    let end = skip_whitespace(bytes, at);
    if end == bytes.len() {
        Ok(())
    } else {
        Err(SplitError {
            message: "unexpected text after the array",
            offset: end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_top_level_elements_only() {
        let text = r#" [ {"a":[1,2],"s":"x,]}\"y"} , 3,"q" ,[{}] , null ] "#;
        assert_eq!(
            split_array(text).unwrap(),
            vec![
                r#"{"a":[1,2],"s":"x,]}\"y"}"#,
                "3",
                r#""q""#,
                "[{}]",
                "null"
            ]
        );
        assert_eq!(split_array("[]").unwrap(), Vec::<&str>::new());
        assert_eq!(split_array(" [ \n ] ").unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn agrees_with_serde_on_the_fixture() {
        let text = include_str!("../../../tests/fixtures/mist/org_stats_devices.json");
        let whole: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
        let parts: Vec<serde_json::Value> = split_array(text)
            .unwrap()
            .into_iter()
            .map(|part| serde_json::from_str(part).unwrap())
            .collect();
        assert_eq!(parts, whole);
    }

    #[test]
    fn refuses_what_is_not_an_array() {
        for bad in [
            "", "{}", "[1,", "[1", "[1,,2]", "[,]", "[1,]", "[1] x", r#"["abc"#, "[}]", "[1}",
        ] {
            assert!(split_array(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn truncated_fixture_is_refused() {
        let text = include_str!("../../../tests/fixtures/mist/org_stats_devices.json");
        for mut cut in [1, 100, text.len() / 2, text.len() - 2] {
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            assert!(split_array(&text[..cut]).is_err(), "cut at {cut}");
        }
    }
}
