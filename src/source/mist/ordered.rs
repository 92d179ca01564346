//! Bounded parallel work whose results are consumed in order.
//!
//! Workers take the next index themselves and leave results in a shared reorder buffer;
//! the calling thread is woken only when a batch is ready to consume in order (a quarter of
//! the window, or everything left). Waking it for every result cost a thread switch per
//! site, which at 10,000 sites a run was a tenth of the run's processor time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// What the workers and the consuming thread share.
struct Shared<R> {
    state: Mutex<State<R>>,
    /// The consumer waits here for a batch.
    batch_ready: Condvar,
    /// Workers wait here for room in the window.
    room: Condvar,
    /// Set when a worker panicked: everyone stops waiting, and the scope re-raises it.
    failed: AtomicBool,
}

struct State<R> {
    /// Results not yet consumed, by index.
    waiting: BTreeMap<usize, R>,
    /// Results handed to `consume` so far (the next index to consume).
    consumed: usize,
    /// Results produced so far.
    produced: usize,
}

impl<R> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        // A poisoned lock only means a worker panicked; `failed` tells the rest.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Marks the run failed if the worker holding it unwinds.
struct PanicGuard<'a, R>(&'a Shared<R>);

impl<R> Drop for PanicGuard<'_, R> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::SeqCst);
            // Taking the lock orders the flag before any waiter's next check.
            drop(self.0.lock());
            self.0.batch_ready.notify_all();
            self.0.room.notify_all();
        }
    }
}

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
    // When the window is full every item in it completes, so at least this many wait.
    let batch = (window / 4).max(1);
    let shared = Shared {
        state: Mutex::new(State {
            waiting: BTreeMap::new(),
            consumed: 0,
            produced: 0,
        }),
        batch_ready: Condvar::new(),
        room: Condvar::new(),
        failed: AtomicBool::new(false),
    };
    let next_job = AtomicUsize::new(0);
    let ready = |state: &State<R>| {
        state.waiting.contains_key(&state.consumed)
            && (state.waiting.len() >= batch || state.produced == count)
    };
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (shared, next_job, produce, ready) = (&shared, &next_job, &produce, &ready);
            scope.spawn(move || {
                let _guard = PanicGuard(shared);
                loop {
                    let index = next_job.fetch_add(1, Ordering::Relaxed);
                    if index >= count || shared.failed.load(Ordering::SeqCst) {
                        break;
                    }
                    {
                        let mut state = shared.lock();
                        while index >= state.consumed + window {
                            if shared.failed.load(Ordering::SeqCst) {
                                return;
                            }
                            state = shared
                                .room
                                .wait(state)
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                        }
                    }
                    let result = produce(index);
                    let mut state = shared.lock();
                    state.waiting.insert(index, result);
                    state.produced += 1;
                    if ready(&state) {
                        shared.batch_ready.notify_one();
                    }
                }
            });
        }
        let mut in_order = Vec::with_capacity(window);
        let mut first = 0;
        while first < count && !shared.failed.load(Ordering::SeqCst) {
            {
                let mut state = shared.lock();
                while !ready(&state) && !shared.failed.load(Ordering::SeqCst) {
                    state = shared
                        .batch_ready
                        .wait(state)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                while let Some(result) = state.waiting.remove(&(first + in_order.len())) {
                    in_order.push(result);
                }
            }
            // Consumed outside the lock: workers go on meanwhile.
            for result in in_order.drain(..) {
                consume(first, result);
                first += 1;
            }
            // Room for more only now: what is taken but not yet consumed stays in the window.
            shared.lock().consumed = first;
            shared.room.notify_all();
        }
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
    fn a_slow_first_item_holds_the_rest_within_the_window() {
        let mut seen = Vec::new();
        ordered_map(
            40,
            8,
            8,
            |i| {
                if i == 0 {
                    std::thread::sleep(Duration::from_millis(50));
                }
                i
            },
            |i, value| seen.push((i, value)),
        );
        assert_eq!(seen, (0..40).map(|i| (i, i)).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_worker_ends_the_run_instead_of_hanging_it() {
        let run = std::panic::catch_unwind(|| {
            ordered_map(
                100,
                4,
                8,
                |i| {
                    assert!(i != 5, "item 5 fails");
                    i
                },
                |_, _| {},
            );
        });
        assert!(run.is_err());
    }

    #[test]
    fn nothing_to_do_is_fine() {
        ordered_map(0, 8, 8, |_| unreachable!(), |_, ()| unreachable!());
        let mut seen = 0;
        ordered_map(1, 8, 1, |i| i, |_, _| seen += 1);
        assert_eq!(seen, 1);
    }
}
