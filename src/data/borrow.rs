//! Data without copies (PyOP2's `data_ro`, `data`, `data_ro_with_halos`, `data_with_halos`):
//! guards that lend a Dat's or a Global's own storage as a typed slice.
//!
//! Owns the guards and the rule that keeps them from aliasing a running loop. A guard holds the
//! storage's lock (read for the read-only slices, write for the writable ones) for as long as
//! it lives, so in safe Rust nothing else can write the values while a slice is lent, and a
//! writable slice is the only access. Each guard also counts itself on its Dat or Global
//! (`borrows`); whoever would wait for the lock on the thread that holds a guard (par_loop,
//! `to_vec`, `set_values`, halo updates) sees the count and returns an error naming the object
//! instead of waiting forever for itself (`Dat::lock_write`, `Dat::lock_read`). A writable
//! guard marks the Dat's halo copies stale when it is created (the caller may change owned
//! values), so the next loop that reads halos exchanges; writing halo copies through
//! `data_with_halos` is the caller's business (they are stale too until the next exchange).
//!
//! Raw pointers (`as_ptr`, `as_mut_ptr`) are for a foreign front end (a numpy array over the
//! same memory): valid while the guard lives; using them is the caller's `unsafe`.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use crate::data::dat::{Dat, Global};
use crate::dtype::{self, Scalar};
use crate::error::{Error, Result};

/// One guard's mark on its object's borrow count, removed when the guard drops.
struct Mark<'a>(&'a AtomicUsize);

impl<'a> Mark<'a> {
    fn new(count: &'a AtomicUsize) -> Mark<'a> {
        count.fetch_add(1, Ordering::AcqRel);
        Mark(count)
    }
}

impl Drop for Mark<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `lock` for reading: an error (`busy`) if it is held for writing while this object has a
/// data guard (on this thread it would never be released), else the lock, waiting if need be.
fn lock_read<'a>(
    lock: &'a RwLock<Vec<u64>>,
    borrows: &AtomicUsize,
    busy: impl FnOnce() -> Error,
) -> Result<RwLockReadGuard<'a, Vec<u64>>> {
    match lock.try_read() {
        Ok(g) => Ok(g),
        Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
        Err(TryLockError::WouldBlock) if borrows.load(Ordering::Acquire) > 0 => Err(busy()),
        Err(TryLockError::WouldBlock) => Ok(lock.read().unwrap_or_else(|e| e.into_inner())),
    }
}

/// `lock` for writing, as [`lock_read`].
fn lock_write<'a>(
    lock: &'a RwLock<Vec<u64>>,
    borrows: &AtomicUsize,
    busy: impl FnOnce() -> Error,
) -> Result<RwLockWriteGuard<'a, Vec<u64>>> {
    match lock.try_write() {
        Ok(g) => Ok(g),
        Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
        Err(TryLockError::WouldBlock) if borrows.load(Ordering::Acquire) > 0 => Err(busy()),
        Err(TryLockError::WouldBlock) => Ok(lock.write().unwrap_or_else(|e| e.into_inner())),
    }
}

/// A read-only slice of a Dat's or Global's values, without a copy (see [`Dat::data_ro`]).
pub struct DataRef<'a, T: Scalar> {
    guard: RwLockReadGuard<'a, Vec<u64>>,
    n: usize,
    _mark: Mark<'a>,
    _t: PhantomData<T>,
}

/// A writable slice of a Dat's or Global's values, without a copy (see [`Dat::data`]).
pub struct DataMut<'a, T: Scalar> {
    guard: RwLockWriteGuard<'a, Vec<u64>>,
    n: usize,
    _mark: Mark<'a>,
    _t: PhantomData<T>,
}

impl<T: Scalar> Deref for DataRef<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        dtype::view::<T>(&self.guard, self.n)
    }
}

impl<T: Scalar> Deref for DataMut<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        dtype::view::<T>(&self.guard, self.n)
    }
}

impl<T: Scalar> DerefMut for DataMut<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        dtype::view_mut::<T>(&mut self.guard, self.n)
    }
}

impl<T: Scalar> DataRef<'_, T> {
    /// The first value's address, valid while the guard lives (for a foreign front end).
    pub fn as_ptr(&self) -> *const T {
        self.deref().as_ptr()
    }
}

impl<T: Scalar> DataMut<'_, T> {
    /// The first value's address, writable while the guard lives (for a foreign front end).
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.deref_mut().as_mut_ptr()
    }
}

impl Dat {
    /// The owned values, read-only, without a copy (PyOP2's `data_ro`). `T` must be the Dat's
    /// dtype. While the guard lives, loops and writes of this Dat fail with an error (on this
    /// thread) or wait (on others).
    ///
    /// ```
    /// let s = op2::Set::new(3).unwrap();
    /// let d = op2::Dat::new(&op2::DataSet::new(&s, 1).unwrap(), vec![1.0f64, 2.0, 3.0]).unwrap();
    /// assert_eq!(d.data_ro::<f64>().unwrap().iter().sum::<f64>(), 6.0);
    /// {
    ///     let mut w = d.data::<f64>().unwrap();
    ///     w[0] = 10.0;
    ///     assert!(d.set_values(&[0.0f64; 3]).is_err()); // borrowed: an error, not a deadlock
    /// }
    /// assert_eq!(d.to_vec::<f64>().unwrap(), vec![10.0, 2.0, 3.0]);
    /// ```
    pub fn data_ro<T: Scalar>(&self) -> Result<DataRef<'_, T>> {
        self.borrow_ro::<T>("Dat::data_ro", self.set().size())
    }
    /// Owned and halo values, read-only (PyOP2's `data_ro_with_halos`); the halo copies are
    /// as the last exchange left them.
    pub fn data_ro_with_halos<T: Scalar>(&self) -> Result<DataRef<'_, T>> {
        self.borrow_ro::<T>("Dat::data_ro_with_halos", self.set().total_size())
    }
    /// The owned values, writable, without a copy (PyOP2's `data`): the halo copies are
    /// marked stale, so the next loop reading them exchanges first.
    pub fn data<T: Scalar>(&self) -> Result<DataMut<'_, T>> {
        self.borrow_mut::<T>("Dat::data", self.set().size())
    }
    /// Owned and halo values, writable (PyOP2's `data_with_halos`); the halo copies are marked
    /// stale all the same (a loop refreshes them from their owners before reading them).
    pub fn data_with_halos<T: Scalar>(&self) -> Result<DataMut<'_, T>> {
        self.borrow_mut::<T>("Dat::data_with_halos", self.set().total_size())
    }

    fn borrow_ro<T: Scalar>(&self, what: &str, elements: usize) -> Result<DataRef<'_, T>> {
        self.check_dtype::<T>(what)?;
        let guard = self.lock_read(what)?;
        Ok(DataRef {
            guard,
            n: elements * self.dim(),
            _mark: Mark::new(&self.0.borrows),
            _t: PhantomData,
        })
    }

    fn borrow_mut<T: Scalar>(&self, what: &str, elements: usize) -> Result<DataMut<'_, T>> {
        self.check_dtype::<T>(what)?;
        let guard = self.lock_write(what)?;
        self.mark_halo_stale();
        Ok(DataMut {
            guard,
            n: elements * self.dim(),
            _mark: Mark::new(&self.0.borrows),
            _t: PhantomData,
        })
    }

    /// The storage for writing, or an error naming the Dat if a data guard holds it (waiting
    /// would never end on the guard's own thread). Bumps the version, as [`Dat::write`].
    pub(crate) fn lock_write(&self, what: &str) -> Result<RwLockWriteGuard<'_, Vec<u64>>> {
        let guard = lock_write(&self.0.data, &self.0.borrows, || self.borrowed(what))?;
        // Every bump happens under the write lock (here and `Dat::write`): no other store can
        // fall between the load and the store, so no locked instruction is needed.
        let v = &self.0.version;
        v.store(v.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        Ok(guard)
    }

    /// The storage for reading, or an error naming the Dat if a writable guard holds it.
    pub(crate) fn lock_read(&self, what: &str) -> Result<RwLockReadGuard<'_, Vec<u64>>> {
        lock_read(&self.0.data, &self.0.borrows, || self.borrowed(what))
    }

    fn borrowed(&self, what: &str) -> Error {
        Error::invalid(
            format!("{what}({})", self.name()),
            "the Dat's values are lent to a data guard (data/data_ro...): drop it first",
        )
    }
}

impl Global {
    /// The values, read-only, without a copy (PyOP2's `Global.data_ro`).
    pub fn data_ro<T: Scalar>(&self) -> Result<DataRef<'_, T>> {
        self.check::<T>("Global::data_ro")?;
        Ok(DataRef {
            guard: self.lock_read("Global::data_ro")?,
            n: self.dim(),
            _mark: Mark::new(&self.0.borrows),
            _t: PhantomData,
        })
    }
    /// The values, writable, without a copy (PyOP2's `Global.data`). Every rank must leave
    /// the same values.
    pub fn data<T: Scalar>(&self) -> Result<DataMut<'_, T>> {
        self.check::<T>("Global::data")?;
        Ok(DataMut {
            guard: self.lock_write("Global::data")?,
            n: self.dim(),
            _mark: Mark::new(&self.0.borrows),
            _t: PhantomData,
        })
    }
    /// The values for reading, or an error naming the Global if a writable guard holds them.
    pub(crate) fn lock_read(&self, what: &str) -> Result<RwLockReadGuard<'_, Vec<u64>>> {
        lock_read(&self.0.data, &self.0.borrows, || self.borrowed(what))
    }
    /// The values for writing, or an error naming the Global if a guard holds them.
    pub(crate) fn lock_write(&self, what: &str) -> Result<RwLockWriteGuard<'_, Vec<u64>>> {
        lock_write(&self.0.data, &self.0.borrows, || self.borrowed(what))
    }
    /// An error naming the Global if a data guard holds its values (par_loop refuses it).
    pub(crate) fn check_unborrowed(&self, what: &str) -> Result<()> {
        if self.0.borrows.load(Ordering::Acquire) > 0 {
            return Err(self.borrowed(what));
        }
        Ok(())
    }
    fn borrowed(&self, what: &str) -> Error {
        Error::invalid(
            format!("{what}({})", self.name()),
            "the Global's values are lent to a data guard (data/data_ro): drop it first",
        )
    }
}
