//! The semantic pass: resolves names, checks what the grammar cannot, and lowers the AST
//! into the [`Program`] the interpreter runs. It reports every problem it finds, never
//! only the first.

use std::collections::{BTreeMap, HashMap};

use crate::lang::program::*;
use crate::record::pandora::{AGENT_FIELDS, MODULE_FIELDS, MODULE_TYPES};
use crate::record::{MAX_OBJECT_INDEX, Oid, SnmpType};

use super::ast::{self, Expr, ExprKind, Ident, Item, Span, StrPart};
use super::diag::{Code, Diagnostic};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    Agent,
    Trap,
}

impl RuleKind {
    fn document_root(self) -> &'static str {
        match self {
            RuleKind::Agent => "mist",
            RuleKind::Trap => "audit",
        }
    }
}

/// Where `env.*` values come from: explicit values first, then the process environment.
pub struct EnvSource<'a> {
    pub overrides: &'a BTreeMap<String, String>,
}

impl EnvSource<'_> {
    fn get(&self, name: &str) -> Option<String> {
        if let Some(value) = self.overrides.get(name) {
            return Some(value.clone());
        }
        if name == "hostname" {
            return gethostname::gethostname().into_string().ok();
        }
        std::env::var(name).ok()
    }
}

/// Checks all items of all files together (names are global across files) and builds the program.
pub fn check(items: &[Item], env: &EnvSource<'_>) -> (Program, Vec<Diagnostic>) {
    let mut checker = Checker {
        env,
        diagnostics: Vec::new(),
        blocks: HashMap::new(),
    };
    checker.check_names(items);
    for item in items {
        if let Item::Objects(block) = item {
            checker
                .blocks
                .entry(block.name.name.clone())
                .or_insert(block);
        }
    }
    let mut program = Program::default();
    for item in items {
        match item {
            Item::Agent(rule) => {
                if let Some(agent) = checker.agent(rule) {
                    program.agents.push(agent);
                }
            }
            Item::Trap(rule) => {
                if let Some(trap) = checker.trap(rule) {
                    program.traps.push(trap);
                }
            }
            Item::Objects(block) => {
                // Blocks are checked where they are used (their OIDs depend on the trap);
                // an unused block is still checked once, against no base.
                for object in &block.objects {
                    let mut scope = Scope::new(RuleKind::Trap);
                    checker.object_shape(object);
                    checker.expr(&object.value, &mut scope, Flags::default());
                }
            }
        }
    }
    (program, checker.diagnostics)
}

struct Checker<'a> {
    env: &'a EnvSource<'a>,
    diagnostics: Vec<Diagnostic>,
    blocks: HashMap<String, &'a ast::ObjectsBlock>,
}

/// Names visible in an expression.
struct Scope {
    kind: RuleKind,
    vars: Vec<(String, usize)>,
    next_slot: usize,
}

impl Scope {
    fn new(kind: RuleKind) -> Scope {
        Scope {
            kind,
            vars: Vec::new(),
            next_slot: 0,
        }
    }

    fn var(&self, name: &str) -> Option<usize> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, slot)| *slot)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    /// Inside a predicate, where `.key` reads the current item.
    predicate: bool,
    /// Under `??`/`default()`, where a missing `env.NAME` is acceptable.
    fallback: bool,
}

impl<'a> Checker<'a> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn check_names(&mut self, items: &[Item]) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for item in items {
            let name = item.name();
            if let Some(first) = seen.get(name.name.as_str()) {
                self.report(
                    Diagnostic::error(
                        Code::E0207,
                        name.span,
                        format!("`{}` is defined twice", name.name),
                    )
                    .label("second definition")
                    .related(*first, "first defined here")
                    .note("rule and block names are shared by every file of the rules folder"),
                );
            } else {
                seen.insert(&name.name, name.span);
            }
        }
    }

    fn agent(&mut self, rule: &ast::AgentRule) -> Option<AgentProgram> {
        let errors_before = self.diagnostics.len();
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
        if self.diagnostics.len() != errors_before {
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

    fn agent_field(
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
            .label("not an agent field")
            .suggest(name, AGENT_FIELDS.iter().map(|(f, _)| *f));
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

    fn each(&mut self, each: &ast::Iteration, scope: &mut Scope) -> Option<Each> {
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

    fn body_stmt(&mut self, stmt: &ast::AgentStmt, scope: &mut Scope) -> Option<BodyStmt> {
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

    fn module(&mut self, module: &ast::ModuleDef, scope: &mut Scope) -> Option<ModuleProgram> {
        let errors_before = self.diagnostics.len();
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
        if self.diagnostics.len() != errors_before {
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
    fn module_type(&mut self, value: &Expr) -> Option<String> {
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

    fn trap(&mut self, rule: &'a ast::TrapRule) -> Option<TrapProgram> {
        let errors_before = self.diagnostics.len();
        let mut scope = Scope::new(RuleKind::Trap);
        let condition = self.expr(&rule.condition, &mut scope, Flags::default());
        let mut oid: Option<(Oid, Span)> = None;
        let mut base: Option<(Oid, Span)> = None;
        let mut objects: Vec<&ast::ObjectDef> = Vec::new();
        for stmt in &rule.body {
            match stmt {
                ast::TrapStmt::Oid(literal) | ast::TrapStmt::Base(literal) => {
                    let is_oid = matches!(stmt, ast::TrapStmt::Oid(_));
                    let slot = if is_oid { &mut oid } else { &mut base };
                    if let Some((_, first)) = slot {
                        let first = *first;
                        let word = if is_oid { "oid" } else { "base" };
                        self.report(
                            Diagnostic::error(
                                Code::E0214,
                                literal.span,
                                format!("`{word}` is given twice"),
                            )
                            .label("second value")
                            .related(first, "first value"),
                        );
                    } else if let Some(parsed) = self.oid(literal) {
                        *slot = Some((parsed, literal.span));
                    }
                }
                ast::TrapStmt::Use(name) => match self.blocks.get(&name.name) {
                    Some(block) => objects.extend(block.objects.iter()),
                    None => {
                        let names: Vec<&str> = self.blocks.keys().map(String::as_str).collect();
                        self.report(
                            Diagnostic::error(
                                Code::E0208,
                                name.span,
                                format!("no objects block named `{}`", name.name),
                            )
                            .label("unknown block")
                            .suggest(&name.name, names),
                        );
                    }
                },
                ast::TrapStmt::Object(object) => objects.push(object),
            }
        }
        if oid.is_none() && self.diagnostics.len() == errors_before {
            self.report(
                Diagnostic::error(
                    Code::E0213,
                    rule.name.span,
                    format!("trap binding `{}` has no `oid`", rule.name.name),
                )
                .label("which notification is this?")
                .help(
                    "add `oid 1.3.6.1.4.1.39059.1.0.N`: the NOTIFICATION-TYPE this binding sends",
                ),
            );
        }
        objects.sort_by_key(|o| o.index);
        let mut by_index: HashMap<u32, Span> = HashMap::new();
        let mut by_name: HashMap<&str, Span> = HashMap::new();
        let mut compiled = Vec::with_capacity(objects.len());
        for object in &objects {
            if let Some(first) = by_index.insert(object.index, object.index_span) {
                self.report(
                    Diagnostic::error(
                        Code::E0209,
                        object.index_span,
                        format!(
                            "object index {} is used twice in `{}`",
                            object.index, rule.name.name
                        ),
                    )
                    .label("second object with this index")
                    .related(first, "first object with this index"),
                );
            }
            if let Some(first) = by_name.insert(&object.name.name, object.name.span) {
                self.report(
                    Diagnostic::error(
                        Code::E0209,
                        object.name.span,
                        format!(
                            "object `{}` appears twice in `{}`",
                            object.name.name, rule.name.name
                        ),
                    )
                    .label("second object with this name")
                    .related(first, "first object with this name"),
                );
            }
            let shape = self.object_shape(object);
            let value = self.expr(&object.value, &mut scope, Flags::default());
            let (Some((snmp_type, explicit_oid)), Some(value)) = (shape, value) else {
                continue;
            };
            let object_oid = match (explicit_oid, &base, &oid) {
                (Some(explicit), _, _) => explicit,
                (None, Some((base, _)), _) => base.child(object.index),
                (None, None, Some((trap_oid, _))) => trap_oid.child(object.index),
                (None, None, None) => continue,
            };
            self.constant_fits(&value, snmp_type);
            compiled.push(ObjectProgram {
                index: object.index,
                name: object.name.name.as_str().into(),
                oid: object_oid,
                snmp_type,
                value,
                span: object.span,
            });
        }
        if self.diagnostics.len() != errors_before {
            return None;
        }
        Some(TrapProgram {
            name: rule.name.name.as_str().into(),
            span: rule.span,
            condition: condition?,
            oid: oid?.0,
            objects: compiled,
        })
    }

    /// Index range, SNMP type and explicit OID of an object.
    fn object_shape(&mut self, object: &ast::ObjectDef) -> Option<(SnmpType, Option<Oid>)> {
        let mut ok = true;
        if object.index == 0 || object.index > MAX_OBJECT_INDEX {
            ok = false;
            self.report(
                Diagnostic::error(Code::E0210, object.index_span, format!("object index must be from 1 to {MAX_OBJECT_INDEX}"))
                    .label("out of range")
                    .note("the index orders the objects in the notification, as \"1\"..\"7\" in the FledgePOWER configuration"),
            );
        }
        let snmp_type = match &object.snmp_type {
            None => SnmpType::OctetString,
            Some(ident) => match SnmpType::from_rule_name(&ident.name) {
                Some(t) => t,
                None => {
                    ok = false;
                    let names = SnmpType::ALL.map(|(_, n)| n);
                    self.report(
                        Diagnostic::error(
                            Code::E0204,
                            ident.span,
                            format!("unknown SNMP type `{}`", ident.name),
                        )
                        .label("not an SNMP type")
                        .suggest(&ident.name, names)
                        .note(format!("SNMP types: {}", names.join(", "))),
                    );
                    SnmpType::OctetString
                }
            },
        };
        let explicit = match &object.oid {
            Some(literal) => match self.oid(literal) {
                Some(oid) => Some(oid),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        ok.then_some((snmp_type, explicit))
    }

    fn oid(&mut self, literal: &ast::OidLiteral) -> Option<Oid> {
        match literal.text.parse::<Oid>() {
            Ok(oid) => Some(oid),
            Err(error) => {
                self.report(
                    Diagnostic::error(
                        Code::E0102,
                        literal.span,
                        format!("malformed OID `{}`", literal.text),
                    )
                    .label(error.to_string()),
                );
                None
            }
        }
    }

    /// A constant value is checked against its SNMP type now rather than on every audit.
    fn constant_fits(&mut self, value: &Node, snmp_type: SnmpType) {
        if let NodeKind::Const(constant @ (Const::Number(_) | Const::Str(_) | Const::Bool(_))) =
            &value.kind
            && let Err(message) = super::snmp_value::constant_as_snmp(constant, snmp_type)
        {
            self.report(
                Diagnostic::error(
                    Code::E0218,
                    value.span,
                    format!("this value cannot be {}", snmp_type.smi_name()),
                )
                .label(message),
            );
        }
    }

    fn expr(&mut self, expr: &Expr, scope: &mut Scope, flags: Flags) -> Option<Node> {
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
            ExprKind::Not(inner) => NodeKind::Not(Box::new(self.expr(inner, scope, flags)?)),
            ExprKind::Binary(op, lhs, rhs) => {
                let lhs_flags = Flags {
                    fallback: flags.fallback || *op == ast::BinOp::Coalesce,
                    ..flags
                };
                let lhs = self.expr(lhs, scope, lhs_flags);
                let rhs = self.expr(rhs, scope, flags);
                NodeKind::Binary(*op, Box::new(lhs?), Box::new(rhs?))
            }
            ExprKind::Call(name, args) => return self.call(name, args, expr.span, scope, flags),
        };
        Some(Node {
            kind,
            span: expr.span,
        })
    }

    fn string(&mut self, parts: &[StrPart], scope: &mut Scope, flags: Flags) -> Option<NodeKind> {
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

    fn path(
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

    fn unknown_root(&mut self, root: &Ident, scope: &Scope) {
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
    fn env(&mut self, path: &ast::Path, span: Span, flags: Flags) -> Option<Node> {
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

    fn call(
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
        Some(Node {
            kind: NodeKind::Call(builtin, compiled.into_iter().collect::<Option<Vec<_>>>()?),
            span,
        })
    }

    /// The query must be a constant string so that it compiles once, here.
    fn jsonpath(
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

fn arity(min: usize, max: usize) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if min == max {
        format!("{min} argument{}", plural(min))
    } else if max == usize::MAX {
        format!("at least {min} argument{}", plural(min))
    } else {
        format!("{min} or {max} arguments")
    }
}

fn seg(segment: &ast::Segment) -> Seg {
    match segment {
        ast::Segment::Key(key, _) => Seg::Key(key.clone()),
        ast::Segment::Index(index, _) => Seg::Index(*index),
    }
}
