//! Per-kernel loop timings of this rank, per runtime.
//!
//! Owns one slot of counters per kernel name and communicator (a runtime's records are
//! kept on its communicator, `mpi::attr`, and go with it at its finalize). A loop plan looks its
//! slot up once, when the plan is built (the only name search), and each run adds to it without
//! a lock or, from the thread that calls par_loop, a locked instruction (`cache/tally.rs`).
//! Loops that take less than [`LONG_NANOS`] are timed on a sample of their calls: on a loop
//! over a few elements the two clock reads would cost more than everything else.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::cache::tally::Tally;
use crate::mpi::comm::Comm;

/// Time spent in one kernel's loops on this rank.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoopTiming {
    /// Kernel name.
    pub kernel: String,
    /// Number of par_loop calls.
    pub calls: u64,
    /// Wall seconds in those calls (lookup, compute and communication). A loop shorter than
    /// 20 us is timed on every 64th call only, and this is the estimate from those.
    pub seconds: f64,
    /// Of which: halo exchanges and Global reductions (not overlapped with compute).
    pub comm_seconds: f64,
}

/// A loop whose last timed call took at least this long is timed on every call: reading the
/// clock twice (0.1-0.3 us on a virtual machine) costs it at most about 1%.
const LONG_NANOS: u64 = 20_000;
/// A shorter loop is timed on every `SAMPLE`-th call (the first included), and its seconds are
/// estimated from those: the clock would otherwise cost more than the dispatch of a loop.
const SAMPLE: u64 = 64;

/// The counters of one kernel name: calls; timed calls, their nanoseconds and communication
/// nanoseconds, and of the timed calls shorter than [`LONG_NANOS`] the same three (the sample
/// the untimed calls are estimated from); and whether every call is timed.
#[derive(Default)]
pub(crate) struct TimingSlot {
    calls: Tally<1>,
    timed: Tally<6>,
    every: AtomicBool,
}

impl TimingSlot {
    /// Whether the next call reads the clock (see [`LONG_NANOS`] and [`SAMPLE`]).
    #[inline]
    pub(crate) fn wants_clock(&self) -> bool {
        self.every.load(Relaxed) || self.calls.get(0).is_multiple_of(SAMPLE)
    }

    /// Add one call that took `elapsed` (`None`: not timed, [`TimingSlot::wants_clock`]), of
    /// which `comm_seconds` communicating.
    #[inline]
    pub(crate) fn record(&self, elapsed: Option<std::time::Duration>, comm_seconds: f64) {
        self.calls.add([1]);
        let Some(elapsed) = elapsed else { return };
        let total = elapsed.as_nanos() as u64;
        // Rounded down, and never more than the total.
        let comm = ((comm_seconds * 1e9) as u64).min(total);
        let long = total >= LONG_NANOS;
        if self.every.load(Relaxed) != long {
            self.every.store(long, Relaxed);
        }
        let short = (!long) as u64;
        self.timed
            .add([1, total, comm, short, short * total, short * comm]);
    }

    /// Calls, and seconds and communication seconds of all of them: the timed calls' own, plus
    /// for the untimed ones (which follow short calls only) the mean of the short timed calls.
    fn totals(&self) -> (u64, f64, f64) {
        let g = |i| self.timed.get(i);
        let calls = self.calls.get(0);
        let (untimed, short) = (calls.saturating_sub(g(0)), g(3).max(1));
        let est = |timed: u64, short_sum: u64| {
            (timed as f64 + untimed as f64 * short_sum as f64 / short as f64) * 1e-9
        };
        (calls, est(g(1), g(4)), est(g(2), g(5)))
    }
}

/// The timing records of one runtime (kept on its communicator).
#[derive(Default)]
struct Registry(Mutex<Vec<(String, Arc<TimingSlot>)>>);

fn registry(comm: Comm) -> Arc<Registry> {
    crate::mpi::attr::get_or_insert_with(comm, Registry::default)
}

/// The slot of `kernel` on `comm`'s runtime (created on first use; slots live as long as the
/// runtime).
pub(crate) fn slot(kernel: &str, comm: Comm) -> Arc<TimingSlot> {
    let reg = registry(comm);
    let mut s = reg.0.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, t)) = s.iter().find(|(k, _)| k == kernel) {
        return t.clone();
    }
    let t = Arc::new(TimingSlot::default());
    s.push((kernel.to_string(), t.clone()));
    t
}

/// Per-kernel loop timings of this rank on the default runtime (the world's, or the serial
/// one without MPI), in order of first use; `Runtime::timings` for another runtime's.
///
/// ```
/// let t = op2::timings();
/// assert!(t.iter().all(|l| l.comm_seconds <= l.seconds + 1e-9));
/// ```
pub fn timings() -> Vec<LoopTiming> {
    timings_on(Comm::current())
}

/// Per-kernel loop timings of this rank on `comm`'s runtime, in order of first use.
pub fn timings_on(comm: Comm) -> Vec<LoopTiming> {
    let reg = registry(comm);
    let s = reg.0.lock().unwrap_or_else(|e| e.into_inner());
    s.iter()
        .map(|(k, t)| (k, t.totals()))
        .filter(|(_, (calls, _, _))| *calls > 0)
        .map(|(k, (calls, seconds, comm_seconds))| LoopTiming {
            kernel: k.clone(),
            calls,
            seconds,
            comm_seconds,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn short_loops_are_sampled_and_estimated_long_ones_timed_every_call() {
        let s = TimingSlot::default();
        // A first call that compiles (long), then short calls.
        assert!(s.wants_clock());
        s.record(Some(Duration::from_millis(700)), 0.0);
        let mut timed = 0;
        for _ in 0..2 * SAMPLE {
            if s.wants_clock() {
                timed += 1;
                s.record(Some(Duration::from_micros(2)), 0.5e-6);
            } else {
                s.record(None, 0.0);
            }
        }
        assert_eq!(
            timed, 3,
            "after a long call, a 2 us loop is timed on every {SAMPLE}th"
        );
        let (calls, secs, comm) = s.totals();
        assert_eq!(calls, 2 * SAMPLE + 1);
        let n = (2 * SAMPLE) as f64;
        assert!((secs - (0.7 + 2e-6 * n)).abs() < 1e-9, "estimate {secs}");
        assert!((comm - 0.5e-6 * n).abs() < 1e-12, "estimate {comm}");
        // A long call: every later call is timed, until a short one is seen again.
        s.record(Some(Duration::from_micros(50)), 0.0);
        assert!((0..10).all(|_| s.wants_clock()));
        s.record(Some(Duration::from_micros(1)), 0.0);
        assert!(!s.wants_clock() || s.calls.get(0).is_multiple_of(SAMPLE));
    }
}
