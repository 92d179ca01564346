//! The rules language: syntax (pest) → AST (spanned, no pest types) → semantic check →
//! a loaded [`RuleSet`] the interpreter in [`crate::eval`] runs.

pub mod ast;
pub mod check;
pub mod diag;
pub mod syntax;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::eval::program::Program;
use ast::Span;
use diag::{Code, Diagnostic, Severity, SourceMap};

/// A rules file larger than this is refused: rules are written by hand, and the limit keeps
/// spans within `u32` and a mistaken path (a log file, a binary) from being parsed.
pub const MAX_RULES_FILE: usize = 4 * 1024 * 1024;

/// The default rules, embedded so the binary works with no rules folder at all.
pub const DEFAULT_RULES: [(&str, &str); 2] = [
    ("audit.rules", include_str!("../../rules/audit.rules")),
    ("mist.rules", include_str!("../../rules/mist.rules")),
];

/// Where rules come from and how `env.*` resolves.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Folder whose `*.rules` files are loaded; `None` means the defaults embedded in the binary.
    pub dir: Option<PathBuf>,
    /// `env.NAME` values that take precedence over the process environment (tests, `--env`).
    pub env: BTreeMap<String, String>,
}

/// A loaded, checked set of rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub(crate) program: Program,
    pub(crate) sources: SourceMap,
    warnings: Vec<Diagnostic>,
}

impl RuleSet {
    /// Loads every `*.rules` file of the folder (or the embedded defaults) and checks them.
    pub fn load(options: &LoadOptions) -> Result<RuleSet, LoadError> {
        let files = match &options.dir {
            Some(dir) => read_dir(dir)?,
            None => DEFAULT_RULES
                .iter()
                .map(|(name, text)| (format!("<embedded>/{name}"), (*text).to_owned()))
                .collect(),
        };
        RuleSet::from_sources(files, &options.env)
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
        program.trap_index = crate::eval::program::TrapIndex::build(&program.traps);
        diagnostics.extend(check_diagnostics);
        diagnostics.sort_by_key(|d| (d.span.file, d.span.start));
        if diagnostics.iter().any(|d| d.severity == Severity::Error) {
            return Err(LoadError {
                diagnostics,
                sources,
            });
        }
        Ok(RuleSet {
            program,
            sources,
            warnings: diagnostics,
        })
    }

    /// Diagnostics that did not stop the rules from loading.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
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
}

fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, LoadError> {
    let file_error = |name: String, message: String| {
        let mut sources = SourceMap::default();
        let id = sources.add(name, String::new());
        LoadError {
            diagnostics: vec![Diagnostic::error(Code::E0104, Span::new(id, 0, 0), message)],
            sources,
        }
    };
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        file_error(
            shown.clone(),
            format!("cannot read the rules folder {shown}: {e}"),
        )
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rules") && path.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(file_error(
            shown.clone(),
            format!("the rules folder {shown} has no *.rules file"),
        ));
    }
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path.display().to_string();
        let bytes = std::fs::read(&path)
            .map_err(|e| file_error(name.clone(), format!("cannot read {name}: {e}")))?;
        if bytes.len() > MAX_RULES_FILE {
            return Err(file_error(
                name.clone(),
                format!(
                    "{name} is {} bytes; rules files are limited to {MAX_RULES_FILE}",
                    bytes.len()
                ),
            ));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            file_error(
                name.clone(),
                format!(
                    "{name} is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        files.push((name, text));
    }
    Ok(files)
}

/// Rules that did not load: every diagnostic of every file.
#[derive(Debug)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
    sources: SourceMap,
}

impl LoadError {
    /// The diagnostics as text, with colour for a terminal.
    pub fn render(&self, color: bool) -> String {
        self.sources.render(&self.diagnostics, color)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render(false).trim_end())
    }
}

impl std::error::Error for LoadError {}
