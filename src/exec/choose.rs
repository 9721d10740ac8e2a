//! The per-kernel choice of a vectorised module's variant, by measurement (`OP2_SIMD=auto`).
//!
//! A vectorised module holds three loops (`jit::simd::Variant`): vectorised across elements,
//! scalar with inlining left to the compiler, scalar with the kernel forced inline. The first
//! time such a module runs (its choice neither recorded beside its disk entry nor forced by
//! `OP2_SIMD=on`), rank 0 times each variant over the loop's owned elements on its own data,
//! in interleaved rounds (minimum per variant), broadcasts the fastest, and every rank runs
//! that one from then on; rank 0 records it beside the disk entry (`build::choice`), so later
//! jobs load the choice instead of measuring, unless the loop's set has at least
//! `build::choice::RETIME_FACTOR` times as many elements (globally) as the record was measured
//! over (rank 0's owned elements): then it is measured again and the new record replaces the
//! old (unless rank 0 owns too few elements to time: the record then stands). A loop over fewer than [`MIN_ELEMENTS`] owned elements is too short to time: it runs
//! the vectorised variant, and nothing is recorded.
//!
//! The measurement never changes the loop's data: every Dat and Global the loop writes is
//! given to the variants as a scratch copy, so the run that follows is the chosen variant's
//! alone, and results depend on the choice only (variants agree within round-off; the
//! vectorised one sums Global reductions per lane). Collective: one broadcast on the loop's
//! communicator, entered by every rank at the loop's first run (every rank loads the module
//! at the same class-cache miss).

use std::ffi::c_void;
use std::sync::RwLockWriteGuard;
use std::time::Instant;

use crate::data::access::Access;
use crate::data::set::Set;
use crate::error::{Error, Result};
use crate::exec::arg::{dat_pointers, Arg, ArgKind};
use crate::exec::plan::{ArgSlot, LoopPlan};
use crate::jit::ffi::LoadedKernel;
use crate::jit::simd::Variant;

/// Loops over fewer owned elements are not measured (timer noise would decide).
pub(crate) const MIN_ELEMENTS: usize = 4096;

/// Rounds of the three variants (interleaved); fewer when one round is long.
const ROUNDS: usize = 5;

/// Pieces of the range timed separately (see `measure`).
const PIECES: usize = 16;

/// A variant earlier in `Variant::ALL` is kept unless a later one is faster by more than this.
const MARGIN: f64 = 1.05;

/// Choose `loaded`'s variant if it is still undecided (see the module notes). `dats` are the
/// loop's write-locked unique Dats, in the plan's order.
pub(crate) fn decide(
    loaded: &LoadedKernel,
    plan: &LoopPlan,
    set: &Set,
    args: &[Arg],
    dats: &mut [RwLockWriteGuard<'_, Vec<u64>>],
) -> Result<()> {
    let comm = set.comm();
    // A recorded choice decides unless this set is far larger than what it was measured over.
    // Every rank has the same record (broadcast with the fetch) and the same global size: all
    // adopt it here, or all enter the measurement's broadcast below.
    if let Some((v, n)) = loaded.recorded() {
        if set.global_size() < n.saturating_mul(crate::build::choice::RETIME_FACTOR) {
            loaded.choose(v);
            return Ok(());
        }
    }
    let line = if comm.is_root() {
        match loaded.recorded() {
            // Too few elements here to time again: the record still decides (not rewritten).
            Some((v, n)) if set.size() < MIN_ELEMENTS => format!(
                "{}: recorded over {n} elements, not measured again ({} elements)",
                v.name(),
                set.size()
            ),
            _ => measure(loaded, plan, set, args, dats),
        }
    } else {
        String::new()
    };
    let line = String::from_utf8(comm.broadcast_bytes(0, line.into_bytes())?)
        .map_err(|e| Error::Mpi(format!("garbled variant choice from rank 0: {e}")))?;
    let v = crate::build::choice::parse(&line).ok_or_else(|| {
        Error::Mpi(format!(
            "kernel `{}`: rank 0 chose no variant ({line:?})",
            loaded.name()
        ))
    })?;
    loaded.choose(v);
    if let Some(path) = loaded.record().filter(|_| line.contains(" ms")) {
        if let Err(e) = crate::build::choice::write(path, &line) {
            crate::build::produce::say(format!(
                "op2: rank 0: kernel `{}`: could not record its measured variant in {}: {e} (the next job measures again)",
                loaded.name(),
                path.display()
            ));
        }
    }
    if crate::config::current().is_ok_and(|c| c.verbose) {
        // One write per line: two ranks' lines never interleave mid-line.
        crate::build::produce::say(format!(
            "op2: rank {}: kernel `{}` runs its {} loop ({line})",
            comm.rank(),
            loaded.name(),
            v.name()
        ));
    }
    Ok(())
}

/// Rank 0: time the variants on scratch copies of what the loop writes; the record line.
fn measure(
    loaded: &LoadedKernel,
    plan: &LoopPlan,
    set: &Set,
    args: &[Arg],
    dats: &mut [RwLockWriteGuard<'_, Vec<u64>>],
) -> String {
    let n = set.size();
    let simd = Variant::Simd.name();
    if n < MIN_ELEMENTS || !plan.mats.is_empty() {
        return format!("{simd}: not measured ({n} elements)");
    }
    // Scratch copies of the written Dats (by plan slot) and of every Global buffer.
    let mut scratch: Vec<Option<Vec<u64>>> = (0..plan.dats.len())
        .map(|u| {
            let written = args.iter().zip(&plan.slots).any(|(a, s)| {
                matches!((&a.0, s), (ArgKind::Dat { access, .. }, ArgSlot::Dat(w)) if *w == u && *access != Access::Read)
            });
            written.then(|| dats[u].clone())
        })
        .collect();
    let mut globals: Vec<Vec<u64>> = (args.iter())
        .map(|a| match &a.0 {
            ArgKind::Global { global, .. } => global.read().clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut ptrs = vec![std::ptr::null_mut::<c_void>(); args.len()];
    let mut maps = vec![std::ptr::null::<i32>(); args.len() + 1];
    maps[args.len()] = set.indices().map_or(std::ptr::null(), |ix| ix.as_ptr());
    for (i, (a, s)) in args.iter().zip(&plan.slots).enumerate() {
        match (&a.0, *s) {
            (ArgKind::Dat { path, .. }, ArgSlot::Dat(u)) => {
                let data = match &mut scratch[u] {
                    Some(copy) => copy.as_mut_slice(),
                    None => dats[u].as_mut_slice(),
                };
                (ptrs[i], maps[i]) = dat_pointers(data, path);
            }
            (ArgKind::Global { .. }, _) => ptrs[i] = globals[i].as_mut_ptr() as *mut c_void,
            _ => return format!("{simd}: not measured (a Mat argument)"),
        }
    }
    // SAFETY: (this call and the timed ones) the pointers are those `PtrTables::fill` would
    // give the call (see there), with each written Dat and every Global replaced by a copy of
    // the same length, all held until after these calls; one thread, owned elements [0, n).
    // A first call warms caches and pages for all three.
    unsafe { loaded.call_variant(Variant::Simd, 0, n, &ptrs, &maps) };
    // Each variant runs the whole range in turn (as the loop does: its data comes from memory,
    // not from the cache the previous variant filled), the first variant rotating from round
    // to round, timed piece by piece. Per variant and piece the minimum over the rounds; a
    // variant's time is the sum over its pieces: a time slice lost to another process spoils
    // one piece of one round, not the measurement.
    let step = n.div_ceil(PIECES);
    let mut piece_best = [[f64::INFINITY; PIECES]; 3];
    for round in 0..ROUNDS {
        let t0 = Instant::now();
        for j in 0..3 {
            let k = (round + j) % 3;
            for (c, start) in (0..n).step_by(step).enumerate() {
                let end = (start + step).min(n);
                let t = Instant::now();
                // SAFETY: see the first call above.
                unsafe { loaded.call_variant(Variant::ALL[k], start, end, &ptrs, &maps) };
                piece_best[k][c] = piece_best[k][c].min(t.elapsed().as_secs_f64());
            }
        }
        // A long loop is timed well enough by fewer rounds.
        if round == 0 && t0.elapsed().as_secs_f64() > 0.5 {
            break;
        }
    }
    let best: Vec<f64> = piece_best
        .iter()
        .map(|p| p.iter().filter(|t| t.is_finite()).sum())
        .collect();
    // The first variant (in the order simd, scalar, inlined) within MARGIN of the fastest:
    // timer noise between near-equal variants does not flip the choice from job to job.
    let min = best.iter().copied().fold(f64::INFINITY, f64::min);
    let fastest = (0..3).find(|&k| best[k] <= min * MARGIN).unwrap_or(0);
    let times: Vec<String> = (Variant::ALL.iter().zip(best))
        .map(|(v, t)| format!("{} {:.3} ms", v.name(), t * 1e3))
        .collect();
    format!(
        "{}: {} over {n} elements (rank 0)",
        Variant::ALL[fastest].name(),
        times.join(", ")
    )
}
