//! Append-only files of JSON lines (`trap send --reject`, the daemon's dead letters): one
//! JSON value per line, added at the end, never rewritten. The file is opened on the first
//! line, so a run with nothing to record leaves no file behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A line could not be appended. `what` names the file as its users know it ("reject file").
#[derive(Debug, thiserror::Error)]
#[error("cannot write the {what} {}: {source}", path.display())]
pub struct AppendError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// One JSON-lines file, appended to.
#[derive(Debug)]
pub struct JsonLines {
    what: &'static str,
    path: PathBuf,
    file: Option<File>,
    sync: bool,
    create_folder: bool,
    private: bool,
    written: usize,
}

impl JsonLines {
    /// Lines go to `path`; `what` names the file in errors.
    pub fn new(what: &'static str, path: &Path) -> JsonLines {
        JsonLines {
            what,
            path: path.to_owned(),
            file: None,
            sync: false,
            create_folder: false,
            private: false,
            written: 0,
        }
    }

    /// Each line is flushed to disk before [`append`](Self::append) returns, for records that
    /// must survive a crash once the caller has acted on them.
    pub fn synced(mut self) -> JsonLines {
        self.sync = true;
        self
    }

    /// The file's folder is created on the first line when missing.
    pub fn creating_folder(mut self) -> JsonLines {
        self.create_folder = true;
        self
    }

    /// The file (0600) and the folders created for it (0700) are private to the user, for
    /// records that may hold what others must not read.
    pub fn private(mut self) -> JsonLines {
        self.private = true;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines appended so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Appends `value` as one line.
    pub fn append(&mut self, value: &Value) -> Result<(), AppendError> {
        let mut line = value.to_string();
        line.push('\n');
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let opened = self.open().map_err(|source| AppendError {
                    what: self.what,
                    path: self.path.clone(),
                    source,
                })?;
                self.file.insert(opened)
            }
        };
        // One write per line in append mode: a whole line lands, or the write fails. A line
        // cut short (a full disk) is cut off again, so the next line starts on a line of its
        // own.
        let before = file.metadata().map(|m| m.len());
        let mut written = file.write_all(line.as_bytes());
        if written.is_err()
            && let Ok(before) = before
        {
            let _ = file.set_len(before);
        }
        if self.sync {
            written = written.and_then(|()| file.sync_data());
        }
        written.map_err(|source| AppendError {
            what: self.what,
            path: self.path.clone(),
            source,
        })?;
        self.written += 1;
        Ok(())
    }

    fn open(&self) -> io::Result<File> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let (folder_mode, file_mode) = if self.private {
            (0o700, 0o600)
        } else {
            (0o777, 0o666)
        };
        if self.create_folder
            && let Some(parent) = self.path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(folder_mode)
                .create(parent)?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(file_mode)
            .open(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_are_appended_whole_after_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.jsonl");
        std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
        let mut lines = JsonLines::new("test file", &path).synced();
        lines
            .append(&json!({"text": "a \"quote\"\nand a newline"}))
            .unwrap();
        lines.append(&json!(2)).unwrap();
        assert_eq!(lines.written(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let values: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(
            values,
            [
                json!({"earlier": true}),
                json!({"text": "a \"quote\"\nand a newline"}),
                json!(2)
            ]
        );
    }

    #[test]
    fn no_file_is_created_before_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.jsonl");
        let lines = JsonLines::new("test file", &path);
        assert_eq!(lines.written(), 0);
        assert!(!path.exists());
    }

    #[test]
    fn the_folder_is_created_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/lines.jsonl");
        let error = JsonLines::new("test file", &path)
            .append(&json!(1))
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot write the test file {}: ", path.display())),
            "{error}"
        );
        JsonLines::new("test file", &path)
            .creating_folder()
            .append(&json!(1))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
    }
}
