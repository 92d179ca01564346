//! Syntax error messages: what was expected, in words, with did-you-mean and the place an
//! unterminated string started.

use pest::error::ErrorVariant;

use super::{KEYWORDS, Rule};
use crate::lang::ast::*;
use crate::lang::diag::{Code, Diagnostic};

pub(super) fn syntax_error(
    file: u32,
    text: &str,
    position: usize,
    error: &pest::error::Error<Rule>,
) -> Diagnostic {
    let found = found_at(text, position);
    let mut expected: Vec<&'static str> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            if let Some(name) = rule_description(*rule) {
                push_unique(&mut expected, name);
            }
        }
    }
    if let Some(attempts) = error.parse_attempts() {
        for token in attempts.expected_tokens() {
            if let Some(name) = token_description(&token.to_string()) {
                push_unique(&mut expected, name);
            }
        }
    }
    // At the end of the file, a string that was never closed is the usual cause: point at it.
    if found.is_empty()
        && expected == ["`\"`"]
        && let Some(start) = unclosed_string_start(text)
    {
        return Diagnostic::error(
            Code::E0101,
            Span::new(file, start, start + 1),
            "this string is never closed",
        )
        .label("string starts here")
        .note("close it with a double quote: \"like this\"");
    }
    // A string that runs over a line end swallowed the text up to its next quote: the real
    // mistake is its missing closing quote, not what the parser met afterwards.
    if let Some(start) = string_over_line_end(text, position) {
        let (line, column) = line_column(text, position);
        return Diagnostic::error(
            Code::E0101,
            Span::new(file, start, start + 1),
            "this string is not closed on its line",
        )
        .label("string starts here")
        .note(format!(
            "it runs on to the next `\"`, and the rules stop making sense at line {line}, column {column}"
        ))
        .help("close it with a double quote on the same line; write `\\n` for a line break inside a string");
    }
    if let Some(diagnostic) = malformed_oid(file, text, position) {
        return diagnostic;
    }
    if expected.contains(&"`=`")
        && is_word(found)
        && let Some(diagnostic) = missing_equals(file, text, position, found)
    {
        return diagnostic;
    }
    let end = (position + found.len().max(1))
        .min(text.len())
        .max(position);
    let span = Span::new(file, position, end);
    let found_text = match found.chars().next() {
        None => "end of file".to_owned(),
        Some(c) if invisible(c).is_some() => {
            format!(
                "U+{:04X} ({})",
                u32::from(c),
                invisible(c).unwrap_or_default()
            )
        }
        Some(_) => format!("`{found}`"),
    };
    let message = if expected.is_empty() {
        format!("unexpected {found_text}")
    } else {
        format!("expected {}, found {found_text}", join_or(&expected))
    };
    let mut diagnostic = Diagnostic::error(Code::E0101, span, message).label("unexpected here");
    if let Some(help) = habit_from_elsewhere(text.get(position..).unwrap_or("")) {
        return diagnostic.help(help);
    }
    if is_word(found) {
        let keywords = expected
            .iter()
            .filter_map(|e| e.strip_prefix('`').and_then(|e| e.strip_suffix('`')))
            .filter(|e| KEYWORDS.contains(e));
        diagnostic = diagnostic.suggest(found, keywords);
    }
    diagnostic
}

/// What to write instead of a habit from other languages or a character editors insert.
fn habit_from_elsewhere(rest: &str) -> Option<String> {
    let help = if rest.starts_with("==") {
        return None;
    } else if rest.starts_with('=') {
        "to compare, write `==`; a single `=` only gives a field or an object its value"
    } else if rest.starts_with("&&") {
        "write `and`: `a == 1 and b == 2`"
    } else if rest.starts_with("||") {
        "write `or`: `a == 1 or b == 2`"
    } else if rest.starts_with("//") || rest.starts_with("/*") {
        "comments start with `#` and run to the end of the line"
    } else if rest.starts_with('!') && !rest.starts_with("!=") {
        "write `not`: `not exists(audit.detail.x)`"
    } else if rest.starts_with(['\u{201c}', '\u{201d}', '\u{201e}', '\u{ab}', '\u{bb}']) {
        "this is a typographic quote, as word processors type them: write a straight `\"`"
    } else if rest.starts_with(['\u{2018}', '\u{2019}', '\'']) {
        "strings are written in straight double quotes: `\"like this\"`"
    } else if rest.chars().next().and_then(invisible).is_some() {
        "replace it with a plain space: it looks like one, but the rules do not read it as one"
    } else {
        return None;
    };
    Some(help.to_owned())
}

/// Names of characters that look like a space, or like nothing, in an editor.
fn invisible(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{a0}' => "no-break space",
        '\u{2000}'..='\u{200a}' => "a typographic space",
        '\u{200b}' => "zero-width space",
        '\u{200c}' => "zero-width non-joiner",
        '\u{200d}' => "zero-width joiner",
        '\u{2028}' => "line separator",
        '\u{2029}' => "paragraph separator",
        '\u{202f}' => "narrow no-break space",
        '\u{205f}' => "medium mathematical space",
        '\u{2060}' => "word joiner",
        '\u{3000}' => "ideographic space",
        '\u{feff}' => "zero-width no-break space",
        _ => return None,
    })
}

/// An OID literal that is not one (`1.3..6`, `1.3.6.`): E0102 over the whole literal, as the
/// checker reports OIDs that parse but are out of range.
fn malformed_oid(file: u32, text: &str, position: usize) -> Option<Diagnostic> {
    let line_start = text[..position].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..position];
    let literal_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit() || *c == '.')
        .last()
        .map(|(i, _)| line_start + i)?;
    let keyword = text[line_start..literal_start].trim_end();
    if !(keyword.ends_with("oid") || keyword.ends_with("base")) {
        return None;
    }
    let literal_end = literal_start
        + text[literal_start..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len() - literal_start);
    let literal = &text[literal_start..literal_end];
    Some(
        Diagnostic::error(
            Code::E0102,
            Span::new(file, literal_start, literal_end.max(literal_start + 1)),
            format!("`{literal}` is not an OID"),
        )
        .label("malformed OID")
        .help("an OID is dotted decimals with no empty arc: `1.3.6.1.4.1.39059.1.0.1`"),
    )
}

/// `name value` where `name = value` was meant: the caret goes where the `=` is missing.
fn missing_equals(file: u32, text: &str, position: usize, name: &str) -> Option<Diagnostic> {
    let after_name = position + name.len();
    let rest = text.get(after_name..)?;
    let gap = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let next = after_name + gap;
    let next_char = text[next..].chars().next()?;
    if gap == 0 || next_char == '\n' || next_char == '=' || next_char == '{' || next_char == '#' {
        return None;
    }
    Some(
        Diagnostic::error(
            Code::E0101,
            Span::new(file, next, next + next_char.len_utf8()),
            format!("expected `=` after `{name}`"),
        )
        .label("`=` missing before this")
        .help(format!("write `{name} = …`")),
    )
}

/// The opening quote of the last string before `position` that holds a line break.
fn string_over_line_end(text: &str, position: usize) -> Option<usize> {
    let mut found = None;
    let mut open: Option<(usize, bool)> = None;
    let mut in_comment = false;
    let mut chars = text[..position.min(text.len())].char_indices();
    while let Some((i, c)) = chars.next() {
        match (open, c) {
            (None, '#') => in_comment = true,
            (None, '\n') => in_comment = false,
            (None, '"') if !in_comment => open = Some((i, false)),
            (Some(_), '\\') => {
                chars.next();
            }
            (Some((start, multiline)), '"') => {
                if multiline {
                    found = Some(start);
                }
                open = None;
            }
            (Some((start, _)), '\n') => open = Some((start, true)),
            _ => {}
        }
    }
    found
}

fn line_column(text: &str, position: usize) -> (usize, usize) {
    let before = &text[..position.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// The opening quote of a string that runs to the end of the text, if there is one.
pub(super) fn unclosed_string_start(text: &str) -> Option<usize> {
    let mut open: Option<usize> = None;
    let mut chars = text.char_indices();
    let mut in_comment = false;
    while let Some((i, c)) = chars.next() {
        match (open, c) {
            (None, '#') => in_comment = true,
            (None, '\n') => in_comment = false,
            (None, '"') if !in_comment => open = Some(i),
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(_), '"') => open = None,
            _ => {}
        }
    }
    open
}

pub(super) fn push_unique(list: &mut Vec<&'static str>, item: &'static str) {
    if !list.contains(&item) {
        list.push(item);
    }
}

pub(super) fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

pub(super) fn is_word(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
}

/// The token at `position`: a word, a number, or one character.
pub(super) fn found_at(text: &str, position: usize) -> &str {
    let rest = text.get(position..).unwrap_or("");
    let word_len = rest
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    if word_len > 0 {
        return &rest[..word_len];
    }
    match rest.chars().next() {
        Some(c) => &rest[..c.len_utf8()],
        None => "",
    }
}

/// How a grammar rule is named to operators; `None` hides rules that only add noise.
pub(super) fn rule_description(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::kw_agent => "`agent`",
        Rule::kw_trap => "`trap`",
        Rule::kw_objects => "`objects`",
        Rule::kw_for | Rule::for_loop => "`for`",
        Rule::kw_in => "`in`",
        Rule::kw_where | Rule::where_clause => "`where`",
        Rule::kw_when => "`when`",
        Rule::kw_module | Rule::module_def => "`module`",
        Rule::kw_use | Rule::use_stmt => "`use`",
        Rule::kw_oid | Rule::trap_oid => "`oid`",
        Rule::kw_base | Rule::trap_base => "`base`",
        Rule::ident | Rule::key => "a name",
        Rule::field => "a field (`name = value`)",
        Rule::object_def | Rule::object_index => "an object (`INDEX NAME = value`)",
        Rule::oid_literal => "an OID (like 1.3.6.1.4.1.39059.1.0.1)",
        Rule::expr
        | Rule::string
        | Rule::number
        | Rule::path
        | Rule::rel_path
        | Rule::call
        | Rule::list
        | Rule::kw_true
        | Rule::kw_false
        | Rule::kw_null
        | Rule::op_not => "a value",
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_lt
        | Rule::op_le
        | Rule::op_gt
        | Rule::op_ge
        | Rule::op_in
        | Rule::op_coalesce => "an operator",
        Rule::index => "an index",
        _ => return None,
    })
}

pub(super) fn token_description(token: &str) -> Option<&'static str> {
    Some(match token {
        "{" => "`{`",
        "}" => "`}`",
        "=" => "`=`",
        "(" => "`(`",
        ")" => "`)`",
        "[" => "`[`",
        "]" => "`]`",
        "," => "`,`",
        ":" => "`:`",
        "\"" => "`\"`",
        _ => return None,
    })
}
