//! The per-rank thread pool that runs the blocks of threaded par_loops.
//!
//! Owns one rayon pool per process: the helpers of the thread that calls par_loop, which runs
//! a share of every threaded loop itself, so `OP2_THREADS` = n gives a pool of n - 1 threads
//! (decided at init: see `config.rs`; rebuilt only if that count changes).
//! Worker threads only ever run generated loop code over blocks: lookups and compiles happen
//! before, and MPI calls stay on the thread that called `par_loop`.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

static POOL: Mutex<Option<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

/// The pool helping the calling thread to `threads` threads in all (`threads - 1`, at least
/// one; built on first use).
pub(crate) fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    let n = threads.saturating_sub(1).max(1);
    let mut p = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((k, pool)) = p.as_ref() {
        if *k == n {
            return Ok(pool.clone());
        }
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("op2-loop-{}", i + 1))
            .build()
            .map_err(|e| Error::invalid("op2 thread pool", e.to_string()))?,
    );
    *p = Some((n, pool.clone()));
    Ok(pool)
}
