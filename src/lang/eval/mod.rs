//! The interpreter: evaluates the compiled [`Program`] over a document into records.
//!
//! Evaluation is strict: a path that is missing, or a value of the wrong type, is an
//! [`EvalError`] naming the rule, the place in the rules and what was there instead,
//! unless the rule says what to use (`??`, `default()`). Nothing silently becomes empty.

mod expr;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::lang::ast::Span;
use crate::lang::diag::{Code, SourceMap};
use crate::lang::program::*;
use crate::lang::snmp_value::{Misfit, snmp_value};
use crate::lang::value::{self, Val};
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
/// value of the wrong type, ...). Carries where in the rules it happened, and for agent
/// mappings which item of the iteration it was evaluating.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{location}: {code} in rule `{rule}`{}: {message}",
    for_subject(subject)
)]
pub struct EvalError {
    pub code: Code,
    pub rule: String,
    /// `file:line:col` of the expression that failed.
    pub location: String,
    /// The same place, for rendering with the source line (`RuleSet::render_error`).
    pub span: Span,
    /// The item an agent mapping was building: `site "Madrid HQ"`.
    pub subject: Option<String>,
    pub message: String,
}

fn for_subject(subject: &Option<String>) -> String {
    subject
        .as_ref()
        .map(|subject| format!(" for {subject}"))
        .unwrap_or_default()
}

/// `site "Madrid HQ"` (or `site 3` when the item has no name), for messages about one item.
fn describe_item(var: &str, item: &Val<'_>, number: usize) -> String {
    if let Val::Json(Value::Object(map)) = item
        && let Some(Value::String(name)) = value::member(map, "name")
    {
        return format!("{var} {name:?}");
    }
    format!("{var} {number}")
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
        for (number, item) in items.into_iter().enumerate() {
            let subject = || describe_item(&rule.each.var, &item, number + 1);
            ev.set_var(rule.each.slot, item.clone());
            results.push(ev.agent(rule).map_err(|fail| EvalError {
                subject: Some(subject()),
                ..ev.error(fail)
            }));
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
    /// Above 0 inside the left of `??` or the argument of `exists()`, where a `Missing` is
    /// always dropped: its message (a list of keys, a "did you mean") is then not built.
    discarding: u32,
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
            discarding: 0,
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
            span,
            subject: None,
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
            // An interpolation's own string is handed over, not copied.
            Val::Str(text) => Ok(text.into_owned()),
            other => self.text_of(&other, node.span).map(Cow::into_owned),
        });
        if self.reads.is_some() {
            let shown = result
                .as_ref()
                .map(|text| format!("{text:?}"))
                .map_err(Fail::clone);
            self.end_explain(target, node, &shown);
        }
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
}
