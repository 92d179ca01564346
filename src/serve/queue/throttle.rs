//! Log lines for failures that repeat (a full disk fails every write until space comes back):
//! at most one line per period for each kind, saying how many were left out, and one line when
//! the failures stop.

use std::time::{Duration, Instant};

/// How often a repeated failure is logged at most.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

/// Counts the failures of one kind and says when one may be logged.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
    failing: u64,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(LOG_EVERY)
    }
}

impl Throttle {
    pub fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            suppressed: 0,
            failing: 0,
        }
    }

    /// A failure: `Some(note)` when it is to be logged, the note (empty or
    /// `" (N more like it not logged)"`) to end the line with.
    pub fn failed(&mut self) -> Option<String> {
        self.failing += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        let note = match std::mem::take(&mut self.suppressed) {
            0 => String::new(),
            n => format!(" ({n} more like it not logged)"),
        };
        Some(note)
    }

    /// A success: the number of failures before it, when there were any (to log the recovery).
    pub fn succeeded(&mut self) -> Option<u64> {
        self.last = None;
        self.suppressed = 0;
        match std::mem::take(&mut self.failing) {
            0 => None,
            n => Some(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_are_logged_once_per_period_with_the_count_left_out() {
        let mut throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.failed().as_deref(), Some(""));
        for _ in 0..9 {
            assert_eq!(throttle.failed(), None);
        }
        assert_eq!(throttle.succeeded(), Some(10));
        assert_eq!(throttle.succeeded(), None);
        assert_eq!(throttle.failed().as_deref(), Some(""));

        let mut eager = Throttle::new(Duration::ZERO);
        assert_eq!(eager.failed().as_deref(), Some(""));
        assert_eq!(eager.failed().as_deref(), Some(""));
    }

    #[test]
    fn the_next_line_counts_what_was_left_out() {
        let mut throttle = Throttle::new(Duration::from_millis(1));
        throttle.failed();
        throttle.last = Some(Instant::now());
        throttle.every = Duration::from_secs(3600);
        throttle.failed();
        throttle.failed();
        throttle.every = Duration::ZERO;
        assert_eq!(
            throttle.failed().as_deref(),
            Some(" (2 more like it not logged)")
        );
    }
}
