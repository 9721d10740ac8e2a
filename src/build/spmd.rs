//! The SPMD check of a class-cache miss: every rank of the loop's communicator is about to
//! build the same loop, or every rank returns the same error (one naming each rank's kernel,
//! or the message of a rank whose arguments failed validation), never a deadlock.

use crate::build::key::Request;
use crate::build::key::Signature;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::mpi::agree::{agree_on, Message, Share, Words};
use crate::mpi::comm::Comm;

/// What one rank brings to the SPMD check: the loop it is about to build, or the message of
/// the argument validation that failed here (it has no loop to build).
pub(crate) enum Mine<'a> {
    Loop(&'a Request<'a>),
    Invalid(String),
}

/// Collective, on a rank whose par_loop arguments failed validation while the other ranks may
/// be about to build the loop (the kernel's first loop on this rank, so no rank can hit the
/// class cache): take part in their SPMD check with the message, so that every rank returns
/// the same error naming this rank and its message instead of this rank aborting alone.
pub(crate) fn refuse(comm: Comm, config: &Config, error: Error) -> Error {
    let mine = Mine::Invalid(error.to_string());
    spmd_check(comm, config, &mine).err().unwrap_or(error)
}

/// Verify that every rank is about to build the same loop (turns a deadlock into an error).
/// One allreduce (MAX of the key hash, of its complement and of "invalid here").
pub(crate) fn spmd_check(comm: Comm, config: &Config, me: &Mine) -> Result<()> {
    let (h, mine) = match me {
        Mine::Loop(req) => (req.class_key as u64, Ok(())),
        Mine::Invalid(error) => (0, Err(Message(error.clone()))),
    };
    let describe = || match me {
        Mine::Loop(req) => format!("kernel `{}` key {:032x}", req.kernel.name(), req.class_key),
        Mine::Invalid(_) => String::new(),
    };
    let words = Words {
        same: &[h],
        any: &[],
        describe: Some(&describe),
    };
    // Some rank's arguments are invalid: every rank returns that rank's message.
    let invalid = |failed: Vec<(usize, String)>| invalid_args(failed);
    let ((), mut seen) = agree_on(comm, Share::Every(&invalid), words, mine)?;
    if seen.same && config.spmd_strict && comm.size() > 1 {
        let Mine::Loop(req) = me else {
            unreachable!("no rank is invalid here")
        };
        let text = Signature {
            kernel: req.kernel,
            args: req.shapes,
            indexed: req.indexed,
        }
        .text(&config.cc, &config.cflags, "")
            + req.kernel.code();
        let root_text = comm.broadcast_bytes(0, text.clone().into_bytes())?;
        // Rank 0's word is 1: equal everywhere only if every rank's text is rank 0's.
        let words = Words {
            same: &[(root_text == text.as_bytes()) as u64],
            any: &[],
            describe: Some(&describe),
        };
        seen = agree_on(comm, Share::Status, words, Ok::<(), Error>(()))?.1;
    }
    if seen.same {
        return Ok(());
    }
    Err(seen.differ(|all| kernels_differ(&all)))
}

/// The error of an SPMD check in which some ranks' arguments were invalid (`failed`: their
/// ranks and messages): the first one's message, naming the others.
fn invalid_args(failed: Vec<(usize, String)>) -> Error {
    let (first, msg) = failed.first().cloned().unwrap_or_default();
    let others: Vec<String> = failed[1..].iter().map(|(r, _)| r.to_string()).collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(" (ranks {} too)", others.join(", "))
    };
    Error::Remote {
        rank: first as i32,
        detail: format!("{msg}{also}"),
    }
}

/// The error of an SPMD check whose ranks build different loops (`all`: what each builds).
fn kernels_differ(all: &[String]) -> Error {
    let name_of = |s: &str| s.split('`').nth(1).unwrap_or("").to_string();
    let names: std::collections::BTreeSet<String> = all.iter().map(|s| name_of(s)).collect();
    let hint = if names.len() > 1 {
        "the ranks are running different kernels: a par_loop is inside a rank-dependent branch, or the ranks' loops are in a different order; every rank must run the same par_loops in the same order"
    } else {
        "same kernel, different loop: an argument differs between ranks (a Dat's dim or type, an access mode, a map's arity) or the kernel's source or flags do"
    };
    let detail = all
        .iter()
        .enumerate()
        .map(|(r, s)| format!("rank {r}: {s}"))
        .collect::<Vec<_>>()
        .join("; ");
    Error::SpmdMismatch {
        what: "the next generated-code loop (SPMD violation: ranks ran different par_loops)".into(),
        detail: format!("{hint}. {detail}"),
    }
}
