//! The dead-letter file: JSON lines for what the daemon accepted but cannot deliver (audits the
//! rules cannot evaluate, notifications a destination cannot encode, intake lines that are not
//! audits). Each line is flushed before the audit is acknowledged, so none is lost.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
#[error("cannot write the dead-letter file {}: {source}", path.display())]
pub struct DeadLetterError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Appends dead letters to one file, opened on the first one.
#[derive(Debug)]
pub struct DeadLetter {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl DeadLetter {
    pub fn new(path: &Path) -> DeadLetter {
        DeadLetter {
            path: path.to_owned(),
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `{"time", "reason", "origin", "item"}` as one line and flushes it to disk.
    /// `origin` says where it came from (`http`, `stdin`, `fledge`, `destination nms-a`).
    pub fn record(&self, origin: &str, reason: &str, item: &Value) -> Result<(), DeadLetterError> {
        let failed = |source| DeadLetterError {
            path: self.path.clone(),
            source,
        };
        let mut line = json!({
            "time": jiff::Timestamp::now().to_string(),
            "reason": reason,
            "origin": origin,
            "item": item,
        })
        .to_string();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if file.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent).map_err(failed)?;
            }
            *file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .map_err(failed)?,
            );
        }
        if let Some(file) = file.as_mut() {
            // One write per line in append mode: a whole line lands, or the write fails.
            file.write_all(line.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(failed)?;
        }
        Ok(())
    }
}
