//! Atomic replacement: the new content goes to a temporary file in the destination's own
//! folder (a rename is atomic only within one file system), is flushed to disk, renamed over
//! the destination, and the folder is flushed so the new name survives a crash. A reader sees
//! the old file or the new one, never a mix; a failed write leaves no file behind.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file being written, that replaces its destination only on [`commit`](Self::commit).
/// Dropped without a commit, the temporary file is removed and the destination is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    temporary: NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts a replacement of `path`, private to the user (0600).
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        AtomicFile::create_with_mode(path, None)
    }

    /// Starts a replacement of `path` whose file will have `mode` (less the umask), for files
    /// that others read, such as packages.
    pub fn create_with_mode(path: &Path, mode: Option<u32>) -> io::Result<AtomicFile> {
        let dir = parent_of(path);
        // `.<name>.<random>.tmp`: hidden, and distinct from anything the folder's readers match.
        let prefix = format!(
            ".{}.",
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        #[cfg(not(unix))]
        let _ = mode;
        Ok(AtomicFile {
            temporary: builder.tempfile_in(dir)?,
            path: path.to_owned(),
        })
    }

    /// The temporary file, for writers that also seek (zip) or ask its size.
    pub fn as_file_mut(&mut self) -> &mut File {
        self.temporary.as_file_mut()
    }

    /// Flushes the content, renames it over the destination and flushes the folder.
    pub fn commit(self) -> io::Result<()> {
        self.temporary.as_file().sync_all()?;
        let dir = parent_of(&self.path).to_owned();
        self.temporary
            .persist(&self.path)
            .map_err(|error| error.error)?;
        sync_dir(&dir)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.temporary.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temporary.flush()
    }
}

/// Replaces `path` with `bytes` atomically and durably.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Flushes a folder, so the names created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_swaps_the_whole_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor");
        replace(&path, b"old\n").unwrap();
        replace(&path, b"new\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("cursor")]);
    }

    #[test]
    fn an_uncommitted_file_leaves_the_destination_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("package.pspz2");
        std::fs::write(&path, b"before").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"half").unwrap();
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"before");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_mode_is_kept_through_the_rename() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared");
        let mut file = AtomicFile::create_with_mode(&path, Some(0o644)).unwrap();
        file.write_all(b"x").unwrap();
        file.commit().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // At most 0644 (the umask may take bits away), at least the owner's read and write.
        assert_eq!(mode & !0o644, 0);
        assert_eq!(mode & 0o600, 0o600);
        replace(&dir.path().join("private"), b"x").unwrap();
        let private = std::fs::metadata(dir.path().join("private")).unwrap();
        assert_eq!(private.permissions().mode() & 0o777, 0o600);
    }
}
