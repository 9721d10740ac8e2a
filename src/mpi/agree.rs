//! Agreement on errors before the next collective: a rank that failed alone must not leave
//! the others waiting, so every rank learns that (and, with [`agree_detail`], why) some rank
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
#[cfg_attr(not(feature = "hdf5"), allow(dead_code))]
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
