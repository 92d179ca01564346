//! The Mist → Pandora job: fetch the organisation, evaluate agent mappings, write the spool.
//!
//! Sites are processed as the source completes them, on its fetching threads: the agent
//! mappings run over `{"sites":[that site]}` and the agents are rendered and staged at once,
//! while the next sites download; the staged files are then collected in API order. Memory
//! therefore follows the sites in flight, not the organisation (an organisation of 100,000
//! devices would need about a gigabyte as one JSON document).
//! The consequence for rules: a mapping sees one site per evaluation.
//!
//! A site whose devices could not be fetched is never evaluated, so it gets no file at all
//! and its modules go unknown in Pandora rather than wrong. An agent whose evaluation or
//! write fails is reported and gets no file. The run succeeds only if every site was
//! fetched, evaluated and written.

mod settings;

pub use settings::{
    DEFAULT_DATA_DIR, DEFAULT_GROUP, DEFAULT_MAX_RESPONSE_MB, DEFAULT_PREFIX, FetchSettings,
    incomplete, parse_plan, parse_time,
};

use std::cell::Cell;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use jiff::Zoned;
use serde_json::Value;

use crate::files::AtomicFile;
use crate::lang::{EvalError, Params, ReadTree, RuleSet};
use crate::record::Agent;
use crate::sink::pandora;
use crate::source::mist::{self, DocumentWriter, FetchFailure, FetchOptions, SiteFailure};

/// Where the agents go.
pub enum Output<'a> {
    /// One data file per agent in this spool directory.
    Spool(&'a Path),
    /// Each agent's XML on this writer (a dry run: no file is written).
    Print(&'a mut dyn Write),
}

/// One run of the job.
pub struct MistJob<'a> {
    pub fetch: &'a FetchOptions,
    pub rules: &'a RuleSet,
    /// `param.*` for the rules; the default rules read `prefix` and `group`.
    pub params: &'a Params,
    /// The agents' timestamp (the Pandora server's local time).
    pub now: &'a Zoned,
    pub output: Output<'a>,
    /// Also save the fetched document (without failed sites) to this file.
    pub save: Option<&'a Path>,
}

/// An agent that got no file.
#[derive(Debug)]
pub enum AgentFailure {
    /// A rule failed over this site.
    Eval { site: String, error: EvalError },
    /// The agent was built but could not be rendered or written.
    Output { agent: String, error: String },
    /// The run's deadline passed before this site's agents were built or written.
    Deadline { site: String },
}

impl std::fmt::Display for AgentFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentFailure::Eval { site, error } => write!(f, "{site}: {error}"),
            AgentFailure::Output { agent, error } => write!(f, "agent {agent:?}: {error}"),
            AgentFailure::Deadline { site } => write!(
                f,
                "{site}: not written, the run's deadline (--timeout) had passed"
            ),
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct MistSummary {
    /// Sites in the organisation.
    pub sites: usize,
    /// Sites whose devices could not be fetched (no agent, no file).
    pub site_failures: Vec<SiteFailure>,
    /// Agents written (or printed, in a dry run).
    pub agents: usize,
    pub agent_failures: Vec<AgentFailure>,
    /// Data files written, in order.
    pub files: Vec<PathBuf>,
    /// Mist API requests made, retries and pages included.
    pub calls: usize,
    /// The plan the devices were fetched with, and the calls it was allowed.
    pub plan: &'static str,
    pub call_cap: usize,
    pub elapsed: Duration,
    /// Whether agents were printed rather than written.
    pub dry_run: bool,
}

impl MistSummary {
    /// Every site fetched, evaluated and written.
    pub fn succeeded(&self) -> bool {
        self.site_failures.is_empty() && self.agent_failures.is_empty()
    }

    /// One line for stderr.
    pub fn line(&self) -> String {
        format!(
            "mist: {} agent(s) {}, {} agent(s) failed, {} of {} site(s) failed, {} API call(s) ({} plan, at most {}), {:.2} s",
            self.agents,
            if self.dry_run { "printed" } else { "written" },
            self.agent_failures.len(),
            self.site_failures.len(),
            self.sites,
            self.calls,
            self.plan,
            self.call_cap,
            self.elapsed.as_secs_f64()
        )
    }
}

/// A run that could not process the organisation at all.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The site list (or an org-wide list) could not be fetched: no site was processed.
    #[error("{failure}")]
    Fetch {
        failure: FetchFailure,
        elapsed: Duration,
    },
    #[error("the spool directory {}: {reason}", path.display())]
    Spool { path: PathBuf, reason: String },
    #[error("cannot save the document to {}: {source}", path.display())]
    Save { path: PathBuf, source: io::Error },
}

/// Runs the job: see the module documentation.
/// Staged files committed at a time once the run can no longer fail as a whole: one flush
/// and a thousand renames, while later sites are still being built.
const COMMIT_CHUNK: usize = 1000;

pub fn run(job: MistJob<'_>) -> Result<MistSummary, JobError> {
    let started = Instant::now();
    let MistJob {
        fetch,
        rules,
        params,
        now,
        output,
        save,
    } = job;
    let deadline = fetch.deadline.unwrap_or(started + fetch.budget);
    // Devices are parsed into what the rules read, unless the whole document is saved.
    let mut options = fetch.clone();
    if save.is_none() {
        let (sites, devices) = projections(rules);
        options.sites = sites.map(Arc::new);
        options.devices = devices.map(Arc::new);
    }
    let fetch = &options;
    // Checked before any request, so a wrong directory costs no API calls.
    if let Output::Spool(dir) = &output {
        check_spool(dir)?;
    }
    let mut saver = match save {
        Some(path) => Some(Saver::create(path)?),
        None => None,
    };
    let mut summary = MistSummary {
        dry_run: matches!(output, Output::Print(_)),
        ..MistSummary::default()
    };
    // Spool files are staged as sites arrive and appear together at the end, made durable
    // with one flush (see `SpoolBatch`); a run that fails as a whole leaves no file.
    let mut sink = match output {
        Output::Spool(dir) => Sink::Spool(pandora::SpoolBatch::new(dir), Vec::new()),
        Output::Print(out) => Sink::Print(out),
    };
    let target = match &sink {
        Sink::Spool(batch, _) => Target::Spool(batch.dir().to_path_buf()),
        Sink::Print(_) => Target::Print,
    };
    let keep_site = saver.is_some();
    // Once nothing can fail the run as a whole (the org-stats plan's lists are in), staged
    // files are committed a chunk at a time on another thread while later sites are built,
    // instead of all at the end.
    let lists_in = Cell::new(false);
    let (chunks, committed_chunks) = mpsc::channel::<pandora::SpoolBatch>();
    let (fetched, early_results) = std::thread::scope(|scope| {
        let committer = scope.spawn(move || {
            let mut results = Vec::new();
            for chunk in committed_chunks {
                let count = chunk.staged_len();
                results.extend(chunk.commit_before(deadline));
                tracing::debug!("{count} staged file(s) committed while later sites are built");
            }
            results
        });
        let fetched = mist::fetch_with(
            fetch,
            // On the fetching threads: evaluate, render and stage while other sites download.
            |site| prepare_site(site, rules, params, now, &target, keep_site, deadline),
            // Here, in site order: save, collect the staged files, print, count.
            |outcome| {
                match outcome {
                    Err(failure) => {
                        tracing::error!("{failure}; no agent written for it");
                        summary.site_failures.push(failure);
                    }
                    Ok(prepared) => {
                        if let (Some(saver), Some(site)) = (&mut saver, &prepared.site) {
                            saver.site(site);
                        }
                        for agent in prepared.agents {
                            collect(agent, &prepared.label, &mut sink, &mut summary);
                        }
                    }
                }
                if let Sink::Spool(batch, _) = &mut sink
                    && lists_in.get()
                    && batch.staged_len() >= COMMIT_CHUNK
                {
                    // Only fails if the committer panicked; the scope re-raises that.
                    let _ = chunks.send(batch.split_staged());
                }
            },
            || lists_in.set(true),
        );
        drop(chunks);
        let early_results = committer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (fetched, early_results)
    });
    let report = fetched.map_err(|failure| JobError::Fetch {
        failure,
        elapsed: started.elapsed(),
    })?;
    summary.sites = report.sites;
    summary.calls = report.calls;
    summary.plan = report.mode.name();
    summary.call_cap = report.call_cap;
    tracing::info!(
        "{} Mist API call(s) spent ({} plan, at most {} this run)",
        report.calls,
        summary.plan,
        report.call_cap
    );
    if let Sink::Spool(batch, staged_agents) = sink {
        // Nothing is renamed once the deadline has passed: the plugin server may already
        // have given up on the run, and the next run writes fresh data.
        let results = early_results
            .into_iter()
            .chain(batch.commit_before(deadline));
        for (result, agent) in results.zip(staged_agents) {
            match result {
                Ok(path) => {
                    tracing::debug!("agent {agent:?} written to {}", path.display());
                    summary.files.push(path);
                    summary.agents += 1;
                }
                Err(error) => {
                    tracing::error!("agent {agent:?}: cannot write its data file: {error}");
                    summary.agent_failures.push(AgentFailure::Output {
                        agent,
                        error: format!("cannot write its data file: {error}"),
                    });
                }
            }
        }
    }
    summary.elapsed = started.elapsed();
    if let Some(saver) = saver {
        saver.finish()?;
    }
    Ok(summary)
}

/// What the agent mappings read of each site object and of each device; `None` where
/// they may read all of it.
fn projections(rules: &RuleSet) -> (Option<mist::Projection>, Option<mist::Projection>) {
    fn convert(tree: &ReadTree) -> mist::Projection {
        mist::Projection {
            whole: tree.whole,
            keys: tree
                .keys
                .iter()
                .map(|(key, below)| (key.clone(), convert(below)))
                .collect(),
            each: tree.each.as_deref().map(|each| Box::new(convert(each))),
        }
    }
    let reads = rules.agent_reads();
    let sites = match reads.at(&[Some("sites"), None]) {
        Some(tree) if tree.whole => None,
        Some(mut tree) => {
            // The source sets `devices` itself.
            tree.keys.remove("devices");
            Some(convert(&tree))
        }
        None => Some(mist::Projection::default()),
    };
    let devices = match reads.at(&[Some("sites"), None, Some("devices"), None]) {
        Some(tree) if tree.whole => None,
        Some(tree) => Some(convert(&tree)),
        // Nothing of the devices is read: keep each as an empty record.
        None => Some(mist::Projection::default()),
    };
    (sites, devices)
}

/// Where agents go during a run.
enum Sink<'a> {
    /// Staged data files, and the name of each staged agent in order.
    Spool(pandora::SpoolBatch, Vec<String>),
    Print(&'a mut dyn Write),
}

/// Takes one prepared agent in site order: adds its file to the batch, prints it, or
/// reports why it has none.
fn collect(agent: Prepared, label: &str, sink: &mut Sink<'_>, summary: &mut MistSummary) {
    let failure = match (agent, sink) {
        (Prepared::Staged { name, file }, Sink::Spool(batch, staged_agents)) => {
            // Counted when the batch commits.
            batch.add(file);
            staged_agents.push(name);
            return;
        }
        (Prepared::Rendered { name, xml }, Sink::Print(out)) => match print_xml(&mut **out, &xml) {
            Ok(()) => {
                summary.agents += 1;
                return;
            }
            Err(error) => AgentFailure::Output { agent: name, error },
        },
        (Prepared::Failed(failure), _) => failure,
        // prepare_site follows the sink's target, so this does not occur; if it did, the
        // agent is reported rather than lost.
        (Prepared::Staged { name, .. } | Prepared::Rendered { name, .. }, _) => {
            AgentFailure::Output {
                agent: name,
                error: "prepared for another output than this run's".to_owned(),
            }
        }
    };
    match &failure {
        AgentFailure::Eval { error, .. } => {
            tracing::error!("{label}: {error}; no file for this agent")
        }
        AgentFailure::Output { .. } | AgentFailure::Deadline { .. } => {
            tracing::error!("{label}: {failure}")
        }
    }
    summary.agent_failures.push(failure);
}

/// Where a site's agents go, as the fetching threads see it.
enum Target {
    /// Staged as temporary files in this spool directory.
    Spool(PathBuf),
    /// Rendered, for the caller to print.
    Print,
}

/// One site, evaluated and its agents staged or rendered.
struct PreparedSite {
    label: String,
    /// The site itself, when the document is being saved.
    site: Option<Value>,
    agents: Vec<Prepared>,
}

/// One agent of a site, ready for its destination, or why it has none.
enum Prepared {
    Staged {
        name: String,
        file: pandora::StagedFile,
    },
    Rendered {
        name: String,
        xml: String,
    },
    Failed(AgentFailure),
}

/// Evaluates the agent mappings over one site and stages (or renders) every agent. The site
/// is taken only when it is to be saved; otherwise it is left for the source to reuse.
fn prepare_site(
    site: &mut Value,
    rules: &RuleSet,
    params: &Params,
    now: &Zoned,
    target: &Target,
    keep_site: bool,
    deadline: Instant,
) -> PreparedSite {
    let label = mist::site_label(site);
    if Instant::now() >= deadline {
        return PreparedSite {
            agents: vec![Prepared::Failed(AgentFailure::Deadline {
                site: label.clone(),
            })],
            label,
            site: None,
        };
    }
    let mut document = serde_json::Map::new();
    document.insert("sites".to_owned(), Value::Array(vec![site.take()]));
    let mut document = Value::Object(document);
    let agents = rules
        .agents(&document, params)
        .into_iter()
        .map(|result| match result {
            Err(error) => Prepared::Failed(AgentFailure::Eval {
                site: label.clone(),
                error,
            }),
            Ok(agent) => prepare_agent(&agent, now, target),
        })
        .collect();
    if let Some(evaluated) = document.get_mut("sites").and_then(|sites| sites.get_mut(0)) {
        *site = evaluated.take();
    }
    let site = keep_site.then(|| site.take());
    PreparedSite {
        label,
        site,
        agents,
    }
}

fn prepare_agent(agent: &Agent, now: &Zoned, target: &Target) -> Prepared {
    let failed = |error: String| {
        Prepared::Failed(AgentFailure::Output {
            agent: agent.name.clone(),
            error,
        })
    };
    match target {
        Target::Spool(dir) => match pandora::stage_agent_file(dir, agent, now) {
            Ok(file) => Prepared::Staged {
                name: agent.name.clone(),
                file,
            },
            Err(e) => failed(format!("cannot write its data file: {e}")),
        },
        Target::Print => match pandora::render_agent(agent, now) {
            Ok(xml) => Prepared::Rendered {
                name: agent.name.clone(),
                xml,
            },
            Err(e) => failed(format!("cannot render it: {e}")),
        },
    }
}

/// Prints one agent's XML, ending with a newline.
fn print_xml(out: &mut dyn Write, xml: &str) -> Result<(), String> {
    out.write_all(xml.as_bytes())
        .and_then(|()| {
            if xml.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .map_err(|e| format!("cannot print it: {e}"))
}

fn check_spool(dir: &Path) -> Result<(), JobError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(JobError::Spool {
            path: dir.to_owned(),
            reason: "is not a directory".to_owned(),
        }),
        Err(e) => Err(JobError::Spool {
            path: dir.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// The saved document, written site by site into a temporary file beside its final name
/// and renamed at the end, so an interrupted run leaves no half document.
struct Saver {
    path: PathBuf,
    writer: Option<DocumentWriter<io::BufWriter<AtomicFile>>>,
    error: Option<io::Error>,
}

impl Saver {
    fn create(path: &Path) -> Result<Saver, JobError> {
        let failed = |source| JobError::Save {
            path: path.to_owned(),
            source,
        };
        let file = AtomicFile::create(path).map_err(failed)?;
        let writer = DocumentWriter::new(io::BufWriter::new(file)).map_err(failed)?;
        Ok(Saver {
            path: path.to_owned(),
            writer: Some(writer),
            error: None,
        })
    }

    fn site(&mut self, site: &Value) {
        if let Some(writer) = &mut self.writer
            && let Err(e) = writer.site(site)
        {
            // Stop saving; the agents are still written and the error is reported at the end.
            self.error = Some(e);
            self.writer = None;
        }
    }

    fn finish(self) -> Result<(), JobError> {
        let failed = |source| JobError::Save {
            path: self.path.clone(),
            source,
        };
        if let Some(error) = self.error {
            return Err(failed(error));
        }
        let Some(writer) = self.writer else {
            return Ok(());
        };
        let file = writer
            .finish()
            .map_err(failed)?
            .into_inner()
            .map_err(|e| failed(e.into_error()))?;
        file.commit().map_err(failed)
    }
}
