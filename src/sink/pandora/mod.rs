//! Pandora FMS agent XML files, written atomically into the data server spool.
//!
//! One [`Agent`] record becomes one data file that Pandora's data server picks up from its
//! spool (`/var/spool/pandora/data_in` by default) and parses with Perl `XML::Simple`, as
//! `XMLin($file, forcearray => 'module')`.
//!
//! # Attributes versus child elements
//!
//! With that call every child element is read as an array, while attributes stay plain
//! values, and the server reads each side differently: agent fields straight from the hash
//! (`$data->{agent_name}`), module fields through a helper that only accepts the array
//! form. So agent fields (`agent_name`, then the record's attributes in order, then
//! `timestamp`) are attributes of `<agent_data>`, and module fields (`name`, `type`, `data`,
//! then the record's fields in order) are child elements of `<module>`. Written the other
//! way round, Pandora would silently ignore them.
//!
//! # Why CDATA
//!
//! Module text (device names, descriptions, values) comes from outside and holds `&`, `<`,
//! quotes and the like. CDATA keeps it readable in the file; a `]]>` inside it is split
//! across two sections, which parsers join back. Attribute values cannot use CDATA, so
//! they are escaped (all five entities). Characters XML 1.0 forbids are removed from every
//! value, since one of them makes the file unparseable and Pandora quarantines it as
//! `*_BADXML`; see [`hygiene`] for the exact rules.
//!
//! # Validation
//!
//! An agent that would yield a file Pandora rejects or misreads is refused with
//! [`SpoolError::Invalid`], naming the agent and the [`Problem`], and nothing is written:
//! an empty agent name, an empty or repeated module name (Pandora would merge the
//! modules), attribute or field names that are not plain XML names, the root attributes
//! that change what the file means (`server_name`, `connection_source`, `ipam_source`), and
//! fields named like the fixed children (`name`, `type`, `data`, `datalist`).
//!
//! # Why a temporary file and a rename
//!
//! The server reads any file matching its pattern as soon as it sees it, complete or not,
//! so data files are only ever created by an atomic rename of a fully written and fsynced
//! temporary file; see [`spool`].

pub mod error;
pub mod hygiene;
pub mod spool;
mod validate;
mod xml;

use std::path::{Path, PathBuf};

use crate::record::Agent;

pub use error::{Problem, SpoolError};
pub use spool::{SpoolBatch, StagedFile, file_stem, stage_file, write_data_file};

/// The agent as a Pandora data file; `now` is the server's local time.
///
/// `now` gives the `timestamp` attribute (`YYYY/MM/DD HH:MM:SS` in `now`'s own time zone,
/// which the data server reads as its local time) unless the agent's attributes set one.
pub fn render_agent(agent: &Agent, now: &jiff::Zoned) -> Result<String, SpoolError> {
    let clean = validate::clean(agent)?;
    xml::render(&clean, now).map_err(|source| SpoolError::Render {
        agent: agent.name.clone(),
        source,
    })
}

/// Stages the agent's data file in a batch: it appears, with the batch's others, on commit.
pub fn stage_agent(
    batch: &mut SpoolBatch,
    agent: &Agent,
    now: &jiff::Zoned,
) -> Result<(), SpoolError> {
    let file = stage_agent_file(batch.dir(), agent, now)?;
    batch.add(file);
    Ok(())
}

/// Renders the agent and writes it under a temporary name in `dir`, for
/// [`SpoolBatch::add`]; safe to run on several threads at once.
pub fn stage_agent_file(
    dir: &Path,
    agent: &Agent,
    now: &jiff::Zoned,
) -> Result<StagedFile, SpoolError> {
    let clean = validate::clean(agent)?;
    let xml = xml::render(&clean, now).map_err(|source| SpoolError::Render {
        agent: agent.name.clone(),
        source,
    })?;
    stage_file(dir, &clean.name, now, |file| {
        std::io::Write::write_all(file, xml.as_bytes())
    })
    .map_err(|error| error.for_agent(&agent.name))
}

/// Writes the agent's data file into `dir` atomically; returns the final path.
///
/// The file is `<md5 of agent_name>.<unix seconds of now>.data` (the next free number if
/// that name exists), where `agent_name` is the name as written in the XML, after hygiene.
pub fn write_agent(dir: &Path, agent: &Agent, now: &jiff::Zoned) -> Result<PathBuf, SpoolError> {
    let clean = validate::clean(agent)?;
    let xml = xml::render(&clean, now).map_err(|source| SpoolError::Render {
        agent: agent.name.clone(),
        source,
    })?;
    let path = write_data_file(dir, &clean.name, now, |file| {
        std::io::Write::write_all(file, xml.as_bytes())
    })
    // Errors name the agent as the record had it, even where hygiene changed the name.
    .map_err(|error| error.for_agent(&agent.name))?;
    tracing::debug!(agent = %agent.name, path = %path.display(), "wrote Pandora data file");
    Ok(path)
}
