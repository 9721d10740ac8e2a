//! Per-communicator state: what a runtime keeps "on its communicator", as PyOP2 keeps its
//! caches in MPI attributes (`MPI_Comm_set_attr`).
//!
//! Owns one table `(communicator id, type) -> Arc<value>`. A [`crate::Runtime`] puts its
//! configuration and its class cache here when it is created and takes everything of its
//! communicator out at finalize; lower layers find them from an object's communicator (objects
//! know their communicator through their Set), so two runtimes on different communicators in one
//! process never share a cache or a setting. Never communicates: ids are agreed by
//! [`Comm`]'s constructors.

use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::error::Result;
use crate::mpi::comm::Comm;

type Value = Arc<dyn Any + Send + Sync>;

/// The table: few communicators, few types; a linear scan under one lock.
static TABLE: Mutex<Vec<(u64, TypeId, Value)>> = Mutex::new(Vec::new());

fn table() -> std::sync::MutexGuard<'static, Vec<(u64, TypeId, Value)>> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The value of type `T` kept on `comm`, if any.
pub(crate) fn get<T: Any + Send + Sync>(comm: Comm) -> Option<Arc<T>> {
    let (id, ty) = (comm.id(), TypeId::of::<T>());
    let t = table();
    let v = t.iter().find(|(c, k, _)| *c == id && *k == ty)?.2.clone();
    v.downcast::<T>().ok()
}

/// The value of type `T` kept on `comm`, made by `make` on first use.
pub(crate) fn get_or_insert_with<T: Any + Send + Sync>(
    comm: Comm,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    let (id, ty) = (comm.id(), TypeId::of::<T>());
    let mut t = table();
    if let Some((_, _, v)) = t.iter().find(|(c, k, _)| *c == id && *k == ty) {
        if let Ok(v) = v.clone().downcast::<T>() {
            return v;
        }
    }
    let v = Arc::new(make());
    t.push((id, ty, v.clone()));
    v
}

/// Keep `value` on `comm` (replacing a value of the same type).
pub(crate) fn set<T: Any + Send + Sync>(comm: Comm, value: Arc<T>) {
    let (id, ty) = (comm.id(), TypeId::of::<T>());
    let mut t = table();
    t.retain(|(c, k, _)| !(*c == id && *k == ty));
    t.push((id, ty, value));
}

/// Drop everything kept on `comm` (its runtime's finalize). Values still held elsewhere live
/// on until their last holder drops them.
pub(crate) fn clear(comm: Comm) {
    let id = comm.id();
    let gone: Vec<Value> = {
        let mut t = table();
        let (gone, keep): (Vec<_>, Vec<_>) = t.drain(..).partition(|(c, _, _)| *c == id);
        *t = keep;
        gone.into_iter().map(|(_, _, v)| v).collect()
    };
    drop(gone); // outside the lock: a value's drop may unload libraries
}

/// The configuration of the runtime on `comm`, or the process's ([`crate::config::current`])
/// where no runtime was created on it (serial use, objects made before a runtime).
/// On a communicator other than the world and the serial one, only its runtime's: after that
/// runtime's finalize its objects are refused with a message.
pub fn config(comm: Comm) -> Result<Arc<Config>> {
    match get::<Config>(comm) {
        Some(c) => Ok(c),
        None if comm.id() > 1 => Err(crate::error::Error::invalid(
            "op2 runtime",
            format!(
                "the runtime of communicator {} was finalized (or never created): its objects \
                 cannot run loops",
                comm.id()
            ),
        )),
        None => crate::config::current(),
    }
}
