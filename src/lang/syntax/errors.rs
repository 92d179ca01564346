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
    let end = (position + found.len().max(1))
        .min(text.len())
        .max(position);
    let span = Span::new(file, position, end);
    let found_text = if found.is_empty() {
        "end of file".to_owned()
    } else {
        format!("`{found}`")
    };
    let message = if expected.is_empty() {
        format!("unexpected {found_text}")
    } else {
        format!("expected {}, found {found_text}", join_or(&expected))
    };
    let mut diagnostic = Diagnostic::error(Code::E0101, span, message).label("unexpected here");
    if is_word(found) {
        let keywords = expected
            .iter()
            .filter_map(|e| e.strip_prefix('`').and_then(|e| e.strip_suffix('`')))
            .filter(|e| KEYWORDS.contains(e));
        diagnostic = diagnostic.suggest(found, keywords);
    }
    diagnostic
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
