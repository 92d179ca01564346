//! Pandora FMS agent XML files, written atomically into the data server spool.

use std::path::{Path, PathBuf};

use crate::record::Agent;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SpoolError {
    pub message: String,
}

/// The agent as a Pandora data file; `now` is the server's local time.
pub fn render_agent(_agent: &Agent, _now: &jiff::Zoned) -> Result<String, SpoolError> {
    Err(SpoolError {
        message: "not built yet".into(),
    })
}

/// Writes the agent's data file into `dir` atomically; returns the final path.
pub fn write_agent(_dir: &Path, _agent: &Agent, _now: &jiff::Zoned) -> Result<PathBuf, SpoolError> {
    Err(SpoolError {
        message: "not built yet".into(),
    })
}
