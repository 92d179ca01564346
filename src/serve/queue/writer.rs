//! The one writer thread: takes every append already waiting, writes them, flushes once
//! (group commit), then answers each.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc;

use super::reader::delete_finished_segments;
use super::segment::{create_segment, frame};
use super::throttle::Throttle;
use super::{Append, HEADER_LEN, MAX_COMMIT_BYTES, QueueError, Receipt, Segment, Shared};
use crate::serve::config::SyncPolicy;

pub(super) fn writer_loop(shared: &Shared, active: (u64, File), appends: &mpsc::Receiver<Append>) {
    let (mut active_first, mut file) = active;
    let mut buffer = Vec::with_capacity(1024 * 1024);
    let mut failures = Throttle::default();
    let mut seal_failures = Throttle::default();
    // Blocks for the first append, then takes every append already waiting: one flush for all.
    while let Ok(first_append) = appends.recv() {
        let mut batch = vec![first_append];
        let mut batch_bytes: usize = batch[0].payloads.iter().map(Vec::len).sum();
        while batch_bytes < MAX_COMMIT_BYTES {
            match appends.try_recv() {
                Ok(append) => {
                    batch_bytes += append.payloads.iter().map(Vec::len).sum::<usize>();
                    batch.push(append);
                }
                Err(_) => break,
            }
        }
        let (mut next_seq, used, active_len) = {
            let state = shared.lock();
            let active_len = state.segments.get(&active_first).map_or(0, |s| s.len);
            (state.next_seq, state.used_bytes(), active_len)
        };
        let next_seq_before = next_seq;
        buffer.clear();
        let mut accepted = Vec::with_capacity(batch.len());
        let mut used_after = used;
        for append in batch {
            let bytes: u64 = append
                .payloads
                .iter()
                .map(|p| (p.len() + HEADER_LEN) as u64)
                .sum();
            if used_after + bytes > shared.config.max_bytes {
                (append.done)(Err(QueueError::Full {
                    used: used_after,
                    limit: shared.config.max_bytes,
                }));
                continue;
            }
            let receipt = Receipt {
                first: next_seq,
                count: append.payloads.len() as u64,
            };
            for payload in &append.payloads {
                frame(next_seq, payload, &mut buffer);
                next_seq += 1;
            }
            used_after += bytes;
            accepted.push((receipt, append.done));
        }
        if accepted.is_empty() {
            continue;
        }
        let path = shared
            .lock()
            .segments
            .get(&active_first)
            .map(|s| s.path.clone())
            .unwrap_or_default();
        let written = file
            .write_all(&buffer)
            .and_then(|()| match shared.config.sync {
                SyncPolicy::Always => file.sync_data(),
                SyncPolicy::Os => Ok(()),
            });
        if let Err(error) = written {
            // Cut back to the last commit so the failed records can never be read; callers
            // learn that nothing of theirs was accepted, and may try again.
            let _ = file.set_len(active_len);
            let failure = QueueError::Unavailable {
                path: path.clone(),
                reason: error.to_string(),
            };
            if let Some(note) = failures.failed() {
                tracing::error!("queue: {failure}{note}");
            }
            for (_, done) in accepted {
                done(Err(failure.clone()));
            }
            // Seal the segment so it can be deleted once delivered: on a full disk, that is
            // what frees space (an empty file needs no data block).
            if active_len > 0
                && let Ok((path, new_file)) = create_segment(&shared.dir, next_seq_before)
            {
                shared
                    .lock()
                    .segments
                    .insert(next_seq_before, Segment::new(path));
                active_first = next_seq_before;
                file = new_file;
            }
            delete_finished_segments(shared);
            continue;
        }
        if let Some(failed) = failures.succeeded() {
            tracing::info!("queue: writing again after {failed} failed commit(s)");
        }
        let new_len = active_len + buffer.len() as u64;
        {
            let mut state = shared.lock();
            if let Some(segment) = state.segments.get_mut(&active_first) {
                segment.len = new_len;
            }
            state.next_seq = next_seq;
        }
        shared.committed.notify_all();
        if new_len >= shared.config.segment_bytes {
            match create_segment(&shared.dir, next_seq) {
                Ok((path, new_file)) => {
                    shared.lock().segments.insert(next_seq, Segment::new(path));
                    active_first = next_seq;
                    file = new_file;
                    seal_failures.succeeded();
                    delete_finished_segments(shared);
                }
                Err(error) => {
                    if let Some(note) = seal_failures.failed() {
                        tracing::error!("queue: {error}; staying on the current segment{note}");
                    }
                }
            }
        }
        for (receipt, done) in accepted {
            done(Ok(receipt));
        }
    }
}
