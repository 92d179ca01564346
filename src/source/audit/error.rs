//! Errors for audit inputs: where in the input (line, list index) and what is wrong with it.

use std::fmt;

/// An input that is not an audit Fledge could have produced.
///
/// `message` is the whole human-readable text (position included); `position` and `kind`
/// give the same facts to code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct AuditError {
    pub message: String,
    pub position: Position,
    pub kind: AuditErrorKind,
}

impl AuditError {
    pub fn new(position: Position, kind: AuditErrorKind) -> Self {
        let message = if position.is_whole_input() {
            kind.to_string()
        } else {
            format!("{position}: {kind}")
        };
        AuditError {
            message,
            position,
            kind,
        }
    }

    /// The whole message, position included.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Where an audit sits in the input: its line (JSON lines, 1-based) and/or its index in a
/// list (0-based, as in JSON). Both absent: the input as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub line: Option<usize>,
    pub index: Option<usize>,
}

impl Position {
    pub const WHOLE_INPUT: Position = Position {
        line: None,
        index: None,
    };

    pub fn line(line: usize) -> Self {
        Position {
            line: Some(line),
            index: None,
        }
    }

    pub fn with_index(self, index: usize) -> Self {
        Position {
            index: Some(index),
            ..self
        }
    }

    pub fn is_whole_input(&self) -> bool {
        self.line.is_none() && self.index.is_none()
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.index) {
            (Some(line), Some(index)) => write!(f, "line {line}, index {index}"),
            (Some(line), None) => write!(f, "line {line}"),
            (None, Some(index)) => write!(f, "index {index}"),
            (None, None) => f.write_str("input"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditErrorKind {
    #[error("input is {size} bytes, more than the {limit}-byte limit (16 MiB)")]
    InputTooLarge { size: usize, limit: usize },
    #[error(
        "input is empty: expected an audit, a list of audits, a Fledge audit list response or JSON lines"
    )]
    Empty,
    /// `offset` counts bytes from the start of the whole input.
    #[error("invalid UTF-8 at byte offset {offset}")]
    InvalidUtf8 { offset: usize },
    /// `detail` is serde_json's message with the line and column.
    #[error("not JSON: {detail}")]
    NotJson { detail: String },
    #[error("truncated JSON: {detail}")]
    TruncatedJson { detail: String },
    /// A line, or a value spanning lines, longer than a document may be (read in a stream,
    /// where the size of what follows is not known).
    #[error("document is more than the {limit}-byte limit (16 MiB)")]
    DocumentTooLarge { limit: usize },
    #[error("audit is {size} bytes, more than the {limit}-byte limit (1 MiB)")]
    AuditTooLarge { size: usize, limit: usize },
    /// Well-formed JSON that is not a valid audit; every problem found is listed.
    #[error("{}", join_problems(problems))]
    Invalid { problems: Vec<Problem> },
}

fn join_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One thing wrong with an audit. `field` is the path of the offending value inside the
/// audit as received (`details.nameService`, `data.STLNK.level`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("expected an audit object, found {found}")]
    NotAnObject { found: &'static str },
    #[error(
        "not a Fledge audit: expected the keys source/severity/details/timestamp (REST), \
         code/level/log (storage) or reason/data (notification); found {keys}"
    )]
    UnknownShape { keys: String },
    #[error("{field} is missing")]
    Missing { field: String },
    #[error("{field} is {found}, expected {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{field} {value} is not a 5-character audit code (letters A-Z and digits)")]
    BadCode { field: String, value: String },
    #[error("{field} {value} differs from the data key {code} it is filed under")]
    CodeMismatch {
        field: String,
        value: String,
        code: String,
    },
    #[error(
        "{field} {value} is unknown (expected SUCCESS, FAILURE, WARNING, INFORMATION or UNKNOWN)"
    )]
    UnknownSeverity { field: String, value: String },
    /// A level that is not a whole number: any integer has a name (`UNKNOWN` at worst).
    #[error(
        "{field} {value} is not a level: expected a whole number (0 SUCCESS, 1 FAILURE, \
         2 WARNING, 4 INFORMATION, any other UNKNOWN)"
    )]
    UnknownLevel { field: String, value: String },
    #[error("{field} {value} is not a date and time: {reason}")]
    BadTimestamp {
        field: String,
        value: String,
        reason: String,
    },
    #[error("{field} is {size} bytes, more than the {limit}-byte limit")]
    DetailTooLong {
        field: String,
        size: usize,
        limit: usize,
    },
    #[error("{field} nests deeper than the {limit}-level limit for details")]
    DetailTooDeep { field: String, limit: usize },
    #[error("both details and detail are present; give one")]
    BothDetails,
    #[error("data holds no audit entry (only timestamps or nothing)")]
    NoAuditData,
}
