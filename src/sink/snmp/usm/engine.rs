//! Our SNMP engine: its `snmpEngineID` (RFC 3411), `snmpEngineBoots` kept in a state
//! directory and incremented at every start, and `snmpEngineTime`, the seconds since then.
//!
//! For traps monbridge is the authoritative engine, and a manager discards an authenticated
//! trap whose (boots, time) is older than the latest it saw (RFC 3414 §3.2 step 7b): without
//! a persisted, growing boots counter, traps would vanish silently after a restart.

use std::fmt;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

/// IANA private enterprise number of the project (PMC-MIB lives under it).
pub const ENTERPRISE: u32 = 39059;

/// RFC 3411 engine ID format 4: text, at most 27 octets after the 5-octet prefix.
const TEXT_FORMAT: u8 = 4;
const MAX_TEXT_LEN: usize = 27;

/// `snmpEngineBoots` and `snmpEngineTime` stop at 2^31-1 (RFC 3414 §2.2.1).
pub const MAX_ENGINE_VALUE: u32 = i32::MAX as u32;

/// An `snmpEngineID`: 5 to 32 octets (RFC 3411 `SnmpEngineID`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngineId(Vec<u8>);

impl EngineId {
    pub fn new(bytes: Vec<u8>) -> Result<EngineId, EngineError> {
        if !(5..=32).contains(&bytes.len()) {
            return Err(EngineError::IdLength(bytes.len()));
        }
        Ok(EngineId(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for EngineId {
    /// `0x8000989304...`, as net-snmp's `createUser -e` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", self.to_hex())
    }
}

impl FromStr for EngineId {
    type Err = EngineError;

    /// Hex, with or without `0x`, colons or spaces between octets.
    fn from_str(text: &str) -> Result<EngineId, EngineError> {
        let trimmed = text.trim();
        let digits: String = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed)
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        if digits.is_empty()
            || !digits.len().is_multiple_of(2)
            || !digits.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(EngineError::IdHex(text.to_owned()));
        }
        let bytes = (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| EngineError::IdHex(text.to_owned()))?;
        EngineId::new(bytes)
    }
}

/// The default engine ID: enterprise 39059 with the RFC 3411 "text" format and the host
/// name, `80 00 98 93 04` + name (cut to 27 octets; `monbridge` when the name is empty).
pub fn default_engine_id(host_name: &str) -> EngineId {
    let mut bytes = (ENTERPRISE | 0x8000_0000).to_be_bytes().to_vec();
    bytes.push(TEXT_FORMAT);
    let text = if host_name.is_empty() {
        "monbridge"
    } else {
        host_name
    };
    bytes.extend(text.bytes().take(MAX_TEXT_LEN));
    EngineId(bytes)
}

/// Where the engine state lives unless `--state-dir` says otherwise:
/// `$XDG_STATE_HOME/monbridge`, else `$HOME/.local/state/monbridge`, else
/// `/var/lib/monbridge` (for service accounts without a home).
pub fn default_state_dir() -> PathBuf {
    let from_env = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(state) = from_env("XDG_STATE_HOME") {
        return PathBuf::from(state).join("monbridge");
    }
    if let Some(home) = from_env("HOME") {
        return PathBuf::from(home).join(".local/state/monbridge");
    }
    PathBuf::from("/var/lib/monbridge")
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("an SNMP engine ID has 5 to 32 octets, not {0}")]
    IdLength(usize),
    #[error("engine ID {0:?} is not hexadecimal octets (e.g. 0x80009893046777)")]
    IdHex(String),
    #[error("cannot create the state directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} does not hold a boots counter ({content:?}); restore it, or delete it only if the \
         managers are told to forget this engine (they discard traps with lower boots)",
        path.display()
    )]
    Corrupt { path: PathBuf, content: String },
    #[error(
        "snmpEngineBoots reached its maximum (2147483647) in {}: configure a new engine ID",
        path.display()
    )]
    BootsExhausted { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// An exclusive `flock` on `<boots file>.lock`, held while it lives (waits for the holder).
fn lock_boots(boots: &Path) -> Result<std::fs::File, EngineError> {
    let mut path = boots.as_os_str().to_owned();
    path.push(".lock");
    let path = PathBuf::from(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|source| EngineError::Write {
            path: path.clone(),
            source,
        })?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|errno| {
        EngineError::Write {
            path,
            source: errno.into(),
        }
    })?;
    Ok(file)
}

/// Our engine for this run: ID, the boots counter of this start, and the start instant.
#[derive(Debug, Clone)]
pub struct LocalEngine {
    pub id: EngineId,
    pub boots: u32,
    started: Instant,
}

impl LocalEngine {
    /// An engine with a given boots value, its clock starting now (tests and benchmarks).
    pub fn new(id: EngineId, boots: u32) -> LocalEngine {
        LocalEngine {
            id,
            boots,
            started: Instant::now(),
        }
    }

    /// Starts the engine: reads the boots counter of `id` from `state_dir` (0 when there is
    /// none), adds one and writes it back atomically (temporary file, rename, folder flushed) before any
    /// message is sent.
    pub fn start(id: EngineId, state_dir: &Path) -> Result<LocalEngine, EngineError> {
        std::fs::create_dir_all(state_dir).map_err(|source| EngineError::CreateDir {
            path: state_dir.to_owned(),
            source,
        })?;
        let path = boots_file(state_dir, &id);
        // Two processes starting the same engine at once (two `trap send` runs) must not
        // both read N and write N + 1: read, increment and write under an exclusive lock.
        let _guard = lock_boots(&path)?;
        let previous = match std::fs::read_to_string(&path) {
            Ok(content) => content
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|boots| *boots <= MAX_ENGINE_VALUE)
                .ok_or_else(|| EngineError::Corrupt {
                    path: path.clone(),
                    content: content.chars().take(40).collect(),
                })?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => 0,
            Err(source) => return Err(EngineError::Read { path, source }),
        };
        // RFC 3414 §2.2.2: at the maximum the engine must get a new ID; a message with
        // boots 2^31-1 is never timely.
        let boots = previous + 1;
        if boots >= MAX_ENGINE_VALUE {
            return Err(EngineError::BootsExhausted { path });
        }
        crate::files::replace(&path, format!("{boots}\n").as_bytes()).map_err(|source| {
            EngineError::Write {
                path: path.clone(),
                source,
            }
        })?;
        tracing::info!(engine_id = %id, boots, state = %path.display(), "SNMP engine started");
        Ok(LocalEngine::new(id, boots))
    }

    /// `snmpEngineTime`: whole seconds since this start, monotonic (never follows the wall
    /// clock backwards).
    pub fn time(&self) -> u32 {
        let seconds = self.started.elapsed().as_secs();
        seconds.min(u64::from(MAX_ENGINE_VALUE)) as u32
    }
}

/// `engine-<hex ID>.boots`: one counter per engine ID, so a changed `--engine-id` starts its
/// own count without touching the other's.
pub fn boots_file(state_dir: &Path, id: &EngineId) -> PathBuf {
    state_dir.join(format!("engine-{}.boots", id.to_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_started_at_once_each_get_their_own_boots() {
        let state = tempfile::tempdir().unwrap();
        let id = default_engine_id("gw-race");
        let mut boots: Vec<u32> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| LocalEngine::start(id.clone(), state.path()).unwrap()))
                .collect();
            starts
                .into_iter()
                .map(|s| s.join().unwrap().boots)
                .collect()
        });
        boots.sort_unstable();
        assert_eq!(boots, (1..=16).collect::<Vec<u32>>());
    }

    #[test]
    fn default_engine_id_is_rfc_3411_text_format() {
        let id = default_engine_id("gw-01");
        assert_eq!(id.to_hex(), "80009893046777 2d3031".replace(' ', ""));
        assert_eq!(default_engine_id(&"h".repeat(40)).as_bytes().len(), 32);
        assert_eq!(&default_engine_id("").as_bytes()[5..], b"monbridge");
    }

    #[test]
    fn engine_ids_parse_from_hex() {
        let id: EngineId = "0x80001f8880c71100000000000000000001".parse().unwrap();
        assert_eq!(id.as_bytes().len(), 17);
        assert_eq!(id.to_string(), "0x80001f8880c71100000000000000000001");
        assert_eq!(
            "80:00:98:93:04".parse::<EngineId>().unwrap().to_hex(),
            "8000989304"
        );
        assert!(matches!(
            "0x8000".parse::<EngineId>(),
            Err(EngineError::IdLength(2))
        ));
        assert!(matches!(
            "0x80zz989304".parse::<EngineId>(),
            Err(EngineError::IdHex(_))
        ));
        assert!(matches!(
            "800".parse::<EngineId>(),
            Err(EngineError::IdHex(_))
        ));
    }

    #[test]
    fn boots_grow_at_every_start_and_survive_in_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let id = default_engine_id("gw-01");
        assert_eq!(LocalEngine::start(id.clone(), &state).unwrap().boots, 1);
        assert_eq!(LocalEngine::start(id.clone(), &state).unwrap().boots, 2);
        let other = default_engine_id("gw-02");
        assert_eq!(LocalEngine::start(other, &state).unwrap().boots, 1);
        assert_eq!(
            std::fs::read_to_string(boots_file(&state, &id)).unwrap(),
            "2\n"
        );
        // Only the counters (and their lock files): no temporary file left behind.
        let mut names: Vec<String> = std::fs::read_dir(&state)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".boots.lock"))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                boots_file(&state, &id),
                boots_file(&state, &default_engine_id("gw-02"))
            ]
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        );
    }

    #[test]
    fn a_damaged_or_exhausted_counter_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let id = default_engine_id("gw-01");
        std::fs::write(boots_file(dir.path(), &id), "twelve\n").unwrap();
        assert!(matches!(
            LocalEngine::start(id.clone(), dir.path()),
            Err(EngineError::Corrupt { .. })
        ));
        std::fs::write(boots_file(dir.path(), &id), "2147483646\n").unwrap();
        assert!(matches!(
            LocalEngine::start(id, dir.path()),
            Err(EngineError::BootsExhausted { .. })
        ));
    }
}
