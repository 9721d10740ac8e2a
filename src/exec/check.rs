//! The checked mode (`OP2_CHECK=1`): what par_loop verifies around every call when asked.
//!
//! Owns, for each par_loop call:
//! * the **call agreement**: every rank is at the same call number with the same kernel (one
//!   allreduce of (number, kernel hash) on the loop's communicator, which also carries whether
//!   any rank missed its dispatch slot: then every rank takes the full path, so argument
//!   validation is agreed too); on a mismatch one allgather names what every rank runs. Finalize
//!   takes part as a call of its own, so a loop run on some ranks only fails on every rank at
//!   once, at its first or any later call;
//! * the **READ checks**: xxh3 checksums of every READ Dat (owned values and halo copies
//!   apart) before and after the run step (a Dat unwritten since its last checksum reuses it:
//!   `Dat::checksums`), and the run step's comparison of READ Globals;
//! * the **halo comparison**: before the run step, every Dat the loop reads through a map has
//!   its stale halo copies refreshed (a blocking exchange) and all its copies compared with
//!   their owners' values (`data::dat::halo_differences`: by global id, bytewise);
//! * the **verdict**: agreed in the next call agreement (the next par_loop or finalize: one
//!   collective per loop instead of two; at once on one rank); any finding on any rank is the
//!   same [`Error::Check`] on every rank, naming the loop, the kernel, the argument and the
//!   rank. When some kernel wrote a READ Dat, its halo copies are compared again, so the
//!   message also names the copies that now differ from their owners.
//!
//! While off, par_loop calls nothing here but [`on`] (one relaxed load).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::data::access::Access;
use crate::data::dat::{exchange_halo, halo_differences, Dat};
use crate::data::set::Set;
use crate::error::{Error, Result};
use crate::exec::arg::{Arg, ArgKind, Path};
use crate::exec::plan::{ArgSlot, LoopPlan};
use crate::jit::kernel::Kernel;
use crate::mpi::agree::{self, agree_on, Findings, Share, Words};
use crate::mpi::comm::Comm;

/// True when the configuration in force asks for the checked mode.
#[inline]
pub(crate) fn on() -> bool {
    crate::config::checking()
}

/// Checked par_loop calls (and finalize) of this process so far.
static CALLS: AtomicU64 = AtomicU64::new(0);
/// Set once a call agreement failed: the ranks are no longer in step, later agreements would
/// only pair unrelated calls, so they are skipped (finalize then waits in a plain barrier).
static OUT_OF_STEP: AtomicBool = AtomicBool::new(false);

/// The kernel-hash word of finalize in the call agreement.
const FINALIZE: u64 = u64::from_le_bytes(*b"op2final");

/// Collective over `comm`: every rank is at the same call number of the same loop (`key`, the
/// kernel's hash word; `what` describes the call for the message). Returns whether any rank
/// missed its dispatch slot (`miss` here): then every rank takes the full path.
pub(crate) fn agree_call(
    comm: Comm,
    key: u64,
    what: &dyn Fn() -> String,
    miss: bool,
) -> Result<bool> {
    let n = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    let pending = PENDING.lock().unwrap_or_else(|e| e.into_inner()).take();
    if comm.size() == 1 || OUT_OF_STEP.load(Ordering::Relaxed) {
        return Ok(miss);
    }
    let (found, wrote) = pending
        .as_ref()
        .map_or((false, false), |p| (!p.findings.is_empty(), p.wrote_halo));
    let describe = || format!("call {n}: {}", what());
    let words = Words {
        same: &[n, key],
        any: &[miss as u64, found as u64, wrote as u64],
        describe: Some(&describe),
    };
    let ((), seen) = agree_on(comm, Share::Status, words, Ok::<(), Error>(()))?;
    if seen.any[1] != 0 {
        // The previous loop's verdict: some rank found something there.
        return Err(verdict(comm, pending, seen.any[2] != 0)?);
    }
    if seen.same {
        return Ok(seen.any[0] != 0);
    }
    OUT_OF_STEP.store(true, Ordering::Relaxed);
    Err(seen.differ(|all| {
        let lines: Vec<String> = (all.iter().enumerate())
            .map(|(r, d)| format!("  rank {r}: {d}"))
            .collect();
        Error::Check {
            detail: format!(
                "the ranks are at different par_loops (a par_loop runs on some ranks only, or in another order: every rank must run the same par_loops in the same order):\n{}",
                lines.join("\n")
            ),
        }
    }))
}

/// The verdict of the last checked loop on a communicator of several ranks, agreed with the
/// next call agreement (one collective per loop instead of two): this rank's findings and the
/// Dats that loop read through maps (the same on every rank), compared again when some rank's
/// kernel wrote a READ Dat with halo copies.
struct Pending {
    what: String,
    findings: Vec<String>,
    wrote_halo: bool,
    read_halo: Vec<Dat>,
}

static PENDING: Mutex<Option<Pending>> = Mutex::new(None);

/// Collective, once every rank knows that some rank has findings from the previous loop: the
/// error naming them (and, with `halo`, the halo copies of its Dats that now differ).
fn verdict(comm: Comm, pending: Option<Pending>, halo: bool) -> Result<Error> {
    let (what, mut found, dats) = match pending {
        Some(p) => (p.what, p.findings, p.read_halo),
        None => ("the previous par_loop".to_string(), Vec::new(), Vec::new()),
    };
    if halo {
        let dats: Vec<&Dat> = dats.iter().collect();
        found.extend(
            halo_differences(&dats)?
                .into_iter()
                .map(|l| format!("after the loop: {l}")),
        );
    }
    let report = agree::report(&what);
    let r = agree::agree(comm, Share::Every(&report), Findings::result(found));
    Ok(r.err().unwrap_or_else(|| report(Vec::new())))
}

/// Collective, at finalize: in the checked mode the call agreement for "finalize" (a rank
/// still running par_loops fails with this rank's side named); otherwise, or once the ranks
/// are out of step, a barrier the hang watchdog watches (a rank left in a collective makes
/// every rank print where it waits instead of hanging in MPI_Finalize).
pub(crate) fn at_finalize(comm: Comm) -> Result<()> {
    if on() && !OUT_OF_STEP.load(Ordering::Relaxed) {
        let what = || "finalize (this rank runs no more par_loops)".to_string();
        let r = agree_call(comm, FINALIZE, &what, false);
        if r.is_ok() {
            return Ok(());
        }
        comm.barrier()?; // the others come here from their failed par_loop
        return r.map(|_| ());
    }
    comm.barrier()
}

/// "argument 1 (Dat x, through map c2n entry 0)".
fn describe_arg(i: usize, a: &Arg) -> String {
    match &a.0 {
        ArgKind::Dat { dat, path, .. } => {
            let how = match path {
                Path::Direct => "directly".to_string(),
                Path::Index(m, k) => format!("through map {} entry {k}", m.name()),
                Path::Vector(m) => format!("through every entry of map {}", m.name()),
            };
            format!("argument {i} (Dat {}, {how})", dat.name())
        }
        ArgKind::Global { global, .. } => format!("argument {i} (Global {})", global.name()),
        ArgKind::Mat { mat, .. } => format!("argument {i} (Mat {})", mat.name()),
    }
}

fn dat_of<'a>(plan: &LoopPlan, args: &'a [Arg], u: usize) -> &'a Dat {
    match &args[plan.dats[u].arg].0 {
        ArgKind::Dat { dat, .. } => dat,
        _ => unreachable!("a Dat slot names a Dat argument"),
    }
}

/// Checksums of a Dat's owned values and of its halo copies (recomputed only when written
/// since: the run step's write guard counts, so the sums after a loop are fresh and the next
/// loop's "before" reuses them).
fn sums(dat: &Dat) -> (u64, u64) {
    dat.checksums()
}

/// What a checked call keeps from before its run step.
pub(crate) struct Checked {
    /// (unique Dat, owned checksum, halo checksum) of every READ Dat.
    sums: Vec<(usize, (u64, u64))>,
    /// Halo copies that differed from their owners' values before the call.
    findings: Vec<String>,
    /// Filled by the run step: READ Global arguments whose buffer the kernel changed.
    pub(crate) globals_written: Vec<usize>,
}

/// Before the run step (collective): refresh and compare the halo copies the loop reads,
/// then checksum every READ Dat.
pub(crate) fn before(plan: &LoopPlan, args: &[Arg]) -> Result<Checked> {
    let read: Vec<&Dat> = plan
        .refresh
        .iter()
        .map(|&u| dat_of(plan, args, u))
        .collect();
    for dat in &read {
        if !dat.halo_valid() {
            exchange_halo(dat)?;
        }
    }
    let findings = halo_differences(&read)?;
    let sums = (0..plan.dats.len())
        .filter(|&u| plan.dats[u].access == Access::Read)
        .map(|u| (u, sums(dat_of(plan, args, u))))
        .collect();
    Ok(Checked {
        sums,
        findings,
        globals_written: Vec::new(),
    })
}

impl Checked {
    /// After the run step (collective): compare the checksums and agree the verdict.
    pub(crate) fn after(
        self,
        kernel: &Kernel,
        set: &Set,
        plan: &LoopPlan,
        args: &[Arg],
        call: u64,
    ) -> Result<()> {
        let comm = set.comm();
        let name = kernel.name();
        let mut found = self.findings;
        let mut wrote_halo = false;
        let args_of = |u: usize| -> Vec<String> {
            args.iter()
                .zip(&plan.slots)
                .enumerate()
                .filter(|(_, (_, s))| **s == ArgSlot::Dat(u))
                .map(|(i, (a, _))| describe_arg(i, a))
                .collect()
        };
        for &(u, (owned, halo)) in &self.sums {
            let dat = dat_of(plan, args, u);
            let (o, h) = sums(dat);
            if (o, h) == (owned, halo) {
                continue;
            }
            let part = match (o != owned, h != halo) {
                (true, true) => "owned values and halo copies",
                (true, false) => "owned values",
                _ => "halo copies",
            };
            wrote_halo |= dat.set().halo().is_some();
            found.push(format!(
                "kernel `{name}` wrote its READ {} ({part} changed): a kernel must not write a READ argument (its C parameter should be `const`); pass it RW, WRITE or INC if it is written",
                args_of(u).join(" and ")
            ));
        }
        for &i in &self.globals_written {
            found.push(format!(
                "kernel `{name}` wrote its READ {} (the value later elements saw changed): pass the Global INC, MIN or MAX if it is reduced",
                describe_arg(i, &args[i])
            ));
        }
        let what = format!(
            "loop `{name}` over set {} (par_loop call {call})",
            set.name()
        );
        if comm.size() == 1 {
            let report = agree::report(&what);
            return agree::agree(comm, Share::Every(&report), Findings::result(found));
        }
        // Agreed at the next call agreement (the next par_loop, or finalize).
        let read_halo = (plan.refresh.iter())
            .filter(|&&u| plan.dats[u].access == Access::Read)
            .map(|&u| dat_of(plan, args, u).clone())
            .collect();
        *PENDING.lock().unwrap_or_else(|e| e.into_inner()) = Some(Pending {
            what,
            findings: found,
            wrote_halo,
            read_halo,
        });
        Ok(())
    }
}

/// The number of the last checked call on this process (for messages).
pub(crate) fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}
