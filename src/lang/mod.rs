//! The rules language: syntax (pest) → AST (spanned, no pest types) → semantic check →
//! a loaded [`RuleSet`] the interpreter in [`crate::eval`] runs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

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
pub struct RuleSet {}

impl RuleSet {
    pub fn load(_options: &LoadOptions) -> Result<RuleSet, LoadError> {
        Err(LoadError {
            rendered: "the rules language is not built yet".into(),
        })
    }
}

/// Rules that did not load: every diagnostic of every file.
#[derive(Debug)]
pub struct LoadError {
    rendered: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered)
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// The diagnostics as text, with colour for a terminal.
    pub fn render(&self, _color: bool) -> String {
        self.rendered.clone()
    }
}
