//! The interpreter: evaluates a [`RuleSet`] over a document into records.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::lang::RuleSet;
use crate::record::{Agent, Trap};

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
#[error("{location}: rule `{rule}`: {message}")]
pub struct EvalError {
    pub rule: String,
    /// `file:line:col` of the expression that failed.
    pub location: String,
    pub message: String,
}

impl RuleSet {
    /// Runs every agent mapping over a Mist document (`{"sites": [...]}`): one result per
    /// agent, in rule and document order. A failed agent does not stop the others.
    pub fn agents(&self, _document: &Value, _params: &Params) -> Vec<Result<Agent, EvalError>> {
        Vec::new()
    }

    /// Runs every trap binding over one normalised audit: one result per binding whose
    /// condition holds. An empty result means no binding matched.
    pub fn traps(&self, _audit: &Value, _params: &Params) -> Vec<Result<Trap, EvalError>> {
        Vec::new()
    }
}
