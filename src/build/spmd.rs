//! The SPMD check of a class-cache miss: every rank of the loop's communicator is about to
//! build the same loop, or every rank returns the same error (one naming each rank's kernel,
//! or the message of a rank whose arguments failed validation), never a deadlock.

use crate::build::key::Request;
use crate::build::key::Signature;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::mpi::comm::{Comm, ReduceOp};

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
    if comm.size() == 1 {
        return match me {
            Mine::Loop(_) => Ok(()),
            Mine::Invalid(error) => Err(Error::Remote {
                rank: 0,
                detail: error.clone(),
            }),
        };
    }
    let (h, bad) = match me {
        Mine::Loop(req) => (req.class_key as u64, 0),
        Mine::Invalid(_) => (0, 1),
    };
    let m = comm.allreduce_words(&[h, !h, bad], ReduceOp::Max)?;
    // Valid ranks' keys: max(h) == min(h) = !max(!h); an invalid rank adds 0 to both maxima.
    let mut same = m[2] == 0 && m[0] == !m[1];
    if same && config.spmd_strict {
        let Mine::Loop(req) = me else {
            unreachable!("no rank is invalid here")
        };
        let text = Signature {
            kernel: req.kernel,
            args: req.shapes,
        }
        .text(&config.cc, &config.cflags, "")
            + req.kernel.code();
        let root_text = comm.broadcast_bytes(0, text.clone().into_bytes())?;
        same = comm.allreduce_u64((root_text == text.as_bytes()) as u64, ReduceOp::Min)? == 1;
    }
    if same {
        return Ok(());
    }
    let mine = match me {
        Mine::Loop(req) => format!("Kkernel `{}` key {:032x}", req.kernel.name(), req.class_key),
        Mine::Invalid(error) => format!("I{error}"),
    };
    let all = comm.allgather_bytes(mine.as_bytes())?;
    let all: Vec<String> = all
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    if let Some(first) = all.iter().position(|s| s.starts_with('I')) {
        // Some rank's arguments are invalid: every rank returns that rank's message.
        let others: Vec<String> = all
            .iter()
            .enumerate()
            .filter(|(r, s)| *r != first && s.starts_with('I'))
            .map(|(r, _)| r.to_string())
            .collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!(" (ranks {} too)", others.join(", "))
        };
        return Err(Error::Remote {
            rank: first as i32,
            detail: format!("{}{also}", &all[first][1..]),
        });
    }
    let all: Vec<&str> = all.iter().map(|s| &s[1..]).collect();
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
    Err(Error::SpmdMismatch {
        what: "the next generated-code loop (SPMD violation: ranks ran different par_loops)".into(),
        detail: format!("{hint}. {detail}"),
    })
}
