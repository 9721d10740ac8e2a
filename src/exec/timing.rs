//! Per-kernel loop timings of this rank, per runtime.
//!
//! Owns one slot of atomic counters per kernel name and communicator (a runtime's records are
//! kept on its communicator, `mpi::attr`, and go with it at its finalize). A loop plan looks its slot up once, when
//! the plan is built (the only name search), and each run adds to it without a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::mpi::comm::Comm;

/// Time spent in one kernel's loops on this rank.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoopTiming {
    /// Kernel name.
    pub kernel: String,
    /// Number of par_loop calls.
    pub calls: u64,
    /// Wall seconds in those calls (lookup, compute and communication).
    pub seconds: f64,
    /// Of which: halo exchanges and Global reductions (not overlapped with compute).
    pub comm_seconds: f64,
}

/// The counters of one kernel name.
#[derive(Default)]
pub(crate) struct TimingSlot {
    calls: AtomicU64,
    nanos: AtomicU64,
    comm_nanos: AtomicU64,
}

impl TimingSlot {
    /// Add one call that took `seconds`, of which `comm_seconds` communicating.
    pub(crate) fn record(&self, seconds: f64, comm_seconds: f64) {
        // Both round down the same way, so comm never exceeds the total.
        let total = (seconds * 1e9) as u64;
        let comm = ((comm_seconds * 1e9) as u64).min(total);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(total, Ordering::Relaxed);
        if comm > 0 {
            self.comm_nanos.fetch_add(comm, Ordering::Relaxed);
        }
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
        .filter(|(_, t)| t.calls.load(Ordering::Relaxed) > 0)
        .map(|(k, t)| LoopTiming {
            kernel: k.clone(),
            calls: t.calls.load(Ordering::Relaxed),
            seconds: t.nanos.load(Ordering::Relaxed) as f64 * 1e-9,
            comm_seconds: t.comm_nanos.load(Ordering::Relaxed) as f64 * 1e-9,
        })
        .collect()
}
