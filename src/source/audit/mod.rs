//! Fledge audit entries in any of their shapes, normalised to the document trap bindings read.

use serde_json::Value;

/// An input that is not an audit Fledge could have produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct AuditError {
    pub message: String,
}

/// Splits an input (one audit, a REST list response, or JSON lines) into normalised audit
/// documents `{source, severity, detail, timestamp}`, one result per audit found.
pub fn decode_input(_bytes: &[u8]) -> Vec<Result<Value, AuditError>> {
    Vec::new()
}
