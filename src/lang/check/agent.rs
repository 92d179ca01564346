//! Agent mappings: fields, iterations, modules and their Pandora vocabulary.

use std::collections::HashMap;

use super::{Checker, Flags, RuleKind, Scope};
use crate::lang::ast::{self, Expr, ExprKind, Span, StrPart};
use crate::lang::diag::{Code, Diagnostic};
use crate::lang::program::*;
use crate::record::pandora::{AGENT_FIELDS, MODULE_FIELDS, MODULE_TYPES};

impl<'a> Checker<'a> {
    pub(super) fn agent(&mut self, rule: &ast::AgentRule) -> Option<AgentProgram> {
        let errors_before = self.errors();
        let mut scope = Scope::new(RuleKind::Agent);
        let each = self.each(&rule.each, &mut scope);
        let mut fields: Vec<(&'static str, Node)> = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut body = Vec::new();
        for stmt in &rule.body {
            match stmt {
                ast::AgentStmt::Field(field) => {
                    let Some(attribute) = self.agent_field(field, &mut seen) else {
                        continue;
                    };
                    if let Some(node) = self.expr(&field.value, &mut scope, Flags::default()) {
                        fields.push((attribute, node));
                    }
                }
                other => {
                    if let Some(stmt) = self.body_stmt(other, &mut scope) {
                        body.push(stmt);
                    }
                }
            }
        }
        if !seen.contains_key("name") {
            self.report(
                Diagnostic::error(
                    Code::E0213,
                    rule.name.span,
                    format!("agent mapping `{}` has no `name`", rule.name.name),
                )
                .label("every agent needs a name")
                .help("add `name = \"...\"`: it becomes the agent's identity in Pandora"),
            );
        }
        if self.errors() != errors_before {
            return None;
        }
        Some(AgentProgram {
            name: rule.name.name.clone(),
            span: rule.span,
            each: each?,
            fields,
            body,
        })
    }

    pub(super) fn agent_field(
        &mut self,
        field: &ast::Field,
        seen: &mut HashMap<&'a str, Span>,
    ) -> Option<&'static str> {
        let name = field.name.name.as_str();
        let Some((key, attribute)) = AGENT_FIELDS.iter().find(|(f, _)| *f == name) else {
            let mut diagnostic = Diagnostic::error(
                Code::E0206,
                field.name.span,
                format!("unknown agent field `{name}`"),
            )
            .label("not an agent field");
            // The Pandora attribute's own name (`agent_alias`) for the field that sets it.
            diagnostic = match AGENT_FIELDS
                .iter()
                .find(|(_, attribute)| *attribute == name)
            {
                Some((field, _)) => diagnostic.help(format!(
                    "rules call it `{field}`; it becomes the `{name}` attribute of the agent"
                )),
                None => diagnostic.suggest(name, AGENT_FIELDS.iter().map(|(f, _)| *f)),
            };
            if MODULE_FIELDS.contains(&name) || name == "type" || name == "data" {
                diagnostic = diagnostic.note(format!(
                    "`{name}` is a module field: put it inside a `module` block"
                ));
            }
            self.report(diagnostic);
            return None;
        };
        if let Some(first) = seen.get(key) {
            self.report(
                Diagnostic::error(
                    Code::E0214,
                    field.name.span,
                    format!("field `{name}` is given twice"),
                )
                .label("second value")
                .related(*first, "first value"),
            );
            return None;
        }
        seen.insert(key, field.name.span);
        Some(attribute)
    }

    pub(super) fn each(&mut self, each: &ast::Iteration, scope: &mut Scope) -> Option<Each> {
        let list = self.expr(&each.list, scope, Flags::default());
        let var = &each.var;
        if matches!(var.name.as_str(), "audit" | "mist" | "env" | "param")
            || scope.var(&var.name).is_some()
        {
            self.report(
                Diagnostic::error(Code::E0217, var.span, format!("`{}` is already a name here", var.name))
                    .label("choose another name")
                    .note("loop variables may not hide a root (audit, mist, env, param) or an outer variable"),
            );
        }
        let slot = scope.next_slot;
        scope.next_slot += 1;
        scope.vars.push((var.name.clone(), slot));
        let filter = each
            .filter
            .as_ref()
            .map(|f| self.expr(f, scope, Flags::default()));
        if let Some(Some(node)) = &filter {
            self.require_bool(node, "a `where` condition");
        }
        Some(Each {
            var: var.name.clone(),
            slot,
            list: list?,
            filter: match filter {
                Some(Some(node)) => Some(node),
                Some(None) => return None,
                None => None,
            },
        })
    }

    pub(super) fn body_stmt(
        &mut self,
        stmt: &ast::AgentStmt,
        scope: &mut Scope,
    ) -> Option<BodyStmt> {
        match stmt {
            ast::AgentStmt::Field(field) => {
                self.report(
                    Diagnostic::error(
                        Code::E0219,
                        field.name.span.to(field.value.span),
                        format!("agent field `{}` inside `for`", field.name.name),
                    )
                        .label("an agent has one value per field")
                        .help("put agent fields at the top of the agent mapping, or this value in a `module`"),
                );
                None
            }
            ast::AgentStmt::Module(module) => self.module(module, scope).map(BodyStmt::Module),
            ast::AgentStmt::For(for_loop) => {
                let depth = scope.vars.len();
                let each = self.each(&for_loop.each, scope);
                let body: Vec<Option<BodyStmt>> = for_loop
                    .body
                    .iter()
                    .map(|s| self.body_stmt(s, scope))
                    .collect();
                scope.vars.truncate(depth);
                let body: Option<Vec<BodyStmt>> = body.into_iter().collect();
                Some(BodyStmt::For(each?, body?))
            }
        }
    }

    pub(super) fn module(
        &mut self,
        module: &ast::ModuleDef,
        scope: &mut Scope,
    ) -> Option<ModuleProgram> {
        let errors_before = self.errors();
        let name = self.expr(&module.name, scope, Flags::default());
        let mut module_type = None;
        let mut data = None;
        let mut fields = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for field in &module.fields {
            let key = field.name.name.as_str();
            if let Some(first) = seen.get(key) {
                self.report(
                    Diagnostic::error(
                        Code::E0214,
                        field.name.span,
                        format!("field `{key}` is given twice"),
                    )
                    .label("second value")
                    .related(*first, "first value"),
                );
                continue;
            }
            seen.insert(key, field.name.span);
            match key {
                "type" => module_type = self.module_type(&field.value),
                "data" => data = self.expr(&field.value, scope, Flags::default()),
                _ if MODULE_FIELDS.contains(&key) => {
                    if let Some(node) = self.expr(&field.value, scope, Flags::default()) {
                        fields.push((key.to_owned(), node));
                    }
                }
                _ => {
                    let mut diagnostic = Diagnostic::error(
                        Code::E0206,
                        field.name.span,
                        format!("unknown module field `{key}`"),
                    )
                    .label("Pandora does not read this field")
                    .suggest(key, MODULE_FIELDS.iter().copied().chain(["type", "data"]));
                    if key == "module_interval" {
                        diagnostic = diagnostic.note("Pandora multiplies module_interval by the agent interval; set the agent's `interval` instead");
                    }
                    self.report(diagnostic);
                }
            }
        }
        for (required, what) in [
            ("type", "a Pandora module type such as generic_data"),
            ("data", "the module's value"),
        ] {
            if !seen.contains_key(required) {
                self.report(
                    Diagnostic::error(
                        Code::E0213,
                        module.name.span,
                        format!("module has no `{required}`"),
                    )
                    .label(format!("add `{required} = ...`"))
                    .note(format!("`{required}` is {what}")),
                );
            }
        }
        if self.errors() != errors_before {
            return None;
        }
        Some(ModuleProgram {
            span: module.span,
            name: name?,
            module_type: module_type?,
            data: data?,
            fields,
        })
    }

    /// `type = generic_data` takes a bare word (or a string), not an expression.
    pub(super) fn module_type(&mut self, value: &Expr) -> Option<String> {
        let word = match &value.kind {
            ExprKind::Path(path) if path.segments.is_empty() => Some(path.root.name.clone()),
            ExprKind::Str(parts) => match parts.as_slice() {
                [StrPart::Text(text)] => Some(text.clone()),
                [] => Some(String::new()),
                _ => None,
            },
            _ => None,
        };
        match word {
            Some(word) if MODULE_TYPES.contains(&word.as_str()) => Some(word),
            Some(word) => {
                self.report(
                    Diagnostic::error(
                        Code::E0205,
                        value.span,
                        format!("unknown module type `{word}`"),
                    )
                    .label("not a Pandora module type")
                    .suggest(&word, MODULE_TYPES)
                    .note(format!("module types: {}", MODULE_TYPES.join(", "))),
                );
                None
            }
            None => {
                self.report(
                    Diagnostic::error(Code::E0205, value.span, "a module type is a fixed word")
                        .label("not a module type")
                        .note(format!("module types: {}", MODULE_TYPES.join(", "))),
                );
                None
            }
        }
    }
}
