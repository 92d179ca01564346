//! Lowering: pest pairs → AST items with spans, escapes resolved, and the limits of
//! [`limits`] applied to every expression.

use pest::iterators::{Pair, Pairs};

use super::{PRATT, Rule, is_operator};
use crate::lang::ast::*;
use crate::lang::diag::{Code, Diagnostic};
use crate::lang::limits;

/// Turns pest pairs into AST nodes; `base` is the offset of the parsed text in its file.
pub(super) struct Lowering {
    pub(super) file: u32,
    pub(super) base: usize,
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

    pub(super) fn item(
        &self,
        pair: Pair<'_, Rule>,
        items: &mut Vec<Item>,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
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
            if let Some(at) = dollar_without_braces(raw) {
                let start = part.as_span().start() + self.base + at;
                let name: String = raw[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                    .collect();
                diagnostics.push(
                    Diagnostic::warning(
                        Code::W0204,
                        Span::new(self.file, start, start + 1 + name.len()),
                        format!("`${name}` is text here, not the value of `{name}`"),
                    )
                    .label("no braces")
                    .help(format!(
                        "write `${{{name}}}` for the value, or `\\${name}` for the text"
                    )),
                );
            }
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

/// The offset of a `$` followed by a name, as a `${…}` written without its braces would be.
fn dollar_without_braces(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find(|&at| {
        bytes[at] == b'$'
            && bytes
                .get(at + 1)
                .is_some_and(|next| next.is_ascii_alphabetic() || *next == b'_')
    })
}
