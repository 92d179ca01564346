//! Bounded parallel work whose results are consumed in order.

use std::collections::BTreeMap;
use std::sync::{Mutex, mpsc};

/// Runs `produce(i)` for every `i` in `0..count` on up to `workers` threads and hands each
/// result to `consume` on the calling thread, in index order. At most `window` items are in
/// flight or waiting ahead of the next one to consume, which bounds memory when one slow
/// item holds the others back.
pub fn ordered_map<R: Send>(
    count: usize,
    workers: usize,
    window: usize,
    produce: impl Fn(usize) -> R + Sync,
    mut consume: impl FnMut(usize, R),
) {
    if count == 0 {
        return;
    }
    let workers = workers.clamp(1, count);
    let window = window.max(workers);
    let (job_tx, job_rx) = mpsc::channel::<usize>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (job_rx, produce) = (&job_rx, &produce);
            scope.spawn(move || {
                loop {
                    // A poisoned lock only means another worker panicked; the receiver is fine.
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    let Ok(index) = job else { break };
                    if done_tx.send((index, produce(index))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let (mut dispatched, mut consumed) = (0, 0);
        let mut waiting = BTreeMap::new();
        while consumed < count {
            while dispatched < count && dispatched < consumed + window {
                if job_tx.send(dispatched).is_err() {
                    break;
                }
                dispatched += 1;
            }
            // Only fails if every worker is gone, i.e. one panicked; the scope re-raises it.
            let Ok((index, result)) = done_rx.recv() else {
                break;
            };
            waiting.insert(index, result);
            while let Some(result) = waiting.remove(&consumed) {
                consume(consumed, result);
                consumed += 1;
            }
        }
        drop(job_tx);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn results_arrive_in_order_whatever_the_finishing_order() {
        let mut seen = Vec::new();
        ordered_map(
            50,
            4,
            8,
            |i| {
                // Early items finish last.
                std::thread::sleep(Duration::from_millis(((50 - i) % 7) as u64));
                i * 10
            },
            |i, value| seen.push((i, value)),
        );
        assert_eq!(seen, (0..50).map(|i| (i, i * 10)).collect::<Vec<_>>());
    }

    #[test]
    fn never_runs_more_than_the_window_ahead() {
        let consumed = AtomicUsize::new(0);
        let max_ahead = AtomicUsize::new(0);
        ordered_map(
            200,
            3,
            5,
            |i| {
                let ahead = i - consumed.load(Ordering::SeqCst).min(i);
                max_ahead.fetch_max(ahead, Ordering::SeqCst);
            },
            |_, ()| {
                consumed.fetch_add(1, Ordering::SeqCst);
            },
        );
        assert_eq!(consumed.load(Ordering::SeqCst), 200);
        assert!(max_ahead.load(Ordering::SeqCst) < 5);
    }

    #[test]
    fn nothing_to_do_is_fine() {
        ordered_map(0, 8, 8, |_| unreachable!(), |_, ()| unreachable!());
        let mut seen = 0;
        ordered_map(1, 8, 1, |i| i, |_, _| seen += 1);
        assert_eq!(seen, 1);
    }
}
