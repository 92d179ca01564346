//! Character hygiene: what each kind of value becomes before it goes into the XML.
//!
//! Pandora parses data files with Perl `XML::Simple` over a conforming XML 1.0 parser
//! (libxml2 or Expat). One character XML 1.0 forbids makes the whole file unparseable, and
//! after one retry the data server quarantines it as `*_BADXML`, losing every module of the
//! agent. So values are cleaned rather than refused: a stray control character in a device
//! name must not cost the whole site its data.
//!
//! | value | treatment |
//! |---|---|
//! | every value and name | characters XML 1.0 forbids are removed |
//! | module names | CR, LF and CRLF become one space (Pandora strips them from names anyway) |
//! | element text (CDATA) | CRLF and lone CR become LF, as every XML parser reads them |
//! | attribute values | the five entities escaped; TAB, LF, CR as character references |

use std::borrow::Cow;

/// Whether XML 1.0 allows `c` anywhere in a document (production `Char`).
///
/// Rust strings cannot hold lone surrogates, so what remains to exclude is the C0 controls
/// other than TAB, LF and CR, and the two non-characters U+FFFE and U+FFFF.
pub(super) fn is_xml_char(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

/// Whether `text` has no byte below a space and no `0xEF` (which starts U+FFFE and U+FFFF
/// in UTF-8): then no character has to go and no line break is there. Most values are such
/// text, and sixteen bytes at a time are checked without branching on each.
fn plain(text: &str) -> bool {
    !text.as_bytes().chunks(16).any(|chunk| {
        chunk
            .iter()
            .fold(false, |found, &byte| found | (byte < 0x20) | (byte == 0xef))
    })
}

/// `text` without the characters XML 1.0 forbids; borrowed when nothing had to go.
pub(super) fn strip_forbidden(text: &str) -> Cow<'_, str> {
    if plain(text) || text.chars().all(is_xml_char) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&c| is_xml_char(c)).collect())
    }
}

/// A module name: forbidden characters removed and each line break (CRLF, CR or LF) made
/// one space. Pandora strips CR and LF from `<name>`; a space keeps the words apart.
pub(super) fn module_name(name: &str) -> Cow<'_, str> {
    if plain(name) {
        return Cow::Borrowed(name);
    }
    let stripped = strip_forbidden(name);
    if !stripped.contains(['\r', '\n']) {
        return stripped;
    }
    Cow::Owned(map_line_breaks(&stripped, " "))
}

/// Element text: forbidden characters removed and line breaks normalised to LF.
///
/// CDATA cannot protect a CR from the parser's end-of-line handling, so the file says
/// what the parser would read anyway, and what is written is exactly what Pandora gets.
pub(super) fn element_text(text: &str) -> Cow<'_, str> {
    if plain(text) {
        return Cow::Borrowed(text);
    }
    let stripped = strip_forbidden(text);
    if !stripped.contains('\r') {
        return stripped;
    }
    Cow::Owned(map_line_breaks(&stripped, "\n"))
}

fn map_line_breaks(text: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str(replacement);
            }
            '\n' => out.push_str(replacement),
            other => out.push(other),
        }
    }
    out
}

/// An attribute value ready to sit between double quotes, forbidden characters removed.
///
/// All five entities are escaped so the value is safe whatever quote a reader expects.
/// TAB, LF and CR are written as character references because attribute-value
/// normalisation would otherwise turn each of them into a space.
pub(super) fn attribute_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars().filter(|&c| is_xml_char(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            other => out.push(other),
        }
    }
    out
}

/// Whether `name` can be an attribute of `<agent_data>` or a child element of `<module>`.
///
/// This is the ASCII part of the XML 1.0 `Name` production, without `:` (a prefix would
/// need a namespace declaration) and without the reserved `xml` prefix. Non-ASCII names
/// are refused because libxml2 (XML 1.0 fifth edition) and Expat (fourth edition) do not
/// agree on them, and Pandora knows none.
pub(super) fn is_plain_xml_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name
            .get(..3)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("xml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_are_removed_and_allowed_ones_kept() {
        assert_eq!(strip_forbidden("a\u{1}b\u{1f}c\u{fffe}d\u{ffff}e"), "abcde");
        assert_eq!(
            strip_forbidden("t\tl\nr\r\u{7f}é\u{fffd}"),
            "t\tl\nr\r\u{7f}é\u{fffd}"
        );
        assert!(matches!(strip_forbidden("clean"), Cow::Borrowed(_)));
        assert_eq!(strip_forbidden("\u{0}"), "");
    }

    #[test]
    fn plain_text_is_text_with_nothing_to_strip_or_break() {
        let long = "x".repeat(40);
        assert!(plain("") && plain("café ☃ 日本") && plain(&long));
        for odd in [
            "\t", "\n", "\r", "\u{0}", "\u{1f}", "\u{fffe}", "\u{ffff}", "\u{f000}",
        ] {
            for at in [0, 15, 16, 39] {
                let mut text = long.clone();
                text.insert_str(at, odd);
                assert!(!plain(&text), "{text:?}");
            }
        }
        // Whatever `plain` passes, the careful ways leave as it is; what it does not pass
        // may still be allowed, and is then kept by them.
        for text in ["a\u{7f}b", "\u{effe}", "\u{10ffff}", "Ω"] {
            assert!(plain(text));
            assert!(text.chars().all(is_xml_char));
        }
        for text in ["\u{fffd}", "\u{f000}", "a\tb"] {
            assert!(!plain(text));
            assert!(matches!(strip_forbidden(text), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn module_names_lose_line_breaks() {
        assert_eq!(module_name("a\r\nb\nc\rd"), "a b c d");
        assert_eq!(module_name("a\r\n\r\nb"), "a  b");
        assert_eq!(module_name("x\u{1}\ty"), "x\ty");
    }

    #[test]
    fn element_text_normalises_line_ends() {
        assert_eq!(element_text("a\r\nb\rc\nd"), "a\nb\nc\nd");
        assert_eq!(element_text("]]>\u{2}"), "]]>");
    }

    #[test]
    fn attribute_values_escape_entities_and_whitespace_controls() {
        assert_eq!(
            attribute_value("O'Brien \"&\" <x>\t\n\r\u{1}"),
            "O&apos;Brien &quot;&amp;&quot; &lt;x&gt;&#9;&#10;&#13;"
        );
    }

    #[test]
    fn plain_xml_names() {
        for good in ["group", "agent_alias", "_x", "a-b.c1", "os_name", "X"] {
            assert!(is_plain_xml_name(good), "{good}");
        }
        for bad in [
            "", "1a", "-a", ".a", "a b", "a:b", "a<b", "café", "xmlns", "XML_x", "a\"",
        ] {
            assert!(!is_plain_xml_name(bad), "{bad}");
        }
    }
}
