//! Atomic writes into the data server spool.
//!
//! The data server queues every file whose name matches `^(.*)[\._]\d+\.data$` and has no
//! guard against a file still being written: a half-written file fails to parse twice and
//! is quarantined as `*_BADXML`. So a data file only ever appears complete, by a rename:
//!
//! 1. a temporary file `.<md5>.<random>.tmp` is created in the spool directory itself (a
//!    rename is atomic only within one filesystem; the leading dot and `.tmp` ending keep
//!    it out of the server's pattern);
//! 2. the body is written, flushed and fsynced, so the rename never exposes data still in
//!    flight;
//! 3. it is renamed, without replacing anything, to `<md5 of agent_name>.<unix seconds>.data`
//!    (the name Pandora's own agent and plugin tools use: the md5 keeps site names out of
//!    file names and gives the server one lock key per agent). If that name is taken (the
//!    same agent twice in one second) the next second's number is tried, which keeps the
//!    lock key; the XML `timestamp`, not the file name, dates the data;
//! 4. the directory is fsynced so the new name survives a crash (a failure there is only
//!    logged: the file is already complete and visible).
//!
//! On any error before the rename the temporary file is removed, so nothing partial is
//! ever left behind.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use tempfile::NamedTempFile;

use super::error::SpoolError;

/// How many successive numbers are tried when the agent's file name is taken.
const NAME_TRIES: u32 = 1000;

/// The lock key Pandora derives from the file name: the lowercase hex md5 of `agent_name`.
pub fn file_stem(agent_name: &str) -> String {
    Md5::digest(agent_name.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Writes a data file for `agent_name` atomically into `dir` and returns its final path.
///
/// `write_body` writes the file's content into the temporary file. If it fails, or any
/// later step does, the temporary file is removed and no `.data` file appears: the data
/// file comes into existence only through the final rename.
pub fn write_data_file<F>(
    dir: &Path,
    agent_name: &str,
    now: &jiff::Zoned,
    write_body: F,
) -> Result<PathBuf, SpoolError>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let agent = || agent_name.to_owned();
    let seconds = now.timestamp().as_second();
    if seconds < 0 {
        return Err(SpoolError::Clock {
            agent: agent(),
            now: now.to_string(),
        });
    }
    let stem = file_stem(agent_name);

    let prefix = format!(".{stem}.");
    let mut temp =
        temp_builder(&prefix)
            .tempfile_in(dir)
            .map_err(|source| SpoolError::CreateTemp {
                agent: agent(),
                dir: dir.to_path_buf(),
                source,
            })?;
    let written = write_body(temp.as_file_mut())
        .and_then(|()| temp.as_file_mut().flush())
        .and_then(|()| temp.as_file().sync_all());
    if let Err(source) = written {
        return Err(SpoolError::Write {
            agent: agent(),
            path: temp.path().to_path_buf(),
            source,
        });
    }

    let final_path = persist_under_free_name(temp, dir, &stem, seconds, agent_name)?;
    if let Err(error) = File::open(dir).and_then(|directory| directory.sync_all()) {
        tracing::warn!(dir = %dir.display(), %error, "cannot fsync the spool directory");
    }
    Ok(final_path)
}

/// Renames `temp` to `<stem>.<seconds + n>.data` for the first `n` whose name is free.
fn persist_under_free_name(
    mut temp: NamedTempFile,
    dir: &Path,
    stem: &str,
    seconds: i64,
    agent_name: &str,
) -> Result<PathBuf, SpoolError> {
    for offset in 0..i64::from(NAME_TRIES) {
        let candidate = dir.join(format!("{stem}.{}.data", seconds + offset));
        match temp.persist_noclobber(&candidate) {
            Ok(_) => return Ok(candidate),
            Err(error) if error.error.kind() == io::ErrorKind::AlreadyExists => {
                temp = error.file;
            }
            // Dropping `error.file` removes the temporary file.
            Err(error) => {
                return Err(SpoolError::Rename {
                    agent: agent_name.to_owned(),
                    from: error.file.path().to_path_buf(),
                    to: candidate,
                    source: error.error,
                });
            }
        }
    }
    Err(SpoolError::NoFreeName {
        agent: agent_name.to_owned(),
        dir: dir.to_path_buf(),
        first: format!("{stem}.{seconds}.data"),
        tries: NAME_TRIES,
    })
}

/// Temporary files are `.<md5>.<random>.tmp`: hidden, and outside the server's pattern.
fn temp_builder(prefix: &str) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp");
    // The data server often runs as another user than the writer: the file gets the usual
    // 0644 (less the umask) instead of the temporary file's private 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder
}
