//! The dead-letter file: JSON lines for what the daemon accepted but cannot deliver (audits the
//! rules cannot evaluate, notifications a destination cannot encode, intake lines that are not
//! audits). Each line is flushed before the audit is acknowledged, so none is lost. The file
//! (0600) and a folder created for it (0700) are private: dead letters hold whole audits.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::files::{AppendError, JsonLines};

/// Appends dead letters to one file, opened on the first one.
#[derive(Debug)]
pub struct DeadLetter {
    path: PathBuf,
    lines: Mutex<JsonLines>,
}

impl DeadLetter {
    pub fn new(path: &Path) -> DeadLetter {
        DeadLetter {
            path: path.to_owned(),
            lines: Mutex::new(
                JsonLines::new("dead-letter file", path)
                    .synced()
                    .creating_folder()
                    .private(),
            ),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `{"time", "reason", "origin", "item"}` as one line and flushes it to disk.
    /// `origin` says where it came from (`http`, `stdin`, `fledge`, `destination nms-a`).
    pub fn record(&self, origin: &str, reason: &str, item: &Value) -> Result<(), AppendError> {
        let line = json!({
            "time": jiff::Timestamp::now().to_string(),
            "reason": reason,
            "origin": origin,
            "item": item,
        });
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(&line)
    }
}
