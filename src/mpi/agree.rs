//! Agreement across ranks: the one place where ranks decide together whether every rank
//! succeeded and whether they all see the same thing, before the next collective. A rank
//! that failed alone must not leave the others waiting, so every rank learns that (and, by
//! the `Share` asked for, why) some rank failed.
//!
//! `agree_on` is the primitive; `agree` is it without extra words. Every error they
//! return on a communicator of several ranks is marked agreed ([`Error::is_agreed`]): the mark
//! is set here and only here (a unit test checks that no other file sets it), so
//! `op2::run` knows by how an error was produced, not by its variant, that every rank holds
//! it and all may finalize together. [`Error::on_every_rank`] is the one other way to set it,
//! for a decision every rank took from values they hold alike (a reduction's result, rank 0's
//! broadcast outcome). Calls MPI only through [`Comm`].

use crate::error::{Agreed, Error, Result};
use crate::mpi::comm::{Comm, ReduceOp};

/// How much every rank learns when some rank failed.
pub(crate) enum Share<'a> {
    /// Which rank failed first (one allreduce): every rank returns `Error::Remote` naming the
    /// lowest failed rank, which keeps its own message.
    Status,
    /// The lowest failed rank's own message too, on every rank (one allgather): for errors
    /// that name what is at fault (a file, a dataset, an element). On a one-rank communicator
    /// the error is returned as is.
    Detail,
    /// Every failed rank's message, as (rank, message) in rank order, made into the one
    /// error every rank returns by this function (one allgather more, only on a failure).
    Every(&'a dyn Fn(Vec<(usize, String)>) -> Error),
    /// Rank 0's outcome decides (one broadcast): the other ranks pass `Ok` (what they pass
    /// otherwise is their own, unagreed) and every rank returns `Error::Remote` naming rank 0
    /// with its message if rank 0 failed. No extra words.
    Root,
}

/// Words reduced in the same collective as the status (no collective more when all is well).
#[derive(Default)]
pub(crate) struct Words<'a> {
    /// Must be equal on every rank that succeeded (a key hash, a call number, setting hashes).
    /// Every rank passes as many `same` and `any` words, a failed rank too.
    pub same: &'a [u64],
    /// Flags or values combined with MAX over the ranks.
    pub any: &'a [u64],
    /// What this rank describes itself as when `same` differs (gathered from every rank for
    /// [`Seen::differ`]).
    pub describe: Option<&'a dyn Fn() -> String>,
}

/// What every rank saw, once every rank succeeded.
pub(crate) struct Seen {
    /// Whether `same` was equal on every rank.
    pub same: bool,
    /// MAX over the ranks of each `any` word.
    pub any: Vec<u64>,
    /// Every rank's description when `same` differs (empty otherwise).
    described: Vec<String>,
}

impl Seen {
    /// The error every rank returns because `same` differed: `build` gets every rank's
    /// description (in rank order).
    pub(crate) fn differ(self, build: impl FnOnce(Vec<String>) -> Error) -> Error {
        Agreed::wrap(build(self.described))
    }
}

/// Collective over `comm`, the one agreement: every rank passes its outcome `r` and `words`;
/// every rank returns the same verdict. Failure first: if any rank failed, every rank returns
/// the error `share` asks for. Otherwise `Ok` with what every rank saw of `words`.
///
/// One allreduce (or, for [`Share::Detail`] without words, one allgather) when all is well.
/// "No failure" is encoded as 0 and a failure of rank `r` as `size - r` in a MAX reduction,
/// never as `u64::MAX` in a MIN: with MPICH a `MIN` of `u64`s over `{0, u64::MAX}` returned
/// `u64::MAX` (the values compared as signed). The equality test of `same` (the MAX of each
/// word and of its complement) holds whether the values compare as signed or unsigned.
pub(crate) fn agree_on<T, E>(
    comm: Comm,
    share: Share,
    words: Words,
    r: std::result::Result<T, E>,
) -> Result<(T, Seen)>
where
    E: std::fmt::Display + Into<Error>,
{
    let size = comm.size() as usize;
    let plain = words.same.is_empty() && words.any.is_empty();
    if let Share::Root = share {
        debug_assert!(plain, "Share::Root takes no words");
        let mut msg = vec![r.is_err() as u8];
        msg.extend_from_slice(message(&r).as_bytes());
        if !comm.is_root() {
            msg = Vec::new();
        }
        let msg = comm.broadcast_bytes(0, msg)?;
        if msg.first() == Some(&1) {
            return Err(mark(comm, remote_error(0, &msg[1..])));
        }
        return r.map(|v| (v, seen(&words))).map_err(Into::into);
    }
    if let (Share::Detail, true) = (&share, plain) {
        // The messages are the status: one allgather.
        if size == 1 {
            return r.map(|v| (v, seen(&words))).map_err(Into::into);
        }
        let all = comm.allgather_bytes(message(&r).as_bytes())?;
        return match all.iter().position(|m| !m.is_empty()) {
            None => r.map(|v| (v, seen(&words))).map_err(Into::into),
            Some(first) => Err(Agreed::wrap(remote_error(first, &all[first]))),
        };
    }
    let (same, any) = (words.same, words.any);
    let me = if r.is_err() {
        size - comm.rank() as usize
    } else {
        0
    };
    let mut w = Vec::with_capacity(1 + 2 * same.len() + any.len());
    w.push(me as u64);
    w.extend(same.iter().map(|&h| if r.is_ok() { h } else { 0 }));
    w.extend(same.iter().map(|&h| if r.is_ok() { !h } else { 0 }));
    w.extend_from_slice(any);
    let m = comm.allreduce_words(&w, ReduceOp::Max)?;
    if m[0] != 0 {
        let first = size - m[0] as usize;
        return Err(failed(comm, share, first, r.err())?);
    }
    let n = same.len();
    let equal = (0..n).all(|i| m[1 + i] == !m[1 + n + i]);
    let mut described = Vec::new();
    if !equal {
        let mine = words.describe.map(|d| d()).unwrap_or_default();
        described = (comm.allgather_bytes(mine.as_bytes())?.iter())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
    }
    let v = r.unwrap_or_else(|_| unreachable!("no rank failed"));
    let seen = Seen {
        same: equal,
        any: m[1 + 2 * n..].to_vec(),
        described,
    };
    Ok((v, seen))
}

/// [`agree_on`] without extra words: every rank returns `Ok` only if every rank succeeded.
pub(crate) fn agree<T, E>(comm: Comm, share: Share, r: std::result::Result<T, E>) -> Result<T>
where
    E: std::fmt::Display + Into<Error>,
{
    agree_on(comm, share, Words::default(), r).map(|(v, _)| v)
}

/// The error of a failed agreement (`first`: the lowest failed rank; `mine`: this rank's own
/// failure, if any). Collective for [`Share::Detail`] and [`Share::Every`].
fn failed<E: std::fmt::Display>(
    comm: Comm,
    share: Share,
    first: usize,
    mine: Option<E>,
) -> Result<Error> {
    let text = mine.map(|e| e.to_string());
    let e = match share {
        Share::Status => match text {
            Some(detail) => Error::Remote {
                rank: comm.rank(),
                detail,
            },
            None => Error::Remote {
                rank: first as i32,
                detail: "it could not build its part of the distributed data (see its message)"
                    .into(),
            },
        },
        Share::Detail => {
            let all = comm.allgather_bytes(text.unwrap_or_default().as_bytes())?;
            remote_error(first, &all[first])
        }
        Share::Every(build) => {
            let mine = text.map(|t| format!("1{t}")).unwrap_or_default();
            let all = comm.allgather_bytes(mine.as_bytes())?;
            let failed = (all.iter().enumerate())
                .filter_map(|(r, b)| {
                    let t = String::from_utf8_lossy(b);
                    t.strip_prefix('1').map(|t| (r, t.to_string()))
                })
                .collect();
            build(failed)
        }
        Share::Root => unreachable!("decided by the broadcast"),
    };
    Ok(mark(comm, e))
}

fn seen(words: &Words) -> Seen {
    Seen {
        same: true,
        any: words.any.to_vec(),
        described: Vec::new(),
    }
}

fn message<T, E: std::fmt::Display>(r: &std::result::Result<T, E>) -> String {
    r.as_ref().err().map(|e| e.to_string()).unwrap_or_default()
}

fn remote_error(rank: usize, detail: &[u8]) -> Error {
    Error::Remote {
        rank: rank as i32,
        detail: String::from_utf8_lossy(detail).into_owned(),
    }
}

/// Mark `e` agreed on a communicator of several ranks (on one rank it is trivially so and is
/// returned as is, so its variant can be matched directly).
fn mark(comm: Comm, e: Error) -> Error {
    if comm.size() > 1 {
        Agreed::wrap(e)
    } else {
        e
    }
}

/// A failure known by its message only (formatted by the caller), for [`Share::Every`].
pub(crate) struct Message(pub String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Message> for Error {
    fn from(m: Message) -> Error {
        Error::invalid("op2", m.0)
    }
}

/// Mark `e`, which every rank of `comm` returns because they decided it from rank 0's
/// broadcast outcome (a compile's), as agreed; on one rank it is returned as is, like every
/// error of this module.
pub(crate) fn broadcast_outcome(comm: Comm, e: Error) -> Error {
    mark(comm, e)
}

/// The checked mode's findings on one rank (one line each), for [`Share::Every`] with
/// [`report`].
pub(crate) struct Findings(pub Vec<String>);

impl std::fmt::Display for Findings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl From<Findings> for Error {
    fn from(f: Findings) -> Error {
        Error::Check {
            detail: f.to_string(),
        }
    }
}

impl Findings {
    /// `Ok` when there are none.
    pub(crate) fn result(lines: Vec<String>) -> std::result::Result<(), Findings> {
        if lines.is_empty() {
            Ok(())
        } else {
            Err(Findings(lines))
        }
    }
}

/// The checked mode's verdict for [`Share::Every`]: one [`Error::Check`] naming `what` (where
/// the check ran: a loop, a halo update) and every rank's findings, a line each.
pub(crate) fn report(what: &str) -> impl Fn(Vec<(usize, String)>) -> Error + '_ {
    move |failed| {
        let mut lines = Vec::new();
        for (r, text) in failed {
            lines.extend(text.lines().map(|l| format!("  rank {r}: {l}")));
        }
        Error::Check {
            detail: format!("{what}:\n{}", lines.join("\n")),
        }
    }
}

impl Error {
    /// True for an error every rank of the communicator returns together, so all ranks can
    /// still finalize collectively: one produced by the agreement (`agree_on`) or stated
    /// with [`Error::on_every_rank`]. Errors of a one-rank job are not marked (there is no
    /// other rank); `op2::run` treats them as shared.
    pub fn is_agreed(&self) -> bool {
        matches!(self, Error::Agreed(_))
    }

    /// The caller's statement that every rank of the communicator returns this same error at
    /// this point, decided from values every rank holds alike (a reduction's result, rank 0's
    /// broadcast outcome, constants every rank read): marks it agreed without a collective, so
    /// that `op2::run` finalizes every rank instead of aborting the job. A rank that did not
    /// fail here would leave the others waiting in finalize (the hang watchdog then aborts).
    ///
    /// ```
    /// let e = op2::Error::invalid("x", "y").on_every_rank();
    /// assert!(e.is_agreed());
    /// assert_eq!(e.to_string(), "invalid argument to x: y");
    /// assert!(matches!(e.unmarked(), op2::Error::InvalidArgument { .. }));
    /// ```
    pub fn on_every_rank(self) -> Error {
        Agreed::wrap(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agreed_mark_is_set_only_by_this_module() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src.clone()];
        let mut found = Vec::new();
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
                    let text = std::fs::read_to_string(&p).unwrap();
                    if rel != "mpi/agree.rs" && rel != "error.rs" && text.contains("Agreed::wrap") {
                        found.push(rel);
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "the agreed mark is set outside mpi/agree.rs in {found:?}"
        );
    }

    #[test]
    fn one_rank_agreements_keep_the_error_and_its_variant() {
        let comm = Comm::serial();
        let r: Result<()> = Err(Error::invalid("w", "d"));
        let e = agree(comm, Share::Detail, r).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }) && !e.is_agreed());
        let lines = vec!["a".to_string(), "b".to_string()];
        let e = agree(
            comm,
            Share::Every(&report("loop k")),
            Findings::result(lines),
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "OP2_CHECK: loop k:\n  rank 0: a\n  rank 0: b"
        );
        let (v, seen) = agree_on(
            comm,
            Share::Status,
            Words {
                same: &[7, 9],
                any: &[3],
                describe: None,
            },
            Ok::<_, Error>(5),
        )
        .unwrap();
        assert_eq!((v, seen.same, seen.any), (5, true, vec![3]));
    }
}
