//! Agreement on errors before the next collective: a rank that failed alone must not leave
//! the others waiting, so every rank learns that (and, with `agree_detail`, why) some rank
//! failed. Calls MPI only through [`Comm`].

use crate::error::{Error, Result};
use crate::mpi::comm::{Comm, ReduceOp};

/// All ranks agree on success: if any rank failed, every rank returns `Error::Remote` naming
/// the lowest failed rank (that rank with its own message).
///
/// "No failure" is encoded as the communicator's size, not `u64::MAX`: with MPICH, a `MIN`
/// reduction of `u64`s over `{0, u64::MAX}` returned `u64::MAX` (the values compared as
/// signed), so a failure on one rank went unseen by the others.
pub(crate) fn agree<T>(comm: Comm, r: Result<T>) -> Result<T> {
    let none = comm.size() as u64;
    let me = if r.is_err() { comm.rank() as u64 } else { none };
    let first = comm.allreduce_u64(me, ReduceOp::Min)?;
    match r {
        Err(e) => Err(Error::Remote {
            rank: comm.rank(),
            detail: e.to_string(),
        }),
        Ok(_) if first != none => Err(Error::Remote {
            rank: first as i32,
            detail: "it could not build its part of the distributed data (see its message)".into(),
        }),
        Ok(v) => Ok(v),
    }
}

/// Like [`agree`], but every rank learns the first failed rank's own message (one allgather of
/// the messages): for errors that name what is at fault (a file, a dataset, an element), which
/// the other ranks should print too. On a one-rank communicator the error is returned as is.
pub(crate) fn agree_detail<T>(comm: Comm, r: Result<T>) -> Result<T> {
    if comm.size() == 1 {
        return r;
    }
    let mine = match &r {
        Err(e) => e.to_string().into_bytes(),
        Ok(_) => Vec::new(),
    };
    let all = comm.allgather_bytes(&mine)?;
    match all.iter().position(|m| !m.is_empty()) {
        None => r,
        Some(first) => Err(Error::Remote {
            rank: first as i32,
            detail: String::from_utf8_lossy(&all[first]).into_owned(),
        }),
    }
}

/// The checked mode's verdict (`OP2_CHECK`): every rank passes its own findings (one line each,
/// empty when all is well) and every rank returns the same [`Error::Check`] naming each rank's
/// findings if any rank has some. `what` says where the check ran (a loop, a halo update).
/// One allreduce when all is well, one allgather more otherwise.
pub(crate) fn agree_findings(comm: Comm, what: &str, findings: Vec<String>) -> Result<()> {
    let any = comm.allreduce_u64(!findings.is_empty() as u64, ReduceOp::Max)?;
    if any == 0 {
        return Ok(());
    }
    Err(findings_error(comm, what, findings)?)
}

/// Collective, once every rank knows some rank has findings: the [`Error::Check`] listing
/// every rank's findings (one allgather), the same on every rank.
pub(crate) fn findings_error(comm: Comm, what: &str, findings: Vec<String>) -> Result<Error> {
    let all = comm.allgather_bytes(findings.join("\n").as_bytes())?;
    let mut lines = Vec::new();
    for (r, b) in all.iter().enumerate() {
        let text = String::from_utf8_lossy(b);
        lines.extend(text.lines().map(|l| format!("  rank {r}: {l}")));
    }
    Ok(Error::Check {
        detail: format!("{what}:\n{}", lines.join("\n")),
    })
}
