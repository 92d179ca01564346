//! The semantic pass: resolves names, checks what the grammar cannot, and lowers the AST
//! into the [`Program`] the interpreter runs. It reports every problem it finds, never
//! only the first.

mod agent;
mod expr;
mod trap;
mod types;
mod warnings;

use std::collections::{BTreeMap, HashMap};

use super::program::*;

use super::ast::{self, Item, Span};
use super::diag::{Code, Diagnostic, Severity};
use crate::record::Oid;

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
        notifications: Vec::new(),
        unknown_blocks: std::collections::HashSet::new(),
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
    checker.shared_notifications();
    // An `objects` block is checked with every binding that uses it: one mistake in it would
    // otherwise be reported once per `use`.
    let mut seen = std::collections::HashSet::new();
    let mut diagnostics = checker.diagnostics;
    diagnostics.retain(|d| seen.insert((d.code, d.span, d.message.clone())));
    (program, diagnostics)
}

struct Checker<'a> {
    env: &'a EnvSource<'a>,
    diagnostics: Vec<Diagnostic>,
    blocks: HashMap<String, &'a ast::ObjectsBlock>,
    /// Each trap binding's notification OID, where it is written, and the binding's name.
    notifications: Vec<(Oid, Span, String)>,
    /// Block names `use` asked for that do not exist, already reported.
    unknown_blocks: std::collections::HashSet<String>,
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

    /// Errors reported so far (warnings do not stop a rule from compiling).
    fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
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
