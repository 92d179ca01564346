//! Errors of the Pandora sink: an agent that cannot become a valid data file, or a spool
//! write that failed (and left nothing behind).

use std::io;
use std::path::PathBuf;

/// Why an agent (with its name, as the record had it) could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The agent would make a file Pandora misreads or rejects; nothing was written.
    #[error("agent {agent:?}: {problem}")]
    Invalid { agent: String, problem: Problem },
    /// The clock is before 1970, so there is no `<seconds>` for the file name.
    #[error("agent {agent:?}: the time {now} is before the Unix epoch")]
    Clock { agent: String, now: String },
    /// Rendering into memory failed (cannot happen with a `Vec` buffer; kept typed).
    #[error("agent {agent:?}: cannot render the XML: {source}")]
    Render { agent: String, source: io::Error },
    #[error("agent {agent:?}: cannot create a temporary file in {dir}: {source}")]
    CreateTemp {
        agent: String,
        dir: PathBuf,
        source: io::Error,
    },
    #[error("agent {agent:?}: cannot write {path}: {source}")]
    Write {
        agent: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("agent {agent:?}: cannot rename {from} to {to}: {source}")]
    Rename {
        agent: String,
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    /// Every candidate name was taken (the same agent written very many times in a row).
    #[error("agent {agent:?}: no free data file name in {dir} from {first} on ({tries} tried)")]
    NoFreeName {
        agent: String,
        dir: PathBuf,
        first: String,
        tries: u32,
    },
}

impl SpoolError {
    /// The agent's name as the record had it.
    pub fn agent(&self) -> &str {
        match self {
            SpoolError::Invalid { agent, .. }
            | SpoolError::Clock { agent, .. }
            | SpoolError::Render { agent, .. }
            | SpoolError::CreateTemp { agent, .. }
            | SpoolError::Write { agent, .. }
            | SpoolError::Rename { agent, .. }
            | SpoolError::NoFreeName { agent, .. } => agent,
        }
    }

    /// The same error naming the agent `name` (the record's name rather than the cleaned one).
    pub(super) fn for_agent(mut self, name: &str) -> SpoolError {
        match &mut self {
            SpoolError::Invalid { agent, .. }
            | SpoolError::Clock { agent, .. }
            | SpoolError::Render { agent, .. }
            | SpoolError::CreateTemp { agent, .. }
            | SpoolError::Write { agent, .. }
            | SpoolError::Rename { agent, .. }
            | SpoolError::NoFreeName { agent, .. } => name.clone_into(agent),
        }
        self
    }
}

/// What makes an agent unfit for a Pandora data file. Names are shown after hygiene.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Pandora drops "data from an unnamed agent".
    #[error("the agent name is empty")]
    EmptyAgentName,
    #[error(
        "attribute name {0:?} is not a plain XML name (ASCII letter or `_`, then letters, digits, `_`, `-`, `.`; no `xml` prefix)"
    )]
    BadAttributeName(String),
    #[error("attribute {name:?} cannot be set by a rule: {why}")]
    ReservedAttribute { name: String, why: &'static str },
    /// XML forbids an attribute twice on one element: the file would be unparseable.
    #[error("attribute {0:?} is given twice")]
    DuplicateAttribute(String),
    #[error("module #{position} has an empty name")]
    EmptyModuleName { position: usize },
    #[error("module {0:?} appears twice; Pandora would merge them into one module")]
    DuplicateModule(String),
    #[error(
        "module {module:?}: field name {field:?} is not a plain XML name (ASCII letter or `_`, then letters, digits, `_`, `-`, `.`; no `xml` prefix)"
    )]
    BadFieldName { module: String, field: String },
    #[error(
        "module {module:?}: field {field:?} is written from the module itself (name, type, data) and cannot be a field"
    )]
    ReservedField { module: String, field: String },
}
