//! DataSets: a Set times a per-element dimension, cached on the Set (PyOP2's `ds is ds2`).
//!
//! Owns nothing but the (set, dim) pair; the object cache on the Set makes every
//! `DataSet::new(&s, d)` with the same `s` and `d` return the same object.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::cache::object::{next_id, Entry};
use crate::data::set::Set;
use crate::error::{Error, Result};

/// Cache name of DataSets in reports.
pub const CACHE_NAME: &str = "object:DataSet";

pub(crate) struct DataSetInner {
    id: u64,
    dim: usize,
}

/// A Set with `dim` values per element. Built through the Set's object cache.
///
/// ```
/// let s = op2::Set::new(1).unwrap();
/// let ds = op2::DataSet::new(&s, 10).unwrap();
/// let ds2 = op2::DataSet::new(&s, 10).unwrap();
/// assert!(ds.ptr_eq(&ds2));                              // `ds is ds2`
/// assert_ne!(ds, op2::DataSet::new(&s, 3).unwrap());      // another dim, another object
/// ```
#[derive(Clone)]
pub struct DataSet {
    inner: Arc<Entry<DataSetInner>>,
    set: Set,
}

impl DataSet {
    /// The DataSet of `set` with `dim` values per element. A dim of 0 is allowed, as PyOP2's
    /// `set ** 0`: its Dats hold no values.
    pub fn new(set: &Set, dim: usize) -> Result<DataSet> {
        if set.superset().is_some() {
            return Err(Error::invalid(
                format!("DataSet::new({})", set.name()),
                "a Subset holds no data of its own: build the DataSet on its superset",
            ));
        }
        set.total_size()
            .checked_mul(dim)
            .filter(|&n| n <= i32::MAX as usize)
            .ok_or_else(|| {
                Error::invalid(
                    format!("DataSet::new({})", set.name()),
                    format!("{} elements x dim {dim} overflows", set.total_size()),
                )
            })?;
        let inner = set
            .cache()
            .get_or_try_insert(CACHE_NAME, vec![dim as u64], |_| {
                Ok((
                    DataSetInner { id: next_id(), dim },
                    std::mem::size_of::<DataSetInner>() as u64,
                ))
            })?;
        Ok(DataSet {
            inner,
            set: set.clone(),
        })
    }
    /// The underlying set.
    pub fn set(&self) -> &Set {
        &self.set
    }
    /// Values per element.
    pub fn dim(&self) -> usize {
        self.inner.dim
    }
    /// Identity comparison (`ds is ds2`).
    pub fn ptr_eq(&self, other: &DataSet) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
    /// Process-unique identity.
    pub fn id(&self) -> u64 {
        self.inner.id
    }
    /// A weak handle, to observe that the cached object is freed.
    pub fn downgrade(&self) -> WeakDataSet {
        WeakDataSet(Arc::downgrade(&self.inner))
    }
}

impl PartialEq for DataSet {
    fn eq(&self, other: &DataSet) -> bool {
        self.ptr_eq(other)
    }
}
impl Eq for DataSet {}
impl Hash for DataSet {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.inner.id.hash(h)
    }
}
impl std::fmt::Debug for DataSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataSet({:?} x {})", self.set, self.inner.dim)
    }
}

/// Weak reference to a DataSet's cached object.
pub struct WeakDataSet(std::sync::Weak<Entry<DataSetInner>>);

impl WeakDataSet {
    /// True while the cached object is alive.
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}
