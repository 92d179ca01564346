//! `monbridge serve`: the gateway daemon. Audits come in (Fledge REST polling, an HTTP
//! endpoint, stdin JSON lines), go through the rules, and the notifications they make are
//! appended to a durable queue on disk before any intake acknowledges them; one delivery
//! worker per destination (or one per failover group) reads the queue at its own pace and
//! moves its cursor only once a trap is sent or an inform acknowledged.
//!
//! Signals: SIGHUP reloads the configuration and the rules (checked first; on any error the
//! running set stays and the log says why); SIGTERM and SIGINT stop taking audits, commit and
//! answer what was taken, let each worker finish the notification in hand, and exit.
//!
//! State directory: `queue/` (segments and delivery positions), `fledge-cursor.json` (the REST
//! poller's position), `engine-<ID>.boots` (the SNMPv3 engine's boots counter, once a v3
//! destination is configured) and, unless configured elsewhere, `dead-letter.jsonl`; folders
//! 0700 and files 0600, private to the daemon's user.

pub mod config;
pub mod dead_letter;
pub mod delivery;
pub mod http;
pub mod intake;
pub mod listen;
pub mod metrics;
pub mod queue;
pub mod systemd;

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, RwLock, mpsc};
use std::time::Duration;

pub use config::{Config, ConfigError};

use crate::lang::Params;
use crate::lang::{LoadOptions, RuleSet};
use crate::sink::snmp::usm::{EngineError, EngineId, LocalEngine};
use dead_letter::DeadLetter;
use delivery::Delivery;
use intake::http::HttpIntake;
use intake::rest::Poller;
use intake::stdin::StdinIntake;
use intake::{Intake, Processor, Rules, SharedRules};
use listen::ListenError;
use metrics::{Metrics, MetricsServer};
use queue::{Queue, QueueError};

/// Why the daemon could not start (once running, it logs errors and keeps going).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create the state directory {}: {source}", path.display())]
    StateDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another monbridge serve is using the state directory {}: run one daemon per state \
         directory (its queue and SNMPv3 boots counter cannot be shared)",
        path.display()
    )]
    StateDirInUse { path: std::path::PathBuf },
    #[error("cannot lock the state directory {}: {source}", path.display())]
    StateDirLock {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error("cannot {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fledge(#[from] intake::rest::PollerError),
    #[error("cannot start the SNMPv3 engine: {0}")]
    Engine(#[from] EngineError),
    #[error("destination {0} speaks SNMPv3, but the SNMPv3 engine is not started")]
    NoEngine(String),
}

/// Loads the rules a configuration names.
pub fn load_rules(config: &Config) -> Result<RuleSet, crate::lang::LoadError> {
    RuleSet::load(&LoadOptions {
        dir: config.rules.clone(),
        env: config.env.clone(),
    })
}

fn params(config: &Config) -> Params {
    Params(config.params.clone())
}

/// The daemon's SNMPv3 engine, started (boots + 1, persisted in the state directory) the first
/// time a configuration has a v3 destination, then the same for the rest of the run: one
/// authoritative engine per daemon, one boot per start.
fn start_engine(
    config: &Config,
    engine: &mut Option<LocalEngine>,
    engine_id: &EngineId,
    state_dir: &Path,
) -> Result<(), EngineError> {
    if config.uses_v3() && engine.is_none() {
        *engine = Some(LocalEngine::start(engine_id.clone(), state_dir)?);
    }
    Ok(())
}

/// Takes the state directory for this daemon: an exclusive `flock` on `<state>/lock`, or an
/// error naming the directory if another daemon holds it.
fn lock_state_dir(state_dir: &Path) -> Result<std::fs::File, ServeError> {
    let path = state_dir.join("lock");
    let lock_error = |source| ServeError::StateDirLock {
        path: state_dir.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(lock_error)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(ServeError::StateDirInUse {
            path: state_dir.to_owned(),
        }),
        Err(errno) => Err(lock_error(errno.into())),
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(config: Config, rules: RuleSet) -> Result<(), ServeError> {
    let mut config = config;
    // Private (0700): it holds whole audits and the SNMPv3 engine's state.
    queue::private_dir(&config.state_dir).map_err(|source| ServeError::StateDir {
        path: config.state_dir.clone(),
        source,
    })?;
    // Held until the daemon exits; the kernel releases it even if the process is killed.
    let _state_lock = lock_state_dir(&config.state_dir)?;
    let mut engine = None;
    let (engine_id, state_dir) = (config.snmp_engine_id.clone(), config.state_dir.clone());
    start_engine(&config, &mut engine, &engine_id, &state_dir)?;
    // Signals are caught from here on, so a SIGTERM during start-up is handled, not fatal.
    let (events_sender, events) = mpsc::channel();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(|source| ServeError::Io {
        what: "install the signal handlers",
        source,
    })?;
    let signals_handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if events_sender.send(signal).is_err() {
                    break;
                }
            }
        })
        .map_err(|source| ServeError::Io {
            what: "start the signal thread",
            source,
        })?;

    let queue = Arc::new(Queue::open(&config.state_dir.join("queue"), config.queue)?);
    let metrics = Arc::new(Metrics::default());
    let dead_letter = Arc::new(DeadLetter::new(&config.dead_letter));
    let shared_rules: SharedRules = Arc::new(RwLock::new(Arc::new(Rules {
        set: rules,
        params: params(&config),
    })));
    let processor = Arc::new(Processor {
        rules: Arc::clone(&shared_rules),
        queue: Arc::clone(&queue),
        dead_letter: Arc::clone(&dead_letter),
        metrics: Arc::clone(&metrics),
    });
    let delivery_shared = delivery::Shared {
        queue: Arc::clone(&queue),
        metrics: Arc::clone(&metrics),
        dead_letter: Arc::clone(&dead_letter),
    };
    let mut delivery = Some(Delivery::start(&config, engine.as_ref(), &delivery_shared)?);

    let metrics_server = match &config.metrics.listen {
        Some(listen) => Some(MetricsServer::start(
            listen,
            Arc::clone(&metrics),
            Arc::clone(&queue),
        )?),
        None => None,
    };
    let mut intakes: Vec<Box<dyn Intake>> = Vec::new();
    if let Some(http) = &config.intakes.http {
        intakes.push(Box::new(HttpIntake::start(http, Arc::clone(&processor))?));
    }
    if let Some(fledge) = &config.intakes.fledge {
        intakes.push(Box::new(Poller::start(
            fledge.clone(),
            &config.state_dir,
            Arc::clone(&processor),
        )?));
    }
    if config.intakes.stdin {
        let stdin =
            StdinIntake::start(std::io::stdin(), Arc::clone(&processor)).map_err(|source| {
                ServeError::Io {
                    what: "start the stdin intake",
                    source,
                }
            })?;
        intakes.push(Box::new(stdin));
    }
    tracing::info!(
        "monbridge serve ready: {} destination(s), policy {}, state in {}",
        config.destinations.len(),
        config.policy.name(),
        config.state_dir.display()
    );
    systemd::ready("taking audits");
    let queue_probe = Arc::clone(&queue);
    // The keep-alive takes the queue's lock: a queue stuck holding it stops the keep-alives.
    let watchdog = systemd::Watchdog::start(move || {
        queue_probe.next_seq();
    });

    let log_interval = config.metrics.log_interval;
    loop {
        let event = match log_interval {
            Some(interval) => events.recv_timeout(interval),
            None => events
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match event {
            Ok(signal_hook::consts::SIGHUP) => {
                systemd::reloading();
                reload(
                    &mut config,
                    &mut engine,
                    &shared_rules,
                    &mut delivery,
                    &delivery_shared,
                );
                systemd::ready("taking audits");
            }
            Ok(signal) => {
                tracing::info!("signal {signal}: draining and stopping");
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::info!("counters: {}", metrics.snapshot());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }

    // Drain: stop taking audits, commit and answer what was taken, stop the workers.
    systemd::stopping();
    drop(watchdog);
    for intake in &mut intakes {
        intake.stop_accepting();
        tracing::debug!("{} intake: no longer taking audits", intake.name());
    }
    if let Some(delivery) = &delivery {
        delivery.request_stop();
    }
    queue.close();
    for intake in intakes {
        intake.finish();
    }
    if let Some(delivery) = delivery.take() {
        delivery.stop();
    }
    drop(metrics_server);
    signals_handle.close();
    tracing::info!("stopped; counters: {}", metrics.snapshot());
    Ok(())
}

/// SIGHUP: reads the configuration and the rules again and switches to them only when both
/// are good. Destinations, policy and back-off apply at once (the workers restart at their
/// cursors); intakes, state, queue, dead-letter and metrics settings need a restart.
fn reload(
    config: &mut Config,
    engine: &mut Option<LocalEngine>,
    rules: &SharedRules,
    delivery: &mut Option<Delivery>,
    shared: &delivery::Shared,
) {
    tracing::info!("SIGHUP: reloading {}", config.path.display());
    let newer = match Config::load(&config.path) {
        Ok(newer) => newer,
        Err(error) => {
            tracing::error!("reload refused, the running configuration stays: {error}");
            return;
        }
    };
    // The running engine ID and state directory: changed ones take effect at the next start.
    if let Err(error) = start_engine(&newer, engine, &config.snmp_engine_id, &config.state_dir) {
        tracing::error!("reload refused, the running configuration stays: {error}");
        return;
    }
    let set = match load_rules(&newer) {
        Ok(set) if set.has_trap_bindings() => set,
        Ok(_) => {
            tracing::error!(
                "reload refused, the running rules stay: the rules define no trap binding"
            );
            return;
        }
        Err(error) => {
            tracing::error!(
                "reload refused, the running rules stay:\n{}",
                error.render(false).trim_end()
            );
            return;
        }
    };
    let restart_only = config.restart_only_changes(&newer);
    if !restart_only.is_empty() {
        tracing::warn!(
            "reload: {} changed; kept as they were until the next restart",
            restart_only.join(", ")
        );
    }
    let rule_count = set.rule_names().len();
    *rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Rules {
        set,
        params: params(&newer),
    });
    let delivery_changed = config.destinations != newer.destinations
        || config.policy != newer.policy
        || config.backoff != newer.backoff;
    let previous = config.clone();
    config.rules = newer.rules;
    config.env = newer.env;
    config.params = newer.params;
    config.destinations = newer.destinations;
    config.policy = newer.policy;
    config.backoff = newer.backoff;
    if delivery_changed {
        if let Some(running) = delivery.take() {
            running.stop();
        }
        match Delivery::start(config, engine.as_ref(), shared) {
            Ok(started) => *delivery = Some(started),
            Err(error) => {
                tracing::error!(
                    "reload: cannot start the new destinations ({error}); back to the previous ones"
                );
                *config = previous;
                match Delivery::start(config, engine.as_ref(), shared) {
                    Ok(started) => *delivery = Some(started),
                    Err(error) => tracing::error!("delivery stopped: {error}"),
                }
            }
        }
    }
    tracing::info!(
        "reloaded: {rule_count} rules, {} destination(s), policy {}",
        config.destinations.len(),
        config.policy.name()
    );
}

/// How long a poll or a wait may take before looking at a stop flag again.
pub(crate) const STOP_POLL: Duration = Duration::from_millis(100);
