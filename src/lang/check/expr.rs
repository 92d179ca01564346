//! Expressions: paths and their roots, `env.*`, strings, calls and JSONPath queries.

use super::{Checker, Flags, RuleKind, Scope, arity, seg};
use crate::lang::ast::{self, Expr, ExprKind, Ident, Span, StrPart};
use crate::lang::diag::{Code, Diagnostic};
use crate::lang::limits::{self, MAX_NESTING};
use crate::lang::program::*;

impl<'a> Checker<'a> {
    pub(super) fn expr(&mut self, expr: &Expr, scope: &mut Scope, flags: Flags) -> Option<Node> {
        let kind = match &expr.kind {
            ExprKind::Null => NodeKind::Const(Const::Null),
            ExprKind::Bool(b) => NodeKind::Const(Const::Bool(*b)),
            ExprKind::Number(n) => NodeKind::Const(Const::Number(*n)),
            ExprKind::Str(parts) => self.string(parts, scope, flags)?,
            ExprKind::List(items) => {
                let nodes: Vec<Option<Node>> =
                    items.iter().map(|i| self.expr(i, scope, flags)).collect();
                NodeKind::List(nodes.into_iter().collect::<Option<Vec<_>>>()?)
            }
            ExprKind::Path(path) => return self.path(path, expr.span, scope, flags),
            ExprKind::RelPath(segments) => {
                if !flags.predicate {
                    self.report(
                        Diagnostic::error(Code::E0215, expr.span, "`.key` is only meaningful inside a predicate")
                            .label("relative to what?")
                            .help("name the value: `device.status`, or use it in `count(list, .status == \"connected\")`"),
                    );
                    return None;
                }
                NodeKind::Path(PathNode {
                    root: Root::Item,
                    segments: segments.iter().map(seg).collect(),
                    text: ast::path_text("", segments),
                })
            }
            ExprKind::Not(inner) => {
                let inner = self.expr(inner, scope, flags)?;
                self.require_bool(&inner, "the operand of `not`");
                NodeKind::Not(Box::new(inner))
            }
            ExprKind::Binary(op, lhs, rhs) => {
                let lhs_flags = Flags {
                    fallback: flags.fallback || *op == ast::BinOp::Coalesce,
                    ..flags
                };
                let lhs = self.expr(lhs, scope, lhs_flags);
                let rhs = self.expr(rhs, scope, flags);
                let (lhs, rhs) = (lhs?, rhs?);
                self.check_operands(*op, &lhs, &rhs);
                if scope.kind == RuleKind::Trap {
                    self.check_audit_codes(*op, &lhs, &rhs);
                }
                NodeKind::Binary(*op, Box::new(lhs), Box::new(rhs))
            }
            ExprKind::Call(name, args) => return self.call(name, args, expr.span, scope, flags),
        };
        Some(Node {
            kind,
            span: expr.span,
        })
    }

    pub(super) fn string(
        &mut self,
        parts: &[StrPart],
        scope: &mut Scope,
        flags: Flags,
    ) -> Option<NodeKind> {
        if let [StrPart::Text(text)] = parts {
            return Some(NodeKind::Const(Const::Str(text.clone())));
        }
        if parts.is_empty() {
            return Some(NodeKind::Const(Const::Str(String::new())));
        }
        let compiled: Vec<Option<Part>> = parts
            .iter()
            .map(|part| match part {
                StrPart::Text(text) => Some(Part::Text(text.clone())),
                StrPart::Interpolation(expr) => self.expr(expr, scope, flags).map(Part::Value),
            })
            .collect();
        Some(NodeKind::Interpolate(
            compiled.into_iter().collect::<Option<Vec<_>>>()?,
        ))
    }

    pub(super) fn path(
        &mut self,
        path: &ast::Path,
        span: Span,
        scope: &mut Scope,
        flags: Flags,
    ) -> Option<Node> {
        let root_name = path.root.name.as_str();
        let text = ast::path_text(root_name, &path.segments);
        let mut segments: Vec<Seg> = path.segments.iter().map(seg).collect();
        let root = if let Some(slot) = scope.var(root_name) {
            Root::Var(slot)
        } else {
            match root_name {
                "env" => return self.env(path, span, flags),
                "param" => Root::Param,
                "audit" | "mist" if root_name == scope.kind.document_root() => {
                    // `audit.details.x` is the REST spelling of `audit.detail.x`.
                    if scope.kind == RuleKind::Trap
                        && segments.first() == Some(&Seg::Key("details".into()))
                    {
                        segments[0] = Seg::Key("detail".into());
                    }
                    Root::Document
                }
                "audit" | "mist" => {
                    let (here, kind) = match scope.kind {
                        RuleKind::Agent => ("agent mappings", "mist"),
                        RuleKind::Trap => ("trap bindings", "audit"),
                    };
                    self.report(
                        Diagnostic::error(
                            Code::E0211,
                            path.root.span,
                            format!("`{root_name}` cannot be read in {here}"),
                        )
                        .label("not available here")
                        .note(format!(
                            "{here} read `{kind}`, `env`, `param` and their loop variables"
                        )),
                    );
                    return None;
                }
                _ => {
                    self.unknown_root(&path.root, scope);
                    return None;
                }
            }
        };
        Some(Node {
            kind: NodeKind::Path(PathNode {
                root,
                segments,
                text,
            }),
            span,
        })
    }

    pub(super) fn unknown_root(&mut self, root: &Ident, scope: &Scope) {
        let mut known: Vec<&str> = vec![scope.kind.document_root(), "env", "param"];
        known.extend(scope.vars.iter().map(|(n, _)| n.as_str()));
        let mut diagnostic = Diagnostic::error(
            Code::E0201,
            root.span,
            format!("unknown name `{}`", root.name),
        )
        .label("not a root or a loop variable")
        .suggest(&root.name, known.iter().copied())
        .note(format!("names available here: {}", known.join(", ")));
        if Builtin::lookup(&root.name).is_some() {
            diagnostic = diagnostic.help(format!(
                "`{}` is a function: call it with parentheses",
                root.name
            ));
        }
        self.report(diagnostic);
    }

    /// `env.NAME` is read once, now: the value becomes a constant of the program.
    pub(super) fn env(&mut self, path: &ast::Path, span: Span, flags: Flags) -> Option<Node> {
        let name = match path.segments.as_slice() {
            [ast::Segment::Key(name, _)] => name,
            _ => {
                self.report(
                    Diagnostic::error(
                        Code::E0212,
                        span,
                        "`env` takes exactly one name: `env.NAME`",
                    )
                    .label("environment values are text, with no fields"),
                );
                return None;
            }
        };
        let constant = match self.env.get(name) {
            Some(value) => Const::Str(value),
            None if flags.fallback => {
                Const::Missing(format!("environment variable `{name}` is not set"))
            }
            None => {
                self.report(
                    Diagnostic::error(
                        Code::E0212,
                        span,
                        format!("environment variable `{name}` is not set"),
                    )
                    .label("read when the rules load")
                    .help(format!(
                        "set {name}, or give a fallback: `env.{name} ?? \"...\"`"
                    )),
                );
                return None;
            }
        };
        Some(Node {
            kind: NodeKind::Const(constant),
            span,
        })
    }

    pub(super) fn call(
        &mut self,
        name: &Ident,
        args: &[Expr],
        span: Span,
        scope: &mut Scope,
        flags: Flags,
    ) -> Option<Node> {
        let Some((builtin, min, max)) = Builtin::lookup(&name.name) else {
            let names = Builtin::ALL.map(|(_, n, _, _)| n);
            self.report(
                Diagnostic::error(
                    Code::E0202,
                    name.span,
                    format!("unknown function `{}`", name.name),
                )
                .label("not a function")
                .suggest(&name.name, names)
                .note(format!("functions: {}", names.join(", "))),
            );
            return None;
        };
        if args.len() < min || args.len() > max {
            self.report(
                Diagnostic::error(
                    Code::E0203,
                    span,
                    format!(
                        "{}() takes {}, found {}",
                        builtin.name(),
                        arity(min, max),
                        args.len()
                    ),
                )
                .label("wrong number of arguments")
                .note(format!("usage: {}", builtin.signature())),
            );
            return None;
        }
        if builtin == Builtin::JsonPath {
            return self.jsonpath(args, span, scope, flags);
        }
        let compiled: Vec<Option<Node>> = args
            .iter()
            .enumerate()
            .map(|(i, arg)| {
                let arg_flags = match builtin {
                    Builtin::Count if i == 1 => Flags {
                        predicate: true,
                        ..flags
                    },
                    Builtin::Default | Builtin::Coalesce | Builtin::Exists => Flags {
                        fallback: true,
                        ..flags
                    },
                    _ => flags,
                };
                self.expr(arg, scope, arg_flags)
            })
            .collect();
        let args = compiled.into_iter().collect::<Option<Vec<_>>>()?;
        self.check_arguments(builtin, &args);
        Some(Node {
            kind: NodeKind::Call(builtin, args),
            span,
        })
    }

    /// The query must be a constant string so that it compiles once, here.
    pub(super) fn jsonpath(
        &mut self,
        args: &[Expr],
        span: Span,
        scope: &mut Scope,
        flags: Flags,
    ) -> Option<Node> {
        let (target, query) = match args {
            [query] => (None, query),
            [target, query] => (Some(target), query),
            _ => return None,
        };
        let text = match &query.kind {
            ExprKind::Str(parts) => match parts.as_slice() {
                [StrPart::Text(text)] => Some(text.clone()),
                _ => None,
            },
            _ => None,
        };
        let Some(text) = text else {
            self.report(
                Diagnostic::error(
                    Code::E0203,
                    query.span,
                    "the JSONPath query must be a plain string",
                )
                .label("not a constant string")
                .note("queries are compiled once when the rules load"),
            );
            return None;
        };
        // The JSONPath parser recurses per bracket, and runs when rules load and reload.
        if limits::query_too_deep(&text) {
            self.report(
                Diagnostic::error(
                    Code::E0105,
                    query.span,
                    format!("this query nests deeper than the {MAX_NESTING} levels rules allow"),
                )
                .label("too deep")
                .help("write a flatter query, or read the value with a dotted path"),
            );
            return None;
        }
        let compiled = match jsonpath_rust::parser::parse_json_path(&text) {
            Ok(compiled) => compiled,
            Err(error) => {
                // The parser's report is a multi-line snippet of its own; keep its cause line.
                let message = error.to_string();
                let cause = message
                    .lines()
                    .find_map(|line| line.trim().strip_prefix("= "))
                    .unwrap_or_else(|| message.lines().next().unwrap_or(""))
                    .to_owned();
                self.report(
                    Diagnostic::error(Code::E0216, query.span, "invalid JSONPath query")
                        .label("does not compile")
                        .note(format!("JSONPath: {cause}")),
                );
                return None;
            }
        };
        let target = match target {
            Some(t) => Some(Box::new(self.expr(t, scope, flags)?)),
            None => None,
        };
        Some(Node {
            kind: NodeKind::JsonPath(Box::new(compiled), target),
            span,
        })
    }
}
