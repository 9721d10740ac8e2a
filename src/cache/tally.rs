//! Counters bumped on every par_loop without a locked instruction: single-writer cells.
//!
//! Owns [`Tally`], a group of `N` counters that the first thread to add to it (its *owner*)
//! bumps with a plain load and store, and every other thread with an atomic add into a second
//! set of cells; a read sums both. A process whose par_loops run on one thread (the usual case:
//! one rank, one calling thread) therefore pays no `lock`-prefixed instruction, and a process
//! that calls par_loop from several threads still loses no count. Never decides anything from
//! a count.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The next thread token (0: none yet); tokens are never reused, so a dead owner's cells only
/// stop changing.
static NEXT: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static TOKEN: Cell<u64> = const { Cell::new(0) };
}

/// This thread's token (assigned on first use).
#[inline]
fn token() -> u64 {
    TOKEN.with(|t| match t.get() {
        0 => {
            let v = NEXT.fetch_add(1, Relaxed);
            t.set(v);
            v
        }
        v => v,
    })
}

/// `N` counters added to together (see the module documentation).
pub(crate) struct Tally<const N: usize> {
    owner: AtomicU64,
    own: [AtomicU64; N],
    shared: [AtomicU64; N],
}

impl<const N: usize> Default for Tally<N> {
    fn default() -> Tally<N> {
        Tally::new()
    }
}

impl<const N: usize> Tally<N> {
    pub(crate) const fn new() -> Tally<N> {
        Tally {
            owner: AtomicU64::new(0),
            own: [const { AtomicU64::new(0) }; N],
            shared: [const { AtomicU64::new(0) }; N],
        }
    }

    /// Add `v[i]` to counter `i`.
    #[inline]
    pub(crate) fn add(&self, v: [u64; N]) {
        let me = token();
        let owner = self.owner.load(Relaxed);
        let mine = owner == me
            || (owner == 0 && self.owner.compare_exchange(0, me, Relaxed, Relaxed).is_ok());
        let cells = if mine { &self.own } else { &self.shared };
        for (c, x) in cells.iter().zip(v) {
            if mine {
                // Only the owner writes `own`: no other store can fall between the two.
                c.store(c.load(Relaxed).wrapping_add(x), Relaxed);
            } else if x != 0 {
                c.fetch_add(x, Relaxed);
            }
        }
    }

    /// Counter `i` (every thread's additions; another thread's latest ones may not be visible
    /// yet unless it was joined or synchronised with).
    pub(crate) fn get(&self, i: usize) -> u64 {
        self.own[i]
            .load(Relaxed)
            .wrapping_add(self.shared[i].load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_the_owner_and_from_other_threads_add_up() {
        let t: std::sync::Arc<Tally<2>> = Default::default();
        t.add([1, 10]);
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| t.add([1, 2])))
            })
            .collect();
        (0..1000).for_each(|_| t.add([1, 0]));
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(t.get(0), 1 + 4000 + 1000);
        assert_eq!(t.get(1), 10 + 8000);
    }
}
