//! [`RuleSet`]: the loaded, checked rules, and everything callers do with them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ast::Span;
use super::diag::{Code, Diagnostic, Severity, SourceMap};
use super::eval::{self, EvalError, Explained, Params};
use super::load::{DEFAULT_RULES, LoadError, LoadOptions, read_dir};
use super::program::{Program, TrapIndex};
use super::{check, syntax};
use crate::record::{Agent, Trap};

/// A loaded, checked set of rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub(crate) program: Program,
    pub(crate) sources: SourceMap,
    warnings: Vec<Diagnostic>,
    /// Files of the rules folder that were not read (their warnings point at them).
    unread: Vec<String>,
}

impl RuleSet {
    /// Loads every `*.rules` file of the folder (or the embedded defaults) and checks them.
    pub fn load(options: &LoadOptions) -> Result<RuleSet, LoadError> {
        let (files, near_misses) = match &options.dir {
            Some(dir) => {
                let folder = read_dir(dir)?;
                (folder.files, folder.near_misses)
            }
            None => (
                DEFAULT_RULES
                    .iter()
                    .map(|(name, text)| (format!("<embedded>/{name}"), (*text).to_owned()))
                    .collect(),
                Vec::new(),
            ),
        };
        let mut rules = RuleSet::from_sources(files, &options.env)?;
        for path in near_misses {
            let id = rules.sources.add(path.clone(), String::new());
            rules.unread.push(path.clone());
            rules.warnings.push(
                Diagnostic::warning(
                    Code::W0205,
                    Span::new(id, 0, 0),
                    format!("{path} is not read: rules files end in `.rules`"),
                )
                .help("rename it to end in `.rules`, or move it out of the rules folder"),
            );
        }
        Ok(rules)
    }

    /// Loads rules from `(name, text)` pairs, as if they were files of one folder.
    pub fn from_sources(
        files: Vec<(String, String)>,
        env: &BTreeMap<String, String>,
    ) -> Result<RuleSet, LoadError> {
        let mut sources = SourceMap::default();
        let mut items = Vec::new();
        let mut diagnostics = Vec::new();
        for (name, text) in files {
            let id = sources.add(name, text);
            let text = sources.file(id).map(|f| f.text.as_str()).unwrap_or("");
            let (file_items, file_diagnostics) = syntax::parse_file(id, text);
            items.extend(file_items);
            diagnostics.extend(file_diagnostics);
        }
        let (mut program, check_diagnostics) =
            check::check(&items, &check::EnvSource { overrides: env });
        program.trap_index = TrapIndex::build(&program.traps);
        diagnostics.extend(check_diagnostics);
        diagnostics.sort_by_key(|d| (d.span.file, d.span.start));
        if diagnostics.iter().any(|d| d.severity == Severity::Error) {
            return Err(LoadError::new(diagnostics, sources));
        }
        Ok(RuleSet {
            program,
            sources,
            warnings: diagnostics,
            unread: Vec::new(),
        })
    }

    /// A run-time error as `check` shows load-time ones: the rule's line with a caret under
    /// the expression that failed, and what was being evaluated (`audit 2 (STLNK)`).
    pub fn render_error(&self, error: &EvalError, context: Option<&str>, color: bool) -> String {
        let mut diagnostic = Diagnostic::error(error.code, error.span, error.message.clone())
            .label("evaluated here");
        let mut while_doing = format!("in rule `{}`", error.rule);
        if let Some(subject) = &error.subject {
            while_doing.push_str(&format!(" for {subject}"));
        }
        if let Some(context) = context {
            while_doing.push_str(&format!(", evaluating {context}"));
        }
        diagnostic = diagnostic.note(while_doing);
        if error.code == crate::lang::diag::Code::E0301 {
            diagnostic = diagnostic.help("give a fallback with `??` where the value may be absent");
        }
        self.sources.render_each(&[diagnostic], color)
    }

    /// Diagnostics that did not stop the rules from loading.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The names of the files the rules were read from.
    pub fn files_read(&self) -> Vec<&str> {
        self.sources
            .files()
            .iter()
            .map(|f| f.name.as_str())
            .filter(|name| !self.unread.iter().any(|unread| unread == name))
            .collect()
    }

    /// The source files the rules came from.
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// Names of the agent mappings and trap bindings, in file order.
    pub fn rule_names(&self) -> Vec<&str> {
        self.program
            .agents
            .iter()
            .map(|a| a.name.as_str())
            .chain(self.program.traps.iter().map(|t| &*t.name))
            .collect()
    }

    /// Runs every agent mapping over a Mist document (`{"sites": [...]}`): one result per
    /// agent, in rule and document order. A failed agent does not stop the others.
    pub fn agents(&self, document: &Value, params: &Params) -> Vec<Result<Agent, EvalError>> {
        eval::run_agents(&self.program, &self.sources, document, params, false)
            .into_iter()
            .map(|r| r.map(|(agent, _)| agent))
            .collect()
    }

    /// Like [`agents`](Self::agents), with every output field explained.
    pub fn explain_agents(
        &self,
        document: &Value,
        params: &Params,
    ) -> Vec<Result<(Agent, Vec<Explained>), EvalError>> {
        eval::run_agents(&self.program, &self.sources, document, params, true)
    }

    /// Runs every trap binding over one normalised audit: one result per binding whose
    /// condition holds. An empty result means no binding matched.
    pub fn traps(&self, audit: &Value, params: &Params) -> Vec<Result<Trap, EvalError>> {
        eval::run_traps(&self.program, &self.sources, audit, params, false)
            .into_iter()
            .map(|r| r.map(|(trap, _)| trap))
            .collect()
    }

    /// Like [`traps`](Self::traps), with every object explained.
    pub fn explain_traps(
        &self,
        audit: &Value,
        params: &Params,
    ) -> Vec<Result<(Trap, Vec<Explained>), EvalError>> {
        eval::run_traps(&self.program, &self.sources, audit, params, true)
    }

    /// Every part of a Mist document the agent mappings can read (see [`super::reads`]).
    pub fn agent_reads(&self) -> super::ReadTree {
        super::reads::agent_reads(&self.program.agents)
    }

    pub fn has_agent_mappings(&self) -> bool {
        !self.program.agents.is_empty()
    }

    pub fn has_trap_bindings(&self) -> bool {
        !self.program.traps.is_empty()
    }
}
