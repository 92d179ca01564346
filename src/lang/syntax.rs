//! Parsing: rules text → [`ast`](super::ast) items, with syntax diagnostics.
//!
//! The pest grammar lives in `grammar/rules.pest`. This is the only file that sees pest
//! types: everything after it works on the AST.

use std::sync::LazyLock;

use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use super::diag::{Code, Diagnostic};
use super::limits;

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
    if let Some(offset) = limits::too_deep(text) {
        return (Vec::new(), vec![limits::nesting_diagnostic(file, offset)]);
    }
    limits::with_large_stack(|| parse_checked_file(file, text))
}

fn parse_checked_file(file: u32, text: &str) -> (Vec<Item>, Vec<Diagnostic>) {
    let mut items = Vec::new();
    let mut diagnostics = Vec::new();
    match RulesParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let lowering = Lowering { file, base: 0 };
            if let Some(file_pair) = pairs.next() {
                for pair in file_pair.into_inner() {
                    if pair.as_rule() != Rule::EOI {
                        lowering.item(pair, &mut items, &mut diagnostics);
                    }
                }
            }
        }
        Err(_) => recover(file, text, &mut items, &mut diagnostics),
    }
    (items, diagnostics)
}

/// Parses item by item so that every broken item gets its own diagnostic.
fn recover(file: u32, text: &str, items: &mut Vec<Item>, diagnostics: &mut Vec<Diagnostic>) {
    // Records the tokens each failed attempt expected, for better messages. It costs only on
    // this path, after a first parse has already failed.
    pest::set_error_detail(true);
    let mut offset = skip_trivia(text, 0);
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

fn syntax_error(
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
fn unclosed_string_start(text: &str) -> Option<usize> {
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

fn push_unique(list: &mut Vec<&'static str>, item: &'static str) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn is_word(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
}

/// The token at `position`: a word, a number, or one character.
fn found_at(text: &str, position: usize) -> &str {
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
fn rule_description(rule: Rule) -> Option<&'static str> {
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

fn token_description(token: &str) -> Option<&'static str> {
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

/// Turns pest pairs into AST nodes; `base` is the offset of the parsed text in its file.
struct Lowering {
    file: u32,
    base: usize,
}

impl Lowering {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let span = pair.as_span();
        Span::new(self.file, self.base + span.start(), self.base + span.end())
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_owned(),
            span: self.span(&pair),
        }
    }

    fn item(&self, pair: Pair<'_, Rule>, items: &mut Vec<Item>, diagnostics: &mut Vec<Diagnostic>) {
        match pair.as_rule() {
            Rule::agent_rule => items.push(Item::Agent(self.agent_rule(pair, diagnostics))),
            Rule::trap_rule => items.push(Item::Trap(self.trap_rule(pair, diagnostics))),
            Rule::objects_block => items.push(Item::Objects(self.objects_block(pair, diagnostics))),
            _ => {}
        }
    }

    /// The inner pairs without keywords (they carry no information).
    fn inner<'i>(&self, pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
        pair.into_inner().filter(|p| {
            !matches!(
                p.as_rule(),
                Rule::kw_agent
                    | Rule::kw_trap
                    | Rule::kw_objects
                    | Rule::kw_for
                    | Rule::kw_in
                    | Rule::kw_when
                    | Rule::kw_module
                    | Rule::kw_use
                    | Rule::kw_oid
                    | Rule::kw_base
                    | Rule::kw_where
            )
        })
    }

    fn agent_rule(&self, pair: Pair<'_, Rule>, diagnostics: &mut Vec<Diagnostic>) -> AgentRule {
        let span = self.span(&pair);
        let mut inner = self.inner(pair).peekable();
        let name = self.ident(inner.next().expect("grammar: agent name"));
        let var = self.ident(inner.next().expect("grammar: agent variable"));
        let list = self.expr(inner.next().expect("grammar: agent list"), diagnostics);
        let filter = match inner.peek() {
            Some(p) if p.as_rule() == Rule::where_clause => {
                let clause = inner.next().expect("peeked");
                self.where_clause(clause, diagnostics)
            }
            _ => None,
        };
        let body = inner.map(|p| self.agent_stmt(p, diagnostics)).collect();
        AgentRule {
            name,
            each: Iteration { var, list, filter },
            body,
            span,
        }
    }

    fn where_clause(
        &self,
        pair: Pair<'_, Rule>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Expr> {
        self.inner(pair).next().map(|e| self.expr(e, diagnostics))
    }

    fn agent_stmt(&self, pair: Pair<'_, Rule>, diagnostics: &mut Vec<Diagnostic>) -> AgentStmt {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::field => AgentStmt::Field(self.field(pair, diagnostics)),
            Rule::module_def => {
                let mut inner = self.inner(pair);
                let name = self.expr(inner.next().expect("grammar: module name"), diagnostics);
                let fields = inner.map(|p| self.field(p, diagnostics)).collect();
                AgentStmt::Module(ModuleDef { name, fields, span })
            }
            _ => {
                let mut inner = self.inner(pair).peekable();
                let var = self.ident(inner.next().expect("grammar: loop variable"));
                let list = self.expr(inner.next().expect("grammar: loop list"), diagnostics);
                let filter = match inner.peek() {
                    Some(p) if p.as_rule() == Rule::where_clause => {
                        let clause = inner.next().expect("peeked");
                        self.where_clause(clause, diagnostics)
                    }
                    _ => None,
                };
                let body = inner.map(|p| self.agent_stmt(p, diagnostics)).collect();
                AgentStmt::For(ForLoop {
                    each: Iteration { var, list, filter },
                    body,
                    span,
                })
            }
        }
    }

    fn field(&self, pair: Pair<'_, Rule>, diagnostics: &mut Vec<Diagnostic>) -> Field {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("grammar: field name"));
        let value = self.expr(inner.next().expect("grammar: field value"), diagnostics);
        Field { name, value, span }
    }

    fn trap_rule(&self, pair: Pair<'_, Rule>, diagnostics: &mut Vec<Diagnostic>) -> TrapRule {
        let span = self.span(&pair);
        let mut inner = self.inner(pair);
        let name = self.ident(inner.next().expect("grammar: trap name"));
        let condition = self.expr(inner.next().expect("grammar: trap condition"), diagnostics);
        let body = inner
            .map(|p| match p.as_rule() {
                Rule::trap_oid => TrapStmt::Oid(self.oid_in(p)),
                Rule::trap_base => TrapStmt::Base(self.oid_in(p)),
                Rule::use_stmt => {
                    TrapStmt::Use(self.ident(self.inner(p).next().expect("grammar: use name")))
                }
                _ => TrapStmt::Object(self.object_def(p, diagnostics)),
            })
            .collect();
        TrapRule {
            name,
            condition,
            body,
            span,
        }
    }

    fn oid_in(&self, pair: Pair<'_, Rule>) -> OidLiteral {
        let literal = self.inner(pair).next().expect("grammar: oid literal");
        self.oid_literal(literal)
    }

    fn oid_literal(&self, pair: Pair<'_, Rule>) -> OidLiteral {
        OidLiteral {
            text: pair.as_str().to_owned(),
            span: self.span(&pair),
        }
    }

    fn objects_block(
        &self,
        pair: Pair<'_, Rule>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> ObjectsBlock {
        let span = self.span(&pair);
        let mut inner = self.inner(pair);
        let name = self.ident(inner.next().expect("grammar: objects name"));
        let objects = inner.map(|p| self.object_def(p, diagnostics)).collect();
        ObjectsBlock {
            name,
            objects,
            span,
        }
    }

    fn object_def(&self, pair: Pair<'_, Rule>, diagnostics: &mut Vec<Diagnostic>) -> ObjectDef {
        let span = self.span(&pair);
        let mut index = 0;
        let mut index_span = span;
        let mut name = None;
        let mut oid = None;
        let mut snmp_type = None;
        let mut value = None;
        for p in self.inner(pair) {
            match p.as_rule() {
                Rule::object_index => {
                    index_span = self.span(&p);
                    // Out-of-range indexes are reported by the checker; u32::MAX marks them.
                    index = p.as_str().parse().unwrap_or(u32::MAX);
                }
                Rule::ident if name.is_none() => name = Some(self.ident(p)),
                Rule::ident => snmp_type = Some(self.ident(p)),
                Rule::oid_literal => oid = Some(self.oid_literal(p)),
                _ => value = Some(self.expr(p, diagnostics)),
            }
        }
        ObjectDef {
            index,
            index_span,
            name: name.expect("grammar: object name"),
            oid,
            snmp_type,
            value: value.expect("grammar: object value"),
            span,
        }
    }

    fn expr(&self, pair: Pair<'_, Rule>, diagnostics: &mut Vec<Diagnostic>) -> Expr {
        let span = self.span(&pair);
        let cell = std::cell::RefCell::new(&mut *diagnostics);
        let expr = self.pratt(pair.into_inner(), &cell);
        match limits::deepest_beyond_limit(&expr) {
            None => expr,
            Some(deep) => {
                diagnostics.push(limits::depth_diagnostic(deep));
                Expr {
                    kind: ExprKind::Null,
                    span,
                }
            }
        }
    }

    fn pratt(
        &self,
        pairs: Pairs<'_, Rule>,
        diagnostics: &std::cell::RefCell<&mut Vec<Diagnostic>>,
    ) -> Expr {
        // The Pratt parser recurses once per prefix or right-associative operator: count them
        // first, flat, and refuse a chain too long to build.
        if let Some(operator) = pairs
            .clone()
            .filter(|p| is_operator(p.as_rule()))
            .nth(limits::MAX_OPERATORS)
        {
            let span = self.span(&operator);
            diagnostics
                .borrow_mut()
                .push(limits::operators_diagnostic(span));
            return Expr {
                kind: ExprKind::Null,
                span,
            };
        }
        PRATT
            .map_primary(|p| self.primary(p, diagnostics))
            .map_prefix(|op, operand| Expr {
                span: self.span(&op).to(operand.span),
                kind: ExprKind::Not(Box::new(operand)),
            })
            .map_infix(|lhs, op, rhs| {
                let op = match op.as_rule() {
                    Rule::op_or => BinOp::Or,
                    Rule::op_and => BinOp::And,
                    Rule::op_eq => BinOp::Eq,
                    Rule::op_ne => BinOp::Ne,
                    Rule::op_lt => BinOp::Lt,
                    Rule::op_le => BinOp::Le,
                    Rule::op_gt => BinOp::Gt,
                    Rule::op_ge => BinOp::Ge,
                    Rule::op_in => BinOp::In,
                    _ => BinOp::Coalesce,
                };
                Expr {
                    span: lhs.span.to(rhs.span),
                    kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                }
            })
            .parse(pairs)
    }

    fn primary(
        &self,
        pair: Pair<'_, Rule>,
        diagnostics: &std::cell::RefCell<&mut Vec<Diagnostic>>,
    ) -> Expr {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::expr => return self.pratt(pair.into_inner(), diagnostics),
            Rule::kw_true => ExprKind::Bool(true),
            Rule::kw_false => ExprKind::Bool(false),
            Rule::kw_null => ExprKind::Null,
            Rule::number => ExprKind::Number(pair.as_str().parse().unwrap_or(f64::NAN)),
            Rule::string => ExprKind::Str(self.string_parts(pair, diagnostics)),
            Rule::list => ExprKind::List(
                pair.into_inner()
                    .map(|p| self.pratt(p.into_inner(), diagnostics))
                    .collect(),
            ),
            Rule::call => {
                let mut inner = pair.into_inner();
                let name = self.ident(inner.next().expect("grammar: function name"));
                let args = inner
                    .map(|p| self.pratt(p.into_inner(), diagnostics))
                    .collect();
                ExprKind::Call(name, args)
            }
            Rule::path => {
                let mut inner = pair.into_inner();
                let root = self.ident(inner.next().expect("grammar: path root"));
                let segments = inner.map(|p| self.segment(p, diagnostics)).collect();
                ExprKind::Path(Path { root, segments })
            }
            _ => ExprKind::RelPath(
                pair.into_inner()
                    .map(|p| self.segment(p, diagnostics))
                    .collect(),
            ),
        };
        Expr { kind, span }
    }

    fn segment(
        &self,
        pair: Pair<'_, Rule>,
        diagnostics: &std::cell::RefCell<&mut Vec<Diagnostic>>,
    ) -> Segment {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::index => Segment::Index(pair.as_str().parse().unwrap_or(usize::MAX), span),
            Rule::quoted_key => {
                let mut key = String::new();
                for part in pair.into_inner() {
                    self.push_text(&mut key, part, &mut diagnostics.borrow_mut());
                }
                Segment::Key(key, span)
            }
            _ => Segment::Key(pair.as_str().to_owned(), span),
        }
    }

    fn string_parts(
        &self,
        pair: Pair<'_, Rule>,
        diagnostics: &std::cell::RefCell<&mut Vec<Diagnostic>>,
    ) -> Vec<StrPart> {
        let mut parts = Vec::new();
        let mut text = String::new();
        for part in pair.into_inner() {
            if part.as_rule() == Rule::interpolation {
                if !text.is_empty() {
                    parts.push(StrPart::Text(std::mem::take(&mut text)));
                }
                if let Some(expr) = part.into_inner().next() {
                    parts.push(StrPart::Interpolation(
                        self.pratt(expr.into_inner(), diagnostics),
                    ));
                }
            } else {
                self.push_text(&mut text, part, &mut diagnostics.borrow_mut());
            }
        }
        if !text.is_empty() {
            parts.push(StrPart::Text(text));
        }
        parts
    }

    fn push_text(&self, out: &mut String, part: Pair<'_, Rule>, diagnostics: &mut Vec<Diagnostic>) {
        let raw = part.as_str();
        if part.as_rule() != Rule::str_escape {
            out.push_str(raw);
            return;
        }
        let unescaped = match raw {
            "\\\"" => Some('"'),
            "\\\\" => Some('\\'),
            "\\n" => Some('\n'),
            "\\t" => Some('\t'),
            "\\r" => Some('\r'),
            "\\$" => Some('$'),
            _ => raw
                .strip_prefix("\\u{")
                .and_then(|hex| hex.strip_suffix('}'))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .and_then(char::from_u32),
        };
        match unescaped {
            Some(c) => out.push(c),
            None => diagnostics.push(
                Diagnostic::error(
                    Code::E0103,
                    self.span(&part),
                    format!("unknown escape `{raw}`"),
                )
                .label("not a known escape")
                .note("escapes are \\\" \\\\ \\n \\t \\r \\$ and \\u{HEX}"),
            ),
        }
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
