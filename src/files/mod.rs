//! Files that must survive a crash whole: atomic replacement, and the folder flush that makes
//! a rename durable (every part of monbridge that replaces a file goes through here); and
//! append-only JSON-lines files, where each record is one whole line.

mod atomic;
mod json_lines;

pub use atomic::{AtomicFile, replace, sync_dir};
pub use json_lines::{AppendError, JsonLines};
