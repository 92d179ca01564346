//! Atomic writes into the data server spool.
//!
//! The data server queues every file whose name matches `^(.*)[\._]\d+\.data$` and has no
//! guard against a file still being written: a half-written file fails to parse twice and
//! is quarantined as `*_BADXML`. So a data file only ever appears complete, by a rename:
//!
//! 1. a temporary file `.<md5>.<pid>.<random>.tmp` is created in the spool directory itself
//!    (a rename is atomic only within one filesystem; the leading dot and `.tmp` ending keep
//!    it out of the server's pattern; the process id tells a killed run's leftovers);
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
//!
//! [`SpoolBatch`] writes many agents (a whole organisation) the same way, but makes them
//! durable together: every temporary file is written, then one `syncfs` flushes them all,
//! then they are renamed and the directory is fsynced once. Ten thousand fsyncs would cost
//! seconds; one costs the same as the data. A batch also sweeps temporary files a run that
//! was killed before renaming left behind: those whose process is gone, whatever their
//! modification time says (a clock set back would otherwise keep them for ever).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use md5::{Digest, Md5};
use tempfile::TempPath;

use super::error::SpoolError;

/// How many successive numbers are tried when the agent's file name is taken.
const NAME_TRIES: u32 = 1000;

/// The lock key Pandora derives from the file name: the lowercase hex md5 of `agent_name`.
pub fn file_stem(agent_name: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut stem = String::with_capacity(32);
    for byte in Md5::digest(agent_name.as_bytes()) {
        stem.push(char::from(HEX[usize::from(byte >> 4)]));
        stem.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    stem
}

/// This process's id, asked of the kernel once rather than once a file.
fn process_id() -> u32 {
    static ID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *ID.get_or_init(std::process::id)
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
    let (temp, stem, seconds) = write_temp(dir, agent_name, now, write_body, true)?;
    let final_path = rename_under_free_name(temp, dir, &stem, seconds, agent_name)?;
    if let Err(error) = File::open(dir).and_then(|directory| directory.sync_all()) {
        tracing::warn!(dir = %dir.display(), %error, "cannot fsync the spool directory");
    }
    Ok(final_path)
}

/// Creates `.<md5>.<random>.tmp` in `dir`, writes and flushes the body (and fsyncs it when
/// `sync`), and closes it. Returns the temporary path (which removes the file if dropped),
/// the name's md5 stem and the seconds of `now`.
fn write_temp<F>(
    dir: &Path,
    agent_name: &str,
    now: &jiff::Zoned,
    write_body: F,
    sync: bool,
) -> Result<(TempPath, String, i64), SpoolError>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let seconds = now.timestamp().as_second();
    if seconds < 0 {
        return Err(SpoolError::Clock {
            agent: agent_name.to_owned(),
            now: now.to_string(),
        });
    }
    let stem = file_stem(agent_name);
    // The writer's process id in the name lets a later run tell a killed run's leftovers
    // from a running one's files without trusting modification times.
    let prefix = format!(".{stem}.{}.", process_id());
    let mut temp =
        temp_builder(&prefix)
            .tempfile_in(dir)
            .map_err(|source| SpoolError::CreateTemp {
                agent: agent_name.to_owned(),
                dir: dir.to_path_buf(),
                source,
            })?;
    let written = write_body(temp.as_file_mut())
        .and_then(|()| temp.as_file_mut().flush())
        .and_then(|()| {
            if sync {
                temp.as_file().sync_all()
            } else {
                Ok(())
            }
        });
    if let Err(source) = written {
        return Err(SpoolError::Write {
            agent: agent_name.to_owned(),
            path: temp.path().to_path_buf(),
            source,
        });
    }
    // Closed now (a batch may hold thousands); the path still removes the file if dropped.
    Ok((temp.into_temp_path(), stem, seconds))
}

/// Temporary files older than this are leftovers of a run that was killed: no run lasts it.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// Data files written together and made durable with one flush; see the module docs.
#[derive(Debug)]
pub struct SpoolBatch {
    dir: PathBuf,
    staged: Vec<Staged>,
}

#[derive(Debug)]
struct Staged {
    temp: TempPath,
    stem: String,
    seconds: i64,
    agent_name: String,
}

/// A data file written under its temporary name, not yet part of a batch. Files can be
/// written on several threads ([`stage_file`]) and added to the batch in order on one.
#[derive(Debug)]
pub struct StagedFile(Staged);

/// Writes one data file under its temporary name in `dir`, for [`SpoolBatch::add`]. If the
/// file is never added (or the batch never commits), dropping it removes it.
pub fn stage_file<F>(
    dir: &Path,
    agent_name: &str,
    now: &jiff::Zoned,
    write_body: F,
) -> Result<StagedFile, SpoolError>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let (temp, stem, seconds) = write_temp(dir, agent_name, now, write_body, false)?;
    Ok(StagedFile(Staged {
        temp,
        stem,
        seconds,
        agent_name: agent_name.to_owned(),
    }))
}

impl SpoolBatch {
    /// A batch writing into `dir`; removes stale temporary files first.
    pub fn new(dir: &Path) -> SpoolBatch {
        sweep_stale_temps(dir);
        SpoolBatch {
            dir: dir.to_path_buf(),
            staged: Vec::new(),
        }
    }

    /// Writes one data file under its temporary name; it appears at [`commit`](Self::commit).
    pub fn stage<F>(
        &mut self,
        agent_name: &str,
        now: &jiff::Zoned,
        write_body: F,
    ) -> Result<(), SpoolError>
    where
        F: FnOnce(&mut File) -> io::Result<()>,
    {
        let file = stage_file(&self.dir, agent_name, now, write_body)?;
        self.add(file);
        Ok(())
    }

    /// The files staged so far, as a batch of their own to commit now; this batch keeps
    /// staging the rest. Commits of the two keep staging order if the first goes first.
    pub fn split_staged(&mut self) -> SpoolBatch {
        SpoolBatch {
            dir: self.dir.clone(),
            staged: std::mem::take(&mut self.staged),
        }
    }

    /// Files staged and not yet committed.
    pub fn staged_len(&self) -> usize {
        self.staged.len()
    }

    /// The directory the batch writes into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds a file staged in this batch's directory; files are renamed in the order added.
    pub fn add(&mut self, file: StagedFile) {
        self.staged.push(file.0);
    }

    /// Flushes every staged file to disk at once, then renames each into place. One result
    /// per staged file, in staging order. If the flush fails nothing is renamed (and the
    /// temporary files are removed): no file appears that might not survive a crash.
    pub fn commit(self) -> Vec<Result<PathBuf, SpoolError>> {
        self.commit_until(None)
    }

    /// [`commit`](Self::commit), renaming nothing once `deadline` has passed: the files
    /// not yet renamed then are removed and reported as failures.
    pub fn commit_before(self, deadline: Instant) -> Vec<Result<PathBuf, SpoolError>> {
        self.commit_until(Some(deadline))
    }

    fn commit_until(self, deadline: Option<Instant>) -> Vec<Result<PathBuf, SpoolError>> {
        if self.staged.is_empty() {
            return Vec::new();
        }
        let flushed =
            File::open(&self.dir).and_then(|dir| rustix::fs::syncfs(&dir).map_err(io::Error::from));
        if let Err(error) = flushed {
            let message = error.to_string();
            return self
                .staged
                .into_iter()
                .map(|staged| {
                    Err(SpoolError::Write {
                        agent: staged.agent_name,
                        path: staged.temp.to_path_buf(),
                        source: io::Error::other(format!(
                            "cannot flush the spool to disk: {message}"
                        )),
                    })
                })
                .collect();
        }
        let results = self
            .staged
            .into_iter()
            .map(|staged| {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    // Dropping the temporary path removes the file.
                    return Err(SpoolError::Write {
                        agent: staged.agent_name,
                        path: staged.temp.to_path_buf(),
                        source: io::Error::other("the run's deadline passed before the rename"),
                    });
                }
                rename_under_free_name(
                    staged.temp,
                    &self.dir,
                    &staged.stem,
                    staged.seconds,
                    &staged.agent_name,
                )
            })
            .collect();
        if let Err(error) = File::open(&self.dir).and_then(|directory| directory.sync_all()) {
            tracing::warn!(dir = %self.dir.display(), %error, "cannot fsync the spool directory");
        }
        results
    }
}

/// Removes the temporary files of runs that are over: `.<md5>.<pid>.<random>.tmp` files
/// whose process is gone (or is this one, which has staged nothing yet), and files older
/// than [`STALE_TEMP_AGE`] (the older `.<md5>.<random>.tmp` names, and a live process id
/// that was reused). Failures only log: a leftover is harmless to the data server, which
/// ignores these names.
pub fn sweep_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    let own = std::process::id();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_temp_name(name) {
            continue;
        }
        let over = temp_pid(name).is_some_and(|pid| pid == own || !process_alive(pid));
        let old = || {
            entry
                .metadata()
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age > STALE_TEMP_AGE)
        };
        if over || old() {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed a stale temporary file")
                }
                Err(error) => {
                    tracing::warn!(file = %entry.path().display(), %error, "cannot remove a stale temporary file")
                }
            }
        }
    }
}

/// `.<32 hex digits>.<anything>.tmp`: the names this module gives temporary files.
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    rest.ends_with(".tmp")
        && rest.len() > 33
        && rest.as_bytes()[32] == b'.'
        && rest[..32].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The writer's process id in a temporary name `.<md5>.<pid>.<random>.tmp`, or `None` for
/// the older `.<md5>.<random>.tmp`.
fn temp_pid(name: &str) -> Option<u32> {
    let inner = name.get(34..)?.strip_suffix(".tmp")?;
    let (pid, random) = inner.split_once('.')?;
    if random.is_empty() || random.contains('.') {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` exists. Where `/proc` is not mounted nothing can be told, and
/// every process counts as alive (the age rule still sweeps).
fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Renames a closed temporary file to `<stem>.<seconds + n>.data` for the first free `n`.
fn rename_under_free_name(
    mut temp: TempPath,
    dir: &Path,
    stem: &str,
    seconds: i64,
    agent_name: &str,
) -> Result<PathBuf, SpoolError> {
    for offset in 0..i64::from(NAME_TRIES) {
        let candidate = dir.join(format!("{stem}.{}.data", seconds + offset));
        match temp.persist_noclobber(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(error) if error.error.kind() == io::ErrorKind::AlreadyExists => {
                temp = error.path;
            }
            // Dropping `error.path` removes the temporary file.
            Err(error) => {
                return Err(SpoolError::Rename {
                    agent: agent_name.to_owned(),
                    from: error.path.to_path_buf(),
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

/// Temporary files are `.<md5>.<pid>.<random>.tmp`: hidden, and outside the server's
/// pattern.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_and_data_names_are_not() {
        assert!(is_temp_name(".0123456789abcdef0123456789abcdef.Xy12ab.tmp"));
        assert!(!is_temp_name(
            "0123456789abcdef0123456789abcdef.1720605900.data"
        ));
        assert!(!is_temp_name(".0123456789abcdef0123456789abcdef.tmp.data"));
        assert!(!is_temp_name(".bashrc.tmp"));
    }

    #[test]
    fn batch_renames_every_staged_file_and_sweeps_stale_temps() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".0123456789abcdef0123456789abcdef.old.tmp");
        std::fs::write(&stale, "left by a killed run").unwrap();
        let old = SystemTime::now() - Duration::from_secs(7200);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let fresh = dir.path().join(".fedcba9876543210fedcba9876543210.new.tmp");
        std::fs::write(&fresh, "another run in flight").unwrap();

        let now: jiff::Zoned = "2024-07-10T10:05:00+00:00[UTC]".parse().unwrap();
        let mut batch = SpoolBatch::new(dir.path());
        assert!(!stale.exists(), "stale temporary file swept");
        assert!(
            fresh.exists(),
            "a recent temporary file may belong to a running job"
        );
        for name in ["a", "b", "a"] {
            batch
                .stage(name, &now, |file| file.write_all(name.as_bytes()))
                .unwrap();
        }
        let data_files = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".data")
                })
                .count()
        };
        assert_eq!(data_files(), 0, "nothing appears before the commit");
        let results = batch.commit();
        let paths: Vec<PathBuf> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(data_files(), 3);
        assert_eq!(
            paths[0].file_name().unwrap().to_string_lossy(),
            format!("{}.1720605900.data", file_stem("a"))
        );
        assert_eq!(
            paths[2].file_name().unwrap().to_string_lossy(),
            format!("{}.1720605901.data", file_stem("a"))
        );
        assert_eq!(std::fs::read_to_string(&paths[1]).unwrap(), "b");
    }

    #[test]
    fn temp_names_carry_the_writer_pid() {
        assert_eq!(
            temp_pid(".0123456789abcdef0123456789abcdef.4242.Xy12ab.tmp"),
            Some(4242)
        );
        // The older names, without a pid, even when the random part is all digits.
        assert_eq!(
            temp_pid(".0123456789abcdef0123456789abcdef.123456.tmp"),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        let now: jiff::Zoned = "2024-07-10T10:05:00+00:00[UTC]".parse().unwrap();
        let staged = stage_file(dir.path(), "a", &now, |file| file.write_all(b"x")).unwrap();
        let name = staged
            .0
            .temp
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(is_temp_name(&name), "{name}");
        assert_eq!(temp_pid(&name), Some(std::process::id()));
    }

    #[test]
    fn a_killed_runs_temps_are_swept_whatever_their_time() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has ended: its pid names a run that can no longer rename anything.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let future = SystemTime::now() + Duration::from_secs(86_400);
        let at = |name: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, "x").unwrap();
            // In the future: a clock set back since the file was written.
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(future)
                .unwrap();
            path
        };
        let killed = at(format!(
            ".0123456789abcdef0123456789abcdef.{dead}.aaaaaa.tmp"
        ));
        let ours = at(format!(
            ".0123456789abcdef0123456789abcdef.{}.bbbbbb.tmp",
            std::process::id()
        ));
        // pid 1 is alive and not ours: a run in flight, kept.
        let running = at(".0123456789abcdef0123456789abcdef.1.cccccc.tmp".to_owned());
        let legacy = at(".0123456789abcdef0123456789abcdef.dddddd.tmp".to_owned());
        let _batch = SpoolBatch::new(dir.path());
        assert!(!killed.exists(), "a dead process's temporary file is swept");
        assert!(
            !ours.exists(),
            "a leftover under this pid cannot be in flight"
        );
        assert!(
            running.exists(),
            "a live process's file may still be renamed"
        );
        assert!(legacy.exists(), "an unnamed writer's recent file is kept");
    }

    #[test]
    fn nothing_is_renamed_after_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let now: jiff::Zoned = "2024-07-10T10:05:00+00:00[UTC]".parse().unwrap();
        let mut batch = SpoolBatch::new(dir.path());
        batch.stage("a", &now, |file| file.write_all(b"x")).unwrap();
        let results = batch.commit_before(Instant::now());
        assert_eq!(results.len(), 1);
        let error = results.into_iter().next().unwrap().unwrap_err();
        assert!(error.to_string().contains("deadline"), "{error}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_split_batch_commits_in_staging_order_and_keeps_staging() {
        let dir = tempfile::tempdir().unwrap();
        let now: jiff::Zoned = "2024-07-10T10:05:00+00:00[UTC]".parse().unwrap();
        let mut batch = SpoolBatch::new(dir.path());
        batch.stage("a", &now, |file| file.write_all(b"1")).unwrap();
        batch.stage("b", &now, |file| file.write_all(b"2")).unwrap();
        let first = batch.split_staged();
        assert_eq!((first.staged_len(), batch.staged_len()), (2, 0));
        batch.stage("c", &now, |file| file.write_all(b"3")).unwrap();
        let written: Vec<PathBuf> = first
            .commit()
            .into_iter()
            .chain(batch.commit())
            .map(Result::unwrap)
            .collect();
        let bodies: Vec<String> = written
            .iter()
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect();
        assert_eq!(bodies, ["1", "2", "3"]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn dropped_batch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let now: jiff::Zoned = "2024-07-10T10:05:00+00:00[UTC]".parse().unwrap();
        let mut batch = SpoolBatch::new(dir.path());
        batch.stage("a", &now, |file| file.write_all(b"x")).unwrap();
        drop(batch);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
