//! A circuit breaker for an outside endpoint that may be dead: after enough
//! failures in a row it opens and calls are refused at once; after a cool-down
//! one trial call is let through (half-open); its success closes the circuit,
//! its failure opens it again for another cool-down.
//!
//! Pure: the caller says what time it is, so the rules are tested without
//! sleeping.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through; `failures` in a row so far.
    Closed { failures: u32 },
    /// Calls are refused until `until`.
    Open { until: Instant },
    /// One trial call is in flight; the others are refused until it ends.
    HalfOpen,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    open_after: u32,
    cool_down: Duration,
    state: CircuitState,
}

impl Breaker {
    /// Opens after `open_after` failures in a row (at least one) and stays
    /// open for `cool_down`.
    pub fn new(open_after: u32, cool_down: Duration) -> Self {
        Self {
            open_after: open_after.max(1),
            cool_down,
            state: CircuitState::Closed { failures: 0 },
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// Whether a call may be made now. Past the cool-down this lets exactly
    /// one trial through and moves to half-open.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            CircuitState::Closed { .. } => true,
            CircuitState::Open { until } if now >= until => {
                self.state = CircuitState::HalfOpen;
                true
            }
            CircuitState::Open { .. } | CircuitState::HalfOpen => false,
        }
    }

    pub fn success(&mut self) {
        self.state = CircuitState::Closed { failures: 0 };
    }

    pub fn failure(&mut self, now: Instant) {
        self.state = match self.state {
            CircuitState::Closed { failures } if failures + 1 < self.open_after => {
                CircuitState::Closed {
                    failures: failures + 1,
                }
            }
            CircuitState::Closed { .. } | CircuitState::HalfOpen => CircuitState::Open {
                until: now + self.cool_down,
            },
            // A late answer to a call made before the circuit opened.
            open @ CircuitState::Open { .. } => open,
        };
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state, CircuitState::Open { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    #[test]
    fn opens_after_failures_in_a_row_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        b.failure(t0);
        b.failure(t0);
        b.success();
        b.failure(t0);
        b.failure(t0);
        assert_eq!(b.state(), CircuitState::Closed { failures: 2 });
        assert!(b.allow(t0));
        b.failure(t0);
        assert_eq!(b.state(), CircuitState::Open { until: t0 + COOL });
        assert!(!b.allow(t0 + COOL / 2));
    }

    #[test]
    fn half_open_lets_one_trial_through() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        b.failure(t0);
        let later = t0 + COOL;
        assert!(b.allow(later));
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(!b.allow(later), "a second call waits for the trial");
        b.failure(later);
        assert_eq!(
            b.state(),
            CircuitState::Open {
                until: later + COOL
            }
        );
        assert!(b.allow(later + COOL));
        b.success();
        assert_eq!(b.state(), CircuitState::Closed { failures: 0 });
        assert!(b.allow(later + COOL));
    }

    #[test]
    fn a_late_failure_does_not_extend_an_open_circuit() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        b.failure(t0);
        b.failure(t0 + COOL / 2);
        assert_eq!(b.state(), CircuitState::Open { until: t0 + COOL });
        assert!(b.is_open());
    }
}
