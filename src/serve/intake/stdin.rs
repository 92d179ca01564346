//! The stdin intake: JSON lines, one audit (or one trigger reason, list or REST response) per
//! line. A line that is not an audit goes to the dead-letter file, as there is no one to answer.
//! Lines already buffered are queued together, so a fast producer gets group commits too.
//! When the queue is full the intake waits: the producer is held back, nothing is dropped.

use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use super::{Intake, Processor};
use crate::source::audit::{MAX_AUDIT_BYTES, decode_input};

/// Lines queued in one append at most.
const MAX_LINES_PER_APPEND: usize = 1000;
/// Wait before trying a full queue again.
const FULL_WAIT: Duration = Duration::from_millis(500);

/// A running stdin intake.
pub struct StdinIntake {
    stop: Arc<AtomicBool>,
    /// Never joined: a read from stdin cannot be interrupted, so the thread may outlive the
    /// drain; it ends with the process.
    _thread: JoinHandle<()>,
}

impl StdinIntake {
    /// Reads `input` on its own thread until end of file or until the intake is stopped
    /// (checked between lines: a read in progress is not interrupted).
    pub fn start(
        input: impl Read + Send + 'static,
        processor: Arc<Processor>,
    ) -> std::io::Result<StdinIntake> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("stdin-intake".into())
            .spawn(move || run(input, &processor, &thread_stop))?;
        Ok(StdinIntake {
            stop,
            _thread: thread,
        })
    }
}

impl Intake for StdinIntake {
    fn name(&self) -> &'static str {
        "stdin"
    }

    fn stop_accepting(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn finish(self: Box<Self>) {}
}

fn run(input: impl Read, processor: &Processor, stop: &AtomicBool) {
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, input);
    let mut line_number = 0usize;
    let mut line = Vec::new();
    loop {
        let mut audits = Vec::new();
        let mut lines = 0;
        // Take one line (blocking), then every further line already in the buffer.
        loop {
            line.clear();
            let read = (&mut reader)
                .take(MAX_AUDIT_BYTES as u64 + 1)
                .read_until(b'\n', &mut line);
            match read {
                Ok(0) => {
                    flush(processor, audits, stop);
                    tracing::info!("stdin intake: end of input after {line_number} lines");
                    return;
                }
                Ok(_) => {}
                Err(error) => {
                    flush(processor, audits, stop);
                    tracing::error!("stdin intake: cannot read: {error}");
                    return;
                }
            }
            line_number += 1;
            if line.len() > MAX_AUDIT_BYTES && !line.ends_with(b"\n") {
                // Skip the rest of an over-long line.
                let mut rest = Vec::new();
                let _ = reader.read_until(b'\n', &mut rest);
                dead_letter(
                    processor,
                    &format!("line {line_number}: longer than {MAX_AUDIT_BYTES} bytes"),
                    Value::Null,
                );
            } else if !line.trim_ascii().is_empty() {
                for item in decode_input(&line) {
                    match item {
                        Ok(audit) => audits.push(audit),
                        Err(error) => dead_letter(
                            processor,
                            &format!("line {line_number}: {error}"),
                            Value::String(String::from_utf8_lossy(line.trim_ascii()).into_owned()),
                        ),
                    }
                }
            }
            lines += 1;
            if reader.buffer().is_empty() || lines >= MAX_LINES_PER_APPEND {
                break;
            }
        }
        flush(processor, audits, stop);
        if stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

fn dead_letter(processor: &Processor, reason: &str, item: Value) {
    tracing::warn!("stdin intake: {reason}");
    crate::serve::metrics::add(&processor.metrics.dead_lettered, 1);
    if let Err(error) = processor.dead_letter.record("stdin", reason, &item) {
        tracing::error!("stdin intake: {error}");
    }
}

/// Queues the audits, waiting while the queue is full.
fn flush(processor: &Processor, audits: Vec<Value>, stop: &AtomicBool) {
    if audits.is_empty() {
        return;
    }
    let prepared = match processor.prepare(audits, "stdin") {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::error!("stdin intake: {error}");
            return;
        }
    };
    if prepared.payloads.is_empty() {
        return;
    }
    let mut warned = false;
    loop {
        let result = processor.queue.append_wait(prepared.payloads.clone());
        match &result {
            Err(error) if error.retry_later() && !stop.load(Ordering::Relaxed) => {
                if !warned {
                    tracing::warn!("stdin intake: waiting: {error}");
                    warned = true;
                }
                std::thread::sleep(FULL_WAIT);
            }
            _ => {
                if let Err(error) = &result {
                    tracing::error!(
                        "stdin intake: {} audits not queued: {error}",
                        prepared.payloads.len()
                    );
                }
                processor.appended(&result);
                return;
            }
        }
    }
}
