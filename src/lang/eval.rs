//! The interpreter: evaluates the compiled [`Program`] over a document into records.
//!
//! Evaluation is strict: a path that is missing, or a value of the wrong type, is an
//! [`EvalError`] naming the rule, the place in the rules and what was there instead,
//! unless the rule says what to use (`??`, `default()`). Nothing silently becomes empty.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::ast::{BinOp, Span};
use super::diag::{Code, SourceMap};
use super::program::*;
use super::snmp_value::{Misfit, snmp_value};
use super::value::{self, Val, values_equal};
use crate::record::{Agent, Module, Trap, VarBind};

/// `param.*` values given by the caller (`--param k=v`, the plugin's `-p`/`-g`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    pub fn with(mut self, key: &str, value: &str) -> Params {
        self.0.insert(key.to_owned(), value.to_owned());
        self
    }
}

/// A rule that could not be evaluated over one input (a missing path with no `??`, a
/// value of the wrong type, ...). Carries where in the rules it happened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}: {code} in rule `{rule}`: {message}")]
pub struct EvalError {
    pub code: Code,
    pub rule: String,
    /// `file:line:col` of the expression that failed.
    pub location: String,
    pub message: String,
}

/// One output field as `explain` shows it: the expression, what it read, what it gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explained {
    /// What the value is for: `agent_alias`, `module "x" data`, `object 2 nameService`.
    pub target: String,
    /// `file:line:col` of the expression.
    pub location: String,
    /// The expression as written.
    pub expression: String,
    /// Every path read, with its value (or `missing`).
    pub reads: Vec<(String, String)>,
    /// The result, or the error.
    pub value: String,
}

/// Why one expression failed. `Missing` is the one `??` and `default()` recover from.
#[derive(Debug, Clone)]
enum Fail {
    Missing {
        span: Span,
        message: String,
    },
    Wrong {
        code: Code,
        span: Span,
        message: String,
    },
}

impl Fail {
    fn wrong(code: Code, span: Span, message: impl Into<String>) -> Fail {
        Fail::Wrong {
            code,
            span,
            message: message.into(),
        }
    }
}

type Eval<T> = Result<T, Fail>;

pub(super) fn run_agents(
    program: &Program,
    sources: &SourceMap,
    document: &Value,
    params: &Params,
    explain: bool,
) -> Vec<Result<(Agent, Vec<Explained>), EvalError>> {
    let mut results = Vec::new();
    for rule in &program.agents {
        let mut ev = Evaluator::new(sources, &rule.name, document, params, explain);
        let items = match ev.iteration(&rule.each) {
            Ok(items) => items,
            Err(fail) => {
                results.push(Err(ev.error(fail)));
                continue;
            }
        };
        for item in items {
            ev.set_var(rule.each.slot, item);
            results.push(ev.agent(rule).map_err(|fail| ev.error(fail)));
        }
    }
    results
}

pub(super) fn run_traps(
    program: &Program,
    sources: &SourceMap,
    audit: &Value,
    params: &Params,
    explain: bool,
) -> Vec<Result<(Trap, Vec<Explained>), EvalError>> {
    let mut results = Vec::new();
    let source = audit
        .as_object()
        .and_then(|audit| value::member(audit, "source"))
        .and_then(Value::as_str);
    let traps = &program.traps;
    for &position in program.trap_index.candidates(source) {
        let rule = &traps[position];
        let mut ev = Evaluator::new(sources, &rule.name, audit, params, explain);
        match ev.condition(&rule.condition) {
            Ok(false) => {}
            Ok(true) => results.push(ev.trap(rule).map_err(|fail| ev.error(fail))),
            Err(fail) => results.push(Err(ev.error(fail))),
        }
    }
    results
}

struct Evaluator<'a> {
    sources: &'a SourceMap,
    rule: &'a str,
    document: &'a Value,
    params: &'a Params,
    vars: Vec<Val<'a>>,
    item: Option<Val<'a>>,
    /// Paths read by the field being explained; `None` when not explaining.
    reads: Option<Vec<(String, String)>>,
    explained: Vec<Explained>,
}

impl<'a> Evaluator<'a> {
    fn new(
        sources: &'a SourceMap,
        rule: &'a str,
        document: &'a Value,
        params: &'a Params,
        explain: bool,
    ) -> Evaluator<'a> {
        Evaluator {
            sources,
            rule,
            document,
            params,
            vars: Vec::new(),
            item: None,
            reads: explain.then(Vec::new),
            explained: Vec::new(),
        }
    }

    fn error(&self, fail: Fail) -> EvalError {
        let (code, span, message) = match fail {
            Fail::Missing { span, message } => (Code::E0301, span, message),
            Fail::Wrong {
                code,
                span,
                message,
            } => (code, span, message),
        };
        EvalError {
            code,
            rule: self.rule.to_owned(),
            location: self.sources.location(span),
            message,
        }
    }

    fn set_var(&mut self, slot: usize, value: Val<'a>) {
        if self.vars.len() <= slot {
            self.vars.resize(slot + 1, Val::Null);
        }
        self.vars[slot] = value;
    }

    /// The items an iteration visits, after its `where` filter.
    fn iteration(&mut self, each: &'a Each) -> Eval<Vec<Val<'a>>> {
        let list = self.eval(&each.list)?;
        let Some(items) = list.items() else {
            return Err(Fail::wrong(
                Code::E0302,
                each.list.span,
                format!(
                    "`for {} in ...` needs a list, found {}",
                    each.var,
                    list.kind()
                ),
            ));
        };
        let Some(filter) = &each.filter else {
            return Ok(items);
        };
        let mut kept = Vec::with_capacity(items.len());
        for item in items {
            self.set_var(each.slot, item.clone());
            if self.condition(filter)? {
                kept.push(item);
            }
        }
        Ok(kept)
    }

    fn agent(&mut self, rule: &'a AgentProgram) -> Eval<(Agent, Vec<Explained>)> {
        let mut name = String::new();
        let mut attributes = Vec::with_capacity(rule.fields.len());
        for (attribute, node) in &rule.fields {
            let value = self.output_text(|| (*attribute).to_owned(), node)?;
            if *attribute == "agent_name" {
                name = value;
            } else {
                attributes.push(((*attribute).to_owned(), value));
            }
        }
        let mut modules = Vec::new();
        self.body(&rule.body, &mut modules)?;
        let agent = Agent {
            rule: rule.name.clone(),
            name,
            attributes,
            modules,
        };
        Ok((agent, std::mem::take(&mut self.explained)))
    }

    fn body(&mut self, body: &'a [BodyStmt], modules: &mut Vec<Module>) -> Eval<()> {
        for stmt in body {
            match stmt {
                BodyStmt::Module(module) => {
                    let name = self.output_text(|| "module name".to_owned(), &module.name)?;
                    let data =
                        self.output_text(|| format!("module {name:?} data"), &module.data)?;
                    let mut fields = Vec::with_capacity(module.fields.len());
                    for (field, node) in &module.fields {
                        let value =
                            self.output_text(|| format!("module {name:?} {field}"), node)?;
                        fields.push((field.clone(), value));
                    }
                    modules.push(Module {
                        name,
                        module_type: module.module_type.clone(),
                        data,
                        fields,
                    });
                }
                BodyStmt::For(each, inner) => {
                    for item in self.iteration(each)? {
                        self.set_var(each.slot, item);
                        self.body(inner, modules)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn trap(&mut self, rule: &'a TrapProgram) -> Eval<(Trap, Vec<Explained>)> {
        let mut varbinds = Vec::with_capacity(rule.objects.len());
        for object in &rule.objects {
            self.begin_explain();
            let result = self.eval(&object.value).and_then(|value| {
                snmp_value(&value, object.snmp_type).map_err(|misfit| match misfit {
                    Misfit::Null(message) => Fail::Missing {
                        span: object.value.span,
                        message,
                    },
                    Misfit::Wrong(message) => Fail::wrong(Code::E0303, object.value.span, message),
                })
            });
            self.end_explain(
                || format!("object {} {}", object.index, object.name),
                &object.value,
                &result,
            );
            varbinds.push(VarBind {
                index: object.index,
                name: object.name.clone(),
                oid: object.oid.clone(),
                value: result?,
            });
        }
        let trap = Trap {
            rule: rule.name.clone(),
            oid: rule.oid.clone(),
            varbinds,
        };
        Ok((trap, std::mem::take(&mut self.explained)))
    }

    fn begin_explain(&mut self) {
        if let Some(reads) = &mut self.reads {
            reads.clear();
        }
    }

    /// Records one explained field; `target` is only built when explaining.
    fn end_explain<T: std::fmt::Display>(
        &mut self,
        target: impl FnOnce() -> String,
        node: &Node,
        result: &Eval<T>,
    ) {
        let Some(reads) = &mut self.reads else { return };
        let value = match result {
            Ok(value) => value.to_string(),
            Err(Fail::Missing { message, .. } | Fail::Wrong { message, .. }) => {
                format!("error: {message}")
            }
        };
        self.explained.push(Explained {
            target: target(),
            location: self.sources.location(node.span),
            expression: self.sources.snippet(node.span).to_owned(),
            reads: std::mem::take(reads),
            value,
        });
    }

    /// A Pandora field value: text, with booleans as 1/0 (Pandora has no booleans).
    fn output_text(&mut self, target: impl FnOnce() -> String, node: &'a Node) -> Eval<String> {
        self.begin_explain();
        let result = self.eval(node).and_then(|value| match value {
            Val::Bool(b) => Ok(if b { "1" } else { "0" }.to_owned()),
            other => self.text_of(&other, node.span).map(Cow::into_owned),
        });
        let shown = result
            .as_ref()
            .map(|text| format!("{text:?}"))
            .map_err(Fail::clone);
        self.end_explain(target, node, &shown);
        result
    }

    fn text_of<'v>(&self, value: &Val<'v>, span: Span) -> Eval<Cow<'v, str>> {
        match value {
            Val::Null => Err(Fail::Missing {
                span,
                message: format!(
                    "`{}` is null; give a fallback with `??`",
                    self.sources.snippet(span)
                ),
            }),
            other => other.to_text().ok_or_else(|| {
                Fail::wrong(
                    Code::E0302,
                    span,
                    format!(
                        "`{}` is {}, not text; pick a field or use join()",
                        self.sources.snippet(span),
                        other.kind()
                    ),
                )
            }),
        }
    }

    fn condition(&mut self, node: &'a Node) -> Eval<bool> {
        match self.eval(node)? {
            Val::Bool(b) => Ok(b),
            other => Err(Fail::wrong(
                Code::E0302,
                node.span,
                format!(
                    "a condition must be true or false, this is {}",
                    other.kind()
                ),
            )),
        }
    }

    fn eval(&mut self, node: &'a Node) -> Eval<Val<'a>> {
        match &node.kind {
            NodeKind::Const(constant) => match constant {
                Const::Null => Ok(Val::Null),
                Const::Bool(b) => Ok(Val::Bool(*b)),
                Const::Number(n) => Ok(Val::Number(*n)),
                Const::Str(s) => Ok(Val::Str(Cow::Borrowed(s))),
                Const::Missing(message) => Err(Fail::Missing {
                    span: node.span,
                    message: message.clone(),
                }),
            },
            NodeKind::Path(path) => {
                let result = self.path(path, node.span);
                if let Some(reads) = &mut self.reads {
                    let shown = match &result {
                        Ok(value) => value.preview(),
                        Err(_) => "missing".to_owned(),
                    };
                    reads.push((path.text.clone(), shown));
                }
                result
            }
            NodeKind::Interpolate(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => text.push_str(t),
                        Part::Value(node) => {
                            let value = self.eval(node)?;
                            text.push_str(&self.text_of(&value, node.span)?);
                        }
                    }
                }
                Ok(Val::Str(Cow::Owned(text)))
            }
            NodeKind::List(items) => items
                .iter()
                .map(|item| self.eval(item))
                .collect::<Eval<Vec<_>>>()
                .map(Val::List),
            NodeKind::Not(inner) => Ok(Val::Bool(!self.condition(inner)?)),
            NodeKind::Binary(op, lhs, rhs) => self.binary(*op, lhs, rhs, node.span),
            NodeKind::Call(builtin, args) => self.call(*builtin, args, node.span),
            NodeKind::JsonPath(query, target) => {
                let target: &'a Value = match target {
                    None => self.document,
                    Some(node) => match self.eval(node)? {
                        Val::Json(value) => value,
                        other => {
                            return Err(Fail::wrong(
                                Code::E0302,
                                node.span,
                                format!(
                                    "jsonpath() queries a list or an object, this is {}",
                                    other.kind()
                                ),
                            ));
                        }
                    },
                };
                let found = jsonpath_rust::query::js_path_process(query, target).map_err(|e| {
                    Fail::wrong(Code::E0302, node.span, format!("jsonpath() failed: {e}"))
                })?;
                Ok(Val::List(
                    found.into_iter().map(|r| Val::from_json(r.val())).collect(),
                ))
            }
        }
    }

    fn path(&mut self, path: &'a PathNode, span: Span) -> Eval<Val<'a>> {
        let (start, segments): (Val<'a>, &[Seg]) = match path.root {
            Root::Document => (Val::Json(self.document), &path.segments),
            Root::Var(slot) => (
                self.vars.get(slot).cloned().unwrap_or(Val::Null),
                &path.segments,
            ),
            Root::Item => (self.item.clone().unwrap_or(Val::Null), &path.segments),
            Root::Param => {
                let Some(Seg::Key(name)) = path.segments.first() else {
                    return Err(Fail::wrong(
                        Code::E0302,
                        span,
                        "`param` needs a name: `param.NAME`",
                    ));
                };
                return match self.params.0.get(name) {
                    Some(value) if path.segments.len() == 1 => {
                        Ok(Val::Str(Cow::Owned(value.clone())))
                    }
                    Some(_) => Err(Fail::wrong(
                        Code::E0302,
                        span,
                        format!("`param.{name}` is text; it has no fields"),
                    )),
                    None => {
                        let known: Vec<&str> = self.params.0.keys().map(String::as_str).collect();
                        Err(Fail::Missing {
                            span,
                            message: format!(
                                "`param.{name}` is not set (set: {}); give it with --param {name}=VALUE",
                                list_or_none(&known)
                            ),
                        })
                    }
                };
            }
        };
        let mut current = start;
        // The part of the path read so far, for error messages only.
        let walked = |upto: usize| {
            let root = path.text.split(['.', '[']).next().unwrap_or("");
            let mut text = root.to_owned();
            for segment in &segments[..upto] {
                match segment {
                    Seg::Key(key) => {
                        text.push('.');
                        text.push_str(key);
                    }
                    Seg::Index(index) => text.push_str(&format!("[{index}]")),
                }
            }
            text
        };
        for (position, segment) in segments.iter().enumerate() {
            let walked = || walked(position);
            let next = match (&current, segment) {
                (Val::Json(Value::Object(map)), Seg::Key(key)) => match value::member(map, key) {
                    Some(value) => Val::from_json(value),
                    None => {
                        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                        return Err(Fail::Missing {
                            span,
                            message: format!(
                                "`{}` is missing: `{}` has {}",
                                path.text,
                                walked(),
                                list_or_none(&keys)
                            ),
                        });
                    }
                },
                (Val::Json(Value::Array(items)), Seg::Index(index)) => match items.get(*index) {
                    Some(value) => Val::from_json(value),
                    None => {
                        return Err(Fail::Missing {
                            span,
                            message: format!(
                                "`{}` is missing: `{}` has {} items",
                                path.text,
                                walked(),
                                items.len()
                            ),
                        });
                    }
                },
                (Val::List(items), Seg::Index(index)) => match items.get(*index) {
                    Some(value) => value.clone(),
                    None => {
                        return Err(Fail::Missing {
                            span,
                            message: format!(
                                "`{}` is missing: `{}` has {} items",
                                path.text,
                                walked(),
                                items.len()
                            ),
                        });
                    }
                },
                (Val::Null, _) => {
                    return Err(Fail::Missing {
                        span,
                        message: format!("`{}` is missing: `{}` is null", path.text, walked()),
                    });
                }
                (other, segment) => {
                    let wanted = match segment {
                        Seg::Key(_) => "an object",
                        Seg::Index(_) => "a list",
                    };
                    return Err(Fail::wrong(
                        Code::E0302,
                        span,
                        format!(
                            "`{}` is {}, not {wanted}, so `{}` cannot be read",
                            walked(),
                            other.kind(),
                            path.text
                        ),
                    ));
                }
            };
            current = next;
        }
        Ok(current)
    }

    fn binary(&mut self, op: BinOp, lhs: &'a Node, rhs: &'a Node, span: Span) -> Eval<Val<'a>> {
        match op {
            BinOp::And => Ok(Val::Bool(self.condition(lhs)? && self.condition(rhs)?)),
            BinOp::Or => Ok(Val::Bool(self.condition(lhs)? || self.condition(rhs)?)),
            BinOp::Coalesce => match self.eval(lhs) {
                Ok(value) if !value.is_empty_like() => Ok(value),
                Ok(_) | Err(Fail::Missing { .. }) => self.eval(rhs),
                Err(other) => Err(other),
            },
            BinOp::Eq => Ok(Val::Bool(values_equal(&self.eval(lhs)?, &self.eval(rhs)?))),
            BinOp::Ne => Ok(Val::Bool(!values_equal(&self.eval(lhs)?, &self.eval(rhs)?))),
            BinOp::In => {
                let needle = self.eval(lhs)?;
                let haystack = self.eval(rhs)?;
                match (&needle, &haystack) {
                    (Val::Str(n), Val::Str(h)) => Ok(Val::Bool(h.contains(n.as_ref()))),
                    _ => match haystack.items() {
                        Some(items) => {
                            Ok(Val::Bool(items.iter().any(|i| values_equal(i, &needle))))
                        }
                        None => Err(Fail::wrong(
                            Code::E0302,
                            rhs.span,
                            format!(
                                "`in` needs a list or a string on its right, this is {}",
                                haystack.kind()
                            ),
                        )),
                    },
                }
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let a = self.eval(lhs)?;
                let b = self.eval(rhs)?;
                let ordering = match (&a, &b) {
                    (Val::Number(x), Val::Number(y)) => x.partial_cmp(y),
                    (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
                    _ => None,
                };
                let Some(ordering) = ordering else {
                    return Err(Fail::wrong(
                        Code::E0302,
                        span,
                        format!(
                            "`{}` compares numbers or strings, not {} and {}",
                            op.symbol(),
                            a.kind(),
                            b.kind()
                        ),
                    ));
                };
                use std::cmp::Ordering::*;
                Ok(Val::Bool(match op {
                    BinOp::Lt => ordering == Less,
                    BinOp::Le => ordering != Greater,
                    BinOp::Gt => ordering == Greater,
                    _ => ordering != Less,
                }))
            }
        }
    }

    fn call(&mut self, builtin: Builtin, args: &'a [Node], span: Span) -> Eval<Val<'a>> {
        match builtin {
            Builtin::Count => {
                let list = self.list_arg(&args[0])?;
                let Some(predicate) = args.get(1) else {
                    return Ok(Val::Number(list.len() as f64));
                };
                let saved = self.item.take();
                let mut count = 0usize;
                for item in list {
                    self.item = Some(item);
                    match self.condition(predicate) {
                        Ok(true) => count += 1,
                        Ok(false) => {}
                        Err(fail) => {
                            self.item = saved;
                            return Err(fail);
                        }
                    }
                }
                self.item = saved;
                Ok(Val::Number(count as f64))
            }
            Builtin::Join => {
                let list = self.list_arg(&args[0])?;
                let separator = self.eval(&args[1])?;
                let separator = self.text_of(&separator, args[1].span)?.into_owned();
                let mut parts = Vec::with_capacity(list.len());
                for item in &list {
                    parts.push(self.text_of(item, args[0].span)?.into_owned());
                }
                Ok(Val::Str(Cow::Owned(parts.join(&separator))))
            }
            Builtin::Lower | Builtin::Upper | Builtin::Trim => {
                let value = self.eval(&args[0])?;
                let text = self.text_of(&value, args[0].span)?;
                Ok(Val::Str(Cow::Owned(match builtin {
                    Builtin::Lower => text.to_lowercase(),
                    Builtin::Upper => text.to_uppercase(),
                    _ => text.trim().to_owned(),
                })))
            }
            Builtin::Default | Builtin::Coalesce => {
                let mut last_missing = None;
                for arg in args {
                    match self.eval(arg) {
                        Ok(value) if !value.is_empty_like() => return Ok(value),
                        Ok(_) => {}
                        Err(missing @ Fail::Missing { .. }) => last_missing = Some(missing),
                        Err(other) => return Err(other),
                    }
                }
                Err(last_missing.unwrap_or(Fail::Missing {
                    span,
                    message: format!("every argument of {}() is missing or empty", builtin.name()),
                }))
            }
            Builtin::Exists => match self.eval(&args[0]) {
                Ok(Val::Null) | Err(Fail::Missing { .. }) => Ok(Val::Bool(false)),
                Ok(_) => Ok(Val::Bool(true)),
                Err(other) => Err(other),
            },
            // Compiled to NodeKind::JsonPath at load time.
            Builtin::JsonPath => Err(Fail::wrong(
                Code::E0216,
                span,
                "jsonpath() was not compiled",
            )),
        }
    }

    fn list_arg(&mut self, node: &'a Node) -> Eval<Vec<Val<'a>>> {
        let value = self.eval(node)?;
        value.items().ok_or_else(|| {
            Fail::wrong(
                Code::E0302,
                node.span,
                format!(
                    "`{}` is {}, not a list",
                    self.sources.snippet(node.span),
                    value.kind()
                ),
            )
        })
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "nothing".to_owned()
    } else {
        items.join(", ")
    }
}
