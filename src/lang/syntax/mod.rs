//! Parsing: rules text → [`ast`](super::ast) items, with syntax diagnostics.
//!
//! The pest grammar lives in `grammar/rules.pest`. This folder is the only place that sees
//! pest types: everything after it works on the AST.

mod errors;
mod format;
mod lowering;

use std::sync::LazyLock;

use pest::Parser;
use pest::error::InputLocation;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use super::diag::{Code, Diagnostic, Severity};
use super::limits;
use errors::syntax_error;
use lowering::Lowering;

#[derive(pest_derive::Parser)]
#[grammar = "grammar/rules.pest"]
struct RulesParser;

/// Operators by precedence, lowest first; `not` sits between `and` and comparisons so that
/// `not a == b` means `not (a == b)`.
static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left)
            | Op::infix(Rule::op_in, Assoc::Left))
        .op(Op::infix(Rule::op_coalesce, Assoc::Right))
});

fn is_operator(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::op_not
            | Rule::op_or
            | Rule::op_and
            | Rule::op_eq
            | Rule::op_ne
            | Rule::op_le
            | Rule::op_ge
            | Rule::op_lt
            | Rule::op_gt
            | Rule::op_in
            | Rule::op_coalesce
    )
}

/// Keywords that may start a top-level item; a syntax error resumes at the next line that
/// starts with one of them, so one mistake does not hide the errors after it.
const ITEM_KEYWORDS: [&str; 3] = ["agent", "trap", "objects"];

/// Every keyword, for "did you mean".
const KEYWORDS: [&str; 13] = [
    "agent", "trap", "objects", "for", "in", "where", "when", "module", "use", "oid", "base",
    "true", "false",
];

/// Parses one file. Returns every item that parsed and a diagnostic for every item that did not.
/// Whatever the text, the items returned are shallow enough for the checker and the
/// interpreter (see [`limits`]).
pub fn parse_file(file: u32, text: &str) -> (Vec<Item>, Vec<Diagnostic>) {
    let shape = limits::shape(text);
    if let Some(offset) = shape.too_deep_at {
        return (Vec::new(), vec![limits::nesting_diagnostic(file, offset)]);
    }
    if shape.needs_large_stack() {
        limits::with_large_stack(|| parse_checked_file(file, text))
    } else {
        parse_checked_file(file, text)
    }
}

/// The text in the canonical layout of `monbridge fmt` (see [`format`]), or the diagnostics
/// of a file that does not parse. Formatting never changes what the file means.
pub fn format_file(file: u32, text: &str) -> Result<String, Vec<Diagnostic>> {
    let (_, diagnostics) = parse_file(file, text);
    let errors: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let formatted = if limits::shape(text).needs_large_stack() {
        limits::with_large_stack(|| format::format(text))
    } else {
        format::format(text)
    };
    formatted.ok_or_else(|| {
        // The text parsed above, so this is a formatter bug: refuse rather than guess.
        vec![Diagnostic::error(
            Code::E0101,
            Span::new(file, 0, 0),
            "the formatter could not lay this file out; it is left as it is",
        )]
    })
}

fn parse_checked_file(file: u32, text: &str) -> (Vec<Item>, Vec<Diagnostic>) {
    let mut items = Vec::new();
    let mut diagnostics = Vec::new();
    // Editors on Windows may start a UTF-8 file with a byte-order mark: not part of the rules.
    let start = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    match RulesParser::parse(Rule::file, &text[start..]) {
        Ok(mut pairs) => {
            let lowering = Lowering { file, base: start };
            if let Some(file_pair) = pairs.next() {
                for pair in file_pair.into_inner() {
                    if pair.as_rule() != Rule::EOI {
                        lowering.item(pair, &mut items, &mut diagnostics);
                    }
                }
            }
        }
        Err(_) => recover(file, text, start, &mut items, &mut diagnostics),
    }
    (items, diagnostics)
}

/// Parses item by item so that every broken item gets its own diagnostic.
fn recover(
    file: u32,
    text: &str,
    start: usize,
    items: &mut Vec<Item>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    // Records the tokens each failed attempt expected, for better messages. It costs only on
    // this path, after a first parse has already failed.
    pest::set_error_detail(true);
    let mut offset = skip_trivia(text, start);
    while offset < text.len() {
        let rest = &text[offset..];
        let parsed = RulesParser::parse(Rule::item, rest);
        match parsed {
            Ok(mut pairs) => {
                let Some(pair) = pairs.next() else { break };
                let end = pair.as_span().end();
                Lowering { file, base: offset }.item(pair, items, diagnostics);
                offset = skip_trivia(text, offset + end);
            }
            Err(error) => {
                let position = offset
                    + match error.location {
                        InputLocation::Pos(p) => p,
                        InputLocation::Span((p, _)) => p,
                    };
                diagnostics.push(syntax_error(file, text, position, &error));
                match next_item_start(text, position.max(offset + 1)) {
                    Some(next) => offset = next,
                    None => break,
                }
            }
        }
    }
}

/// Skips white space and comments.
fn skip_trivia(text: &str, mut offset: usize) -> usize {
    let bytes = text.as_bytes();
    while offset < bytes.len() {
        match bytes[offset] {
            b' ' | b'\t' | b'\r' | b'\n' => offset += 1,
            b'#' => {
                while offset < bytes.len() && bytes[offset] != b'\n' {
                    offset += 1;
                }
            }
            _ => break,
        }
    }
    offset
}

/// The start of the first line after `from` that begins with an item keyword.
fn next_item_start(text: &str, from: usize) -> Option<usize> {
    let mut from = from.min(text.len());
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let mut line_start = text[from..].find('\n')? + from + 1;
    loop {
        let line = &text[line_start..];
        let starts_item = ITEM_KEYWORDS.iter().any(|kw| {
            line.strip_prefix(kw)
                .is_some_and(|after| after.starts_with([' ', '\t']))
        });
        if starts_item {
            return Some(line_start);
        }
        line_start += line.find('\n')? + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Vec<Item> {
        let (items, diagnostics) = parse_file(0, text);
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        items
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_rules() {
        let text = "\u{feff}trap t when true {\n    oid 1.3.6.1.4.1.1.0.1\n}\n";
        let items = parse_ok(text);
        assert_eq!(items.len(), 1);
        // Positions still count from the start of the file, as editors show them.
        let (_, diagnostics) = parse_file(0, "\u{feff}trap t when {\n}\n");
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].span.start > 3, "{diagnostics:?}");
    }

    #[test]
    fn parses_a_trap_binding() {
        let items = parse_ok(
            r#"
            objects common { 1 nameGateway = env.hostname }
            trap stateLink when audit.source == "STLNK" {
                oid 1.3.6.1.4.1.39059.1.0.1
                base 1.3.6.1.4.1.39059.1.1.1.1
                use common
                2 nameService : string = audit.detail.nameService ?? "none"
                5 valueVariable oid 1.3.6.1.4.1.39059.1.1.1.1.5 = "${audit.detail.a}-${audit.detail.b}"
            }"#,
        );
        assert_eq!(items.len(), 2);
        let Item::Trap(trap) = &items[1] else {
            panic!()
        };
        assert_eq!(trap.body.len(), 5);
    }

    #[test]
    fn precedence_puts_coalesce_above_comparison_and_not_below() {
        let items = parse_ok(r#"trap t when not a.b ?? "x" == "y" and c.d { oid 1.3.6 }"#);
        let Item::Trap(trap) = &items[0] else {
            panic!()
        };
        let ExprKind::Binary(BinOp::And, lhs, _) = &trap.condition.kind else {
            panic!("{:?}", trap.condition)
        };
        let ExprKind::Not(inner) = &lhs.kind else {
            panic!()
        };
        let ExprKind::Binary(BinOp::Eq, eq_lhs, _) = &inner.kind else {
            panic!()
        };
        assert!(matches!(
            eq_lhs.kind,
            ExprKind::Binary(BinOp::Coalesce, _, _)
        ));
    }

    #[test]
    fn reports_every_broken_item() {
        let text = "trap a when x.y { oid 1.3 \n}\ntrap b when { }\nagent c for s in mist.sites { name = }\ntrap d when x.y { oid 1.3 }\n";
        let (items, diagnostics) = parse_file(0, text);
        assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn suggests_keywords() {
        let (_, diagnostics) = parse_file(0, "trapp x when a.b { }");
        assert_eq!(diagnostics[0].help.as_deref(), Some("did you mean `trap`?"));
    }
}
