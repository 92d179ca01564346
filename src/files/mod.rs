//! Files that must survive a crash whole: atomic replacement, and the folder flush that makes
//! a rename durable. Every part of monbridge that replaces a file goes through here.

mod atomic;

pub use atomic::{AtomicFile, replace, sync_dir};
