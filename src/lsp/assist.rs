//! Completion, hover and go-to-definition, read from the text around the cursor rather than
//! from a parse: the line being typed is seldom valid rules yet.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lsp_types::{CompletionItem, CompletionItemKind};

use crate::lang::program::Builtin;
use crate::record::SnmpType;
use crate::record::pandora::MODULE_TYPES;

/// The fields of a normalised audit.
const AUDIT_FIELDS: [&str; 4] = ["source", "severity", "detail", "timestamp"];
/// The roots a value may start with.
const ROOTS: [&str; 4] = ["audit", "mist", "env", "param"];

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Keys seen in the sample documents beside the rules (golden cases): what `audit.detail`,
/// a Mist site and a Mist device may hold.
#[derive(Debug, Default)]
pub struct Samples {
    pub detail: BTreeSet<String>,
    pub site: BTreeSet<String>,
    pub device: BTreeSet<String>,
}

/// Completions at `offset`.
pub fn complete(text: &str, offset: usize, samples: &Samples) -> Vec<CompletionItem> {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..offset];
    let before_word = line.trim_end_matches(is_word);
    if let Some(path) = before_word.strip_suffix('.') {
        let path = path_before(path);
        return match path {
            "audit" => items(AUDIT_FIELDS, CompletionItemKind::FIELD, None),
            "audit.detail" => items(
                samples.detail.iter().map(String::as_str),
                CompletionItemKind::FIELD,
                None,
            ),
            "mist" => items(["sites"], CompletionItemKind::FIELD, None),
            // A loop variable: the fields of what it iterates over, by the list's name.
            variable => match iterated(text, variable) {
                Some(list) if list.ends_with("sites") => items(
                    samples.site.iter().map(String::as_str),
                    CompletionItemKind::FIELD,
                    None,
                ),
                Some(list) if list.ends_with("devices") => items(
                    samples.device.iter().map(String::as_str),
                    CompletionItemKind::FIELD,
                    None,
                ),
                _ => Vec::new(),
            },
        };
    }
    let head = before_word.trim_end();
    if head.ends_with(':') && is_object_head(head.trim_end_matches(':')) {
        return SnmpType::ALL
            .iter()
            .map(|(kind, name)| {
                item(
                    name,
                    CompletionItemKind::TYPE_PARAMETER,
                    Some(kind.accepts()),
                )
            })
            .collect();
    }
    if let Some(field) = head.strip_suffix('=')
        && field.trim() == "type"
    {
        return items(MODULE_TYPES, CompletionItemKind::ENUM_MEMBER, None);
    }
    if at_value(head) {
        let mut out = items(ROOTS, CompletionItemKind::MODULE, None);
        out.extend(
            loop_variables(text)
                .iter()
                .map(|name| item(name, CompletionItemKind::VARIABLE, None)),
        );
        out.extend(Builtin::ALL.iter().map(|(builtin, name, _, _)| {
            item(
                name,
                CompletionItemKind::FUNCTION,
                Some(builtin.signature()),
            )
        }));
        return out;
    }
    Vec::new()
}

/// The dotted path that ends a piece of line (`x = audit.detail` → `audit.detail`).
fn path_before(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .find(|&(_, c)| !(is_word(c) || c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &text[start..]
}

/// `  2 name` or `  2 name oid 1.3.6` : the start of an object definition.
fn is_object_head(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let index = words
        .next()
        .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()));
    let name = words.next().is_some_and(|w| w.chars().all(is_word));
    index && name
}

/// Whether what precedes the cursor leaves room for a value.
fn at_value(head: &str) -> bool {
    const OPENERS: [&str; 17] = [
        "=", "(", ",", "[", "==", "!=", "<", ">", "<=", ">=", "&&", "||", "??", "!", "${", "+", "-",
    ];
    const WORDS: [&str; 4] = ["when", "in", "where", "not"];
    OPENERS.iter().any(|op| head.ends_with(op))
        || WORDS.iter().any(|word| {
            head.strip_suffix(word)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with(char::is_whitespace))
        })
}

/// The list a loop variable runs over: `for device in site.devices` → `site.devices`.
fn iterated<'a>(text: &'a str, variable: &str) -> Option<&'a str> {
    let mut words = text.split_whitespace();
    while let Some(word) = words.next() {
        if word == "for" && words.next() == Some(variable) && words.next() == Some("in") {
            return words.next();
        }
    }
    None
}

/// Names bound by `for NAME in` anywhere in the text.
fn loop_variables(text: &str) -> BTreeSet<&str> {
    let words: Vec<&str> = text
        .split(|c: char| !is_word(c))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(3)
        .filter(|w| w[0] == "for" && w[2] == "in")
        .map(|w| w[1])
        .collect()
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<&str>) -> CompletionItem {
    CompletionItem {
        label: label.to_owned(),
        kind: Some(kind),
        detail: detail.map(str::to_owned),
        ..CompletionItem::default()
    }
}

fn items<'a>(
    labels: impl IntoIterator<Item = &'a str>,
    kind: CompletionItemKind,
    detail: Option<&str>,
) -> Vec<CompletionItem> {
    labels.into_iter().map(|l| item(l, kind, detail)).collect()
}

/// The word under the cursor and its byte range.
fn word_at(text: &str, offset: usize) -> Option<(&str, usize, usize)> {
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word(c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|&(_, c)| !is_word(c))
        .map_or(text.len(), |(i, _)| offset + i);
    (start < end).then(|| (&text[start..end], start, end))
}

/// Markdown for the function or SNMP type under the cursor.
pub fn hover(text: &str, offset: usize) -> Option<String> {
    let (word, start, end) = word_at(text, offset)?;
    let after = text[end..].trim_start();
    let before = text[..start].trim_end();
    if after.starts_with('(')
        && let Some((builtin, _, _)) = Builtin::lookup(word)
    {
        return Some(format!(
            "```text\n{}\n```\n{}",
            builtin.signature(),
            function_doc(builtin)
        ));
    }
    if before.ends_with(':')
        && let Some((kind, name)) = SnmpType::ALL.iter().find(|(_, name)| *name == word)
    {
        return Some(format!("SNMP type `{name}`: takes {}", kind.accepts()));
    }
    None
}

fn function_doc(builtin: Builtin) -> &'static str {
    match builtin {
        Builtin::Count => "The number of items of a list, or of those the predicate holds for.",
        Builtin::Join => "The items of a list as text, with the separator between them.",
        Builtin::Lower => "The text in lower case.",
        Builtin::Upper => "The text in upper case.",
        Builtin::Trim => "The text without leading and trailing white space.",
        Builtin::Default => "The value, or the fallback where the value is absent or null.",
        Builtin::Coalesce => "The first of the values that is present and not null.",
        Builtin::Exists => "Whether the path is present in the document.",
        Builtin::JsonPath => "The values a JSONPath query selects, from the document or a value.",
    }
}

/// The name after `use` under the cursor, if any.
pub fn used_name(text: &str, offset: usize) -> Option<&str> {
    let (word, start, _) = word_at(text, offset)?;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let head = text[line_start..start].trim();
    (head == "use" || head.ends_with(" use") || head.ends_with("{use")).then_some(word)
}

/// Where `objects NAME` is defined among the files: the file and the byte range of the name.
pub fn find_objects<'a>(
    files: &'a [(PathBuf, String)],
    name: &str,
) -> Option<(&'a Path, &'a str, usize, usize)> {
    for (path, text) in files {
        let mut line_start = 0;
        for line in text.split_inclusive('\n') {
            let indent = line.len() - line.trim_start().len();
            if let Some(rest) = line.trim_start().strip_prefix("objects")
                && rest.starts_with(char::is_whitespace)
            {
                let gap = rest.len() - rest.trim_start().len();
                let found = rest.trim_start();
                if found.starts_with(name) && !found[name.len()..].starts_with(is_word) {
                    let start = line_start + indent + "objects".len() + gap;
                    return Some((path, text, start, start + name.len()));
                }
            }
            line_start += line.len();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str, keys: &[&str]) -> Vec<String> {
        let samples = Samples {
            detail: keys.iter().map(|k| k.to_string()).collect(),
            site: ["name", "country_code"].map(String::from).into(),
            device: ["mac", "status"].map(String::from).into(),
        };
        complete(text, text.len(), &samples)
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    #[test]
    fn completes_on_incomplete_lines() {
        assert_eq!(
            labels("objects c {\n    2 x = audit.", &[]),
            ["source", "severity", "detail", "timestamp"]
        );
        assert_eq!(
            labels("    2 x = audit.detail.na", &["nameLink"]),
            ["nameLink"]
        );
        assert!(labels("    2 x : ", &[]).contains(&"counter32".to_owned()));
        assert!(labels("        type = ", &[]).contains(&"generic_proc".to_owned()));
        let values = labels("for site in mist.sites {\n  name = ", &[]);
        for expected in ["audit", "env", "param", "site", "count"] {
            assert!(values.contains(&expected.to_owned()), "{values:?}");
        }
        assert!(labels("    use ", &[]).is_empty());
        let mist = "agent site for site in mist.sites {\n    for device in site.devices {\n";
        assert_eq!(
            labels(&format!("{mist}  name = site."), &[]),
            ["country_code", "name"]
        );
        assert_eq!(
            labels(&format!("{mist}  data = device.st"), &[]),
            ["mac", "status"]
        );
        assert_eq!(labels("x = mist.", &[]), ["sites"]);
    }

    #[test]
    fn hovers_functions_and_types() {
        let text = "data = count(site.devices)\n2 x : gauge32 = 1";
        let at = text.find("count").unwrap() + 2;
        assert!(hover(text, at).unwrap().contains("count(list"));
        let at = text.find("gauge32").unwrap();
        assert!(hover(text, at).unwrap().contains("gauge32"));
        assert_eq!(hover(text, 0), None);
    }

    #[test]
    fn finds_the_objects_block_of_a_use() {
        let files = vec![
            (
                PathBuf::from("a"),
                "trap t {\n    use common\n}\n".to_owned(),
            ),
            (
                PathBuf::from("b"),
                "# x\nobjects commons {}\nobjects common {\n}\n".to_owned(),
            ),
        ];
        let at = files[0].1.find("common").unwrap() + 1;
        assert_eq!(used_name(&files[0].1, at), Some("common"));
        let (path, text, start, end) = find_objects(&files, "common").unwrap();
        assert_eq!(path, Path::new("b"));
        assert_eq!(&text[start..end], "common");
        assert!(text[..start].ends_with("}\nobjects "));
    }
}
