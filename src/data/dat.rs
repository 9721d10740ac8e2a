//! Dats: data on a DataSet (owned values plus halo copies), and Globals.
//!
//! Owns the storage and its halo-validity flag. Storage is 8-byte-aligned words viewed as the
//! Dat's dtype. Users read and write owned values; halo values are the runtime's business.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::cache::object::next_id;
use crate::data::dataset::DataSet;
use crate::data::set::Set;
use crate::dtype::{self, with_scalar, DType, Scalar};
use crate::error::{Error, Result};
use crate::mpi::agree;
use crate::mpi::exchange::Exchange;
use crate::mpi::halo::{TAG_HALO_CHECK, TAG_HALO_FORWARD, TAG_HALO_REVERSE};

pub(crate) struct DatInner {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) dataset: DataSet,
    pub(crate) dtype: DType,
    pub(crate) data: RwLock<Vec<u64>>,
    /// True when halo copies hold the owners' current values.
    pub(crate) halo_valid: AtomicBool,
    /// Bumped by every write guard: equal versions mean unchanged values.
    pub(crate) version: AtomicU64,
    /// The checked mode's last checksums of the values (owned, halo) and their version.
    pub(crate) checksums: std::sync::Mutex<Option<(u64, (u64, u64))>>,
    /// Live data guards lending the values (`data/borrow.rs`).
    pub(crate) borrows: std::sync::atomic::AtomicUsize,
}

/// Values on every element of a set: `dim` values of one dtype per element.
///
/// ```
/// let s = op2::Set::new(3).unwrap();
/// let ds = op2::DataSet::new(&s, 2).unwrap();
/// let d = op2::Dat::new(&ds, vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(d.to_vec::<f64>().unwrap()[5], 6.0);
/// assert!(d.to_vec::<f32>().is_err());                      // wrong dtype
/// assert!(op2::Dat::new(&ds, vec![1.0f64; 5]).is_err());      // wrong length
/// ```
#[derive(Clone)]
pub struct Dat(pub(crate) Arc<DatInner>);

impl Dat {
    /// A Dat holding `values` for the owned elements (`set.size() * dim` values), or for owned
    /// plus halo elements (`set.total_size() * dim`).
    pub fn new<T: Scalar>(ds: &DataSet, values: Vec<T>) -> Result<Dat> {
        Dat::named("dat", ds, values)
    }

    /// Like [`Dat::new`], with a name for messages.
    pub fn named<T: Scalar>(name: &str, ds: &DataSet, mut values: Vec<T>) -> Result<Dat> {
        let set = ds.set();
        let (owned, total) = (set.size() * ds.dim(), set.total_size() * ds.dim());
        if values.len() != owned && values.len() != total {
            return Err(Error::invalid(
                format!("Dat::new({name})"),
                format!(
                    "{} values given for {} elements x dim {} (expected {owned}{})",
                    values.len(),
                    set.size(),
                    ds.dim(),
                    if total != owned {
                        format!(" or {total} with halo")
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        // The validity flag must be equal on all ranks (it decides collective exchanges), so
        // on a distributed set it starts false even where this rank was given halo values or
        // has no halo elements: the first reader refreshes the copies from their owners.
        let halo_valid = set.halo().is_none();
        values.resize(total, T::zero());
        Ok(Dat::from_words(
            name,
            ds,
            T::DTYPE,
            dtype::into_words(values),
            halo_valid,
        ))
    }

    /// A Dat of zeros of the given dtype.
    pub fn zeros(ds: &DataSet, dtype: DType) -> Dat {
        let n = ds.set().total_size() * ds.dim();
        Dat::from_words(
            "dat",
            ds,
            dtype,
            vec![0u64; dtype::words_for(dtype, n)],
            true,
        )
    }

    fn from_words(
        name: &str,
        ds: &DataSet,
        dtype: DType,
        words: Vec<u64>,
        halo_valid: bool,
    ) -> Dat {
        Dat(Arc::new(DatInner {
            id: next_id(),
            name: name.to_string(),
            dataset: ds.clone(),
            dtype,
            data: RwLock::new(words),
            halo_valid: AtomicBool::new(halo_valid),
            version: AtomicU64::new(0),
            checksums: std::sync::Mutex::new(None),
            borrows: Default::default(),
        }))
    }

    /// The owned values (`set.size() * dim`), as `T` (which must be the Dat's dtype).
    pub fn to_vec<T: Scalar>(&self) -> Result<Vec<T>> {
        self.check_dtype::<T>("Dat::to_vec")?;
        let n = self.set().size() * self.dim();
        Ok(dtype::view::<T>(&self.lock_read("Dat::to_vec")?, n).to_vec())
    }

    /// Overwrite the owned values; halo copies become stale.
    pub fn set_values<T: Scalar>(&self, values: &[T]) -> Result<()> {
        self.check_dtype::<T>("Dat::set_values")?;
        let n = self.set().size() * self.dim();
        if values.len() != n {
            return Err(Error::invalid(
                format!("Dat::set_values({})", self.0.name),
                format!("{} values given, expected {n}", values.len()),
            ));
        }
        dtype::view_mut::<T>(&mut self.lock_write("Dat::set_values")?, n).copy_from_slice(values);
        self.mark_halo_stale();
        Ok(())
    }

    pub(crate) fn check_dtype<T: Scalar>(&self, what: &str) -> Result<()> {
        if T::DTYPE != self.0.dtype {
            return Err(Error::invalid(
                format!("{what}({})", self.0.name),
                format!("the Dat holds {}, not {}", self.0.dtype, T::DTYPE),
            ));
        }
        Ok(())
    }

    /// The DataSet.
    pub fn dataset(&self) -> &DataSet {
        &self.0.dataset
    }
    /// The Set.
    pub fn set(&self) -> &Set {
        self.0.dataset.set()
    }
    /// Values per element.
    pub fn dim(&self) -> usize {
        self.0.dataset.dim()
    }
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// Name given at creation.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// Process-unique identity.
    pub fn id(&self) -> u64 {
        self.0.id
    }
    /// Identity comparison.
    pub fn ptr_eq(&self, other: &Dat) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Vec<u64>> {
        self.0.data.read().unwrap_or_else(|e| e.into_inner())
    }
    /// The values, for writing (every write of a Dat's values goes through here: it bumps the
    /// version).
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Vec<u64>> {
        let g = self.0.data.write().unwrap_or_else(|e| e.into_inner());
        self.0.version.fetch_add(1, Ordering::Relaxed);
        g
    }
    /// Checksums (xxh3) of the owned values and of the halo copies, computed again only when
    /// the values may have changed since the last call (the checked mode's READ checks).
    pub(crate) fn checksums(&self) -> (u64, u64) {
        let words = self.read();
        let v = self.0.version.load(Ordering::Relaxed);
        let mut cached = self.0.checksums.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cv, sums)) = *cached {
            if cv == v {
                return sums;
            }
        }
        let eb = self.dim() * self.dtype().size();
        let bytes: &[u8] = bytemuck::cast_slice(&words[..]);
        let (owned, total) = (self.set().size() * eb, self.set().total_size() * eb);
        let sums = (
            xxhash_rust::xxh3::xxh3_64(&bytes[..owned]),
            xxhash_rust::xxh3::xxh3_64(&bytes[owned..total]),
        );
        *cached = Some((v, sums));
        sums
    }
    /// The storage's address and length in bytes (owned values, then halo copies), for views
    /// that share op2's memory (the Python package's numpy arrays). The storage is allocated
    /// once when the Dat is made and never grows or moves, so the address stays valid while any
    /// handle to this Dat lives. `write`: the caller will write through it, so the values'
    /// version is bumped and halo copies marked stale, as PyOP2's `dat.data` does. The caller
    /// must not read or write through the pointer while a par_loop runs on this Dat.
    #[doc(hidden)]
    pub fn storage(&self, write: bool) -> (*mut u8, usize) {
        let bytes = self.set().total_size() * self.dim() * self.dtype().size();
        if write {
            let ptr = self.write().as_mut_ptr().cast::<u8>();
            self.mark_halo_stale();
            (ptr, bytes)
        } else {
            (self.read().as_ptr().cast::<u8>().cast_mut(), bytes)
        }
    }
    /// Whether the halo copies hold the owners' current values (always true on a set without
    /// a halo).
    pub fn halo_valid(&self) -> bool {
        self.0.halo_valid.load(Ordering::Relaxed)
    }
    pub(crate) fn set_halo_valid(&self, v: bool) {
        self.0.halo_valid.store(v, Ordering::Relaxed)
    }
    /// Mark halo copies stale. Decided from the set alone (never from this rank's halo size),
    /// so every rank of a distributed set agrees.
    pub(crate) fn mark_halo_stale(&self) {
        if self.set().halo().is_some() {
            self.set_halo_valid(false);
        }
    }
}

impl std::fmt::Debug for Dat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Dat({}#{}: {:?}, {})",
            self.0.name, self.0.id, self.0.dataset, self.0.dtype
        )
    }
}

pub(crate) struct GlobalInner {
    pub(crate) name: String,
    pub(crate) dtype: DType,
    pub(crate) dim: usize,
    pub(crate) data: RwLock<Vec<u64>>,
    /// Live data guards lending the values (`data/borrow.rs`).
    pub(crate) borrows: std::sync::atomic::AtomicUsize,
}

/// A small array of values shared by all elements (and all ranks): constants, reductions.
///
/// ```
/// let g = op2::Global::new(vec![0.0f64]).unwrap();
/// assert_eq!(g.dim(), 1);
/// assert_eq!(g.value::<f64>().unwrap(), vec![0.0]);
/// assert!(op2::Global::new(Vec::<f64>::new()).is_err());   // dim 0
/// ```
#[derive(Clone)]
pub struct Global(pub(crate) Arc<GlobalInner>);

impl Global {
    /// A Global holding `values` (its dim is their count, at least 1).
    pub fn new<T: Scalar>(values: Vec<T>) -> Result<Global> {
        Global::named("global", values)
    }
    /// Like [`Global::new`], with a name for messages.
    pub fn named<T: Scalar>(name: &str, values: Vec<T>) -> Result<Global> {
        if values.is_empty() {
            return Err(Error::invalid(
                format!("Global::new({name})"),
                "dim must be at least 1",
            ));
        }
        Ok(Global(Arc::new(GlobalInner {
            name: name.to_string(),
            dtype: T::DTYPE,
            dim: values.len(),
            data: RwLock::new(dtype::to_words(&values)),
            borrows: Default::default(),
        })))
    }
    /// A Global of one value (dim 1): a constant or a reduction target.
    ///
    /// ```
    /// let dt = op2::Global::scalar(0.01f64);
    /// assert_eq!(dt.get::<f64>().unwrap(), 0.01);
    /// dt.set(0.02f64).unwrap();
    /// assert_eq!(dt.get::<f64>().unwrap(), 0.02);
    /// assert!(dt.get::<f32>().is_err()); // wrong type: an error, not a reinterpretation
    /// ```
    pub fn scalar<T: Scalar>(value: T) -> Global {
        Global::new(vec![value]).expect("one value is a valid Global")
    }
    /// The value of a dim-1 Global (for a reduction: its result on every rank).
    pub fn get<T: Scalar>(&self) -> Result<T> {
        self.check::<T>("Global::get")?;
        if self.0.dim != 1 {
            return Err(Error::invalid(
                format!("Global::get({})", self.0.name),
                format!("the Global has dim {}; use value()", self.0.dim),
            ));
        }
        Ok(dtype::view::<T>(&self.lock_read("Global::get")?, 1)[0])
    }
    /// Set the value of a dim-1 Global (every rank must set the same value).
    pub fn set<T: Scalar>(&self, value: T) -> Result<()> {
        self.set_value(&[value])
    }
    /// Current values.
    pub fn value<T: Scalar>(&self) -> Result<Vec<T>> {
        self.check::<T>("Global::value")?;
        Ok(dtype::view::<T>(&self.lock_read("Global::value")?, self.0.dim).to_vec())
    }
    /// Overwrite the values (same count). Every rank must set the same values.
    pub fn set_value<T: Scalar>(&self, values: &[T]) -> Result<()> {
        self.check::<T>("Global::set_value")?;
        if values.len() != self.0.dim {
            return Err(Error::invalid(
                format!("Global::set_value({})", self.0.name),
                format!("{} values for dim {}", values.len(), self.0.dim),
            ));
        }
        dtype::view_mut::<T>(&mut self.lock_write("Global::set_value")?, self.0.dim)
            .copy_from_slice(values);
        Ok(())
    }
    pub(crate) fn check<T: Scalar>(&self, what: &str) -> Result<()> {
        if T::DTYPE != self.0.dtype {
            return Err(Error::invalid(
                format!("{what}({})", self.0.name),
                format!("the Global holds {}, not {}", self.0.dtype, T::DTYPE),
            ));
        }
        Ok(())
    }
    /// Number of values.
    pub fn dim(&self) -> usize {
        self.0.dim
    }
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// The storage's address and length in bytes (`dim` values), for views that share op2's
    /// memory, as [`Dat::storage`]: allocated once, never moved while a handle lives.
    #[doc(hidden)]
    pub fn storage(&self) -> (*mut u8, usize) {
        let bytes = self.0.dim * self.0.dtype.size();
        (self.write().as_mut_ptr().cast::<u8>(), bytes)
    }
    /// Name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Vec<u64>> {
        self.0.data.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Vec<u64>> {
        self.0.data.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Global({}: {} x {})",
            self.0.name, self.0.dtype, self.0.dim
        )
    }
}

/// How [`reverse_halo`] combines halo contributions with the owner's value.
///
/// ```
/// assert_ne!(op2::ReverseMode::Add, op2::ReverseMode::Copy);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReverseMode {
    /// The owner adds every copy's value to its own (indirect INC).
    Add,
    /// The owner takes the copy's value; with several copies the one from the highest
    /// neighbour rank wins. Every copy is sent, touched or not, so this is only right when every
    /// copy holds a value to keep; par_loop's indirect WRITE/RW sends only the copies its map
    /// reached (`reverse_sends_touched`).
    Copy,
}

/// Refresh the halo copies of `dat` from their owners (a blocking forward exchange) and mark
/// its halo valid. Collective over the Dat's communicator: every rank must call it, always
/// (whatever its local validity flag says), or neighbours wait forever. A Dat on a set
/// without halo only has its flag set.
///
/// ```
/// let s = op2::Set::new(3).unwrap();
/// let d = op2::Dat::new(&op2::DataSet::new(&s, 1).unwrap(), vec![1.0f64, 2.0, 3.0]).unwrap();
/// op2::update_halo(&d).unwrap();
/// assert_eq!(d.to_vec::<f64>().unwrap(), vec![1.0, 2.0, 3.0]);
/// ```
pub fn update_halo(dat: &Dat) -> Result<()> {
    exchange_halo(dat)?;
    if crate::config::checking() {
        let found = halo_differences(&[dat])?;
        let what = format!(
            "update_halo({}): halo copies differ from their owners' values after the exchange",
            dat.name()
        );
        let report = agree::report(&what);
        agree::agree(
            dat.set().comm(),
            agree::Share::Every(&report),
            agree::Findings::result(found),
        )?;
    }
    Ok(())
}

/// [`update_halo`] without the checked mode's comparison (par_loop's checked mode compares and
/// agrees the verdict itself).
pub(crate) fn exchange_halo(dat: &Dat) -> Result<()> {
    let set = dat.set().clone();
    let Some(halo) = set.halo() else {
        dat.set_halo_valid(true);
        return Ok(());
    };
    let eb = dat.dim() * dat.dtype().size();
    let mut exchange = Exchange::begin(TAG_HALO_FORWARD);
    exchange.forward(
        halo,
        bytemuck::cast_slice(&dat.lock_read("update_halo")?[..]),
        eb,
    );
    let arrived = exchange.run(set.comm())?;
    halo.forward_unpack(
        bytemuck::cast_slice_mut(&mut dat.write()[..]),
        eb,
        arrived.part(0),
    )?;
    dat.set_halo_valid(true);
    Ok(())
}

/// Checked mode (`OP2_CHECK`): compare this rank's halo copies of each of `dats` with their
/// owners' current values, by global id and bytewise (a second forward exchange carrying each
/// owned value with its global id; one message per neighbour for all the Dats). Returns one
/// line per differing copy (the first few per Dat) naming the Dat, the element and its owner;
/// nothing for Dats on sets without halo. Collective like [`update_halo`] (every rank passes
/// the same Dats); the caller agrees the verdict.
pub(crate) fn halo_differences(dats: &[&Dat]) -> Result<Vec<String>> {
    let dats: Vec<&Dat> = dats
        .iter()
        .copied()
        .filter(|d| d.set().halo().is_some())
        .collect();
    let Some(first) = dats.first() else {
        return Ok(Vec::new());
    };
    let eb = |d: &Dat| d.dim() * d.dtype().size();
    let mut exchange = Exchange::begin(TAG_HALO_CHECK);
    for d in &dats {
        let (set, halo) = (d.set(), d.set().halo().expect("filtered"));
        let data = d.read();
        exchange.add(
            halo.check_sends(bytemuck::cast_slice(&data[..]), eb(d), set.global_ids()),
            halo.check_recv_lens(eb(d)),
        );
    }
    let arrived = exchange.run(first.set().comm())?;
    let mut lines = Vec::new();
    for (k, d) in dats.iter().enumerate() {
        let (set, halo) = (d.set(), d.set().halo().expect("filtered"));
        let data = d.read();
        let diffs = halo.check_compare(
            bytemuck::cast_slice(&data[..]),
            eb(d),
            set.global_ids(),
            arrived.part(k),
        )?;
        lines.extend(describe_differences(d, &diffs));
    }
    Ok(lines)
}

/// One line per differing halo copy of `dat` (the first few), and how many more.
fn describe_differences(dat: &Dat, diffs: &[crate::mpi::halo::Difference]) -> Vec<String> {
    let set = dat.set();
    const SHOWN: usize = 4;
    let mut lines: Vec<String> = diffs
        .iter()
        .take(SHOWN)
        .map(|d| {
            let what = if d.gid != d.owner_gid {
                format!(
                    "is element {} here but rank {} sent element {} for it (halo lists disagree)",
                    d.gid, d.owner, d.owner_gid
                )
            } else {
                format!(
                    "holds {} but its owner, rank {}, holds {}",
                    show(dat.dtype(), &d.copy),
                    d.owner,
                    show(dat.dtype(), &d.owned)
                )
            };
            format!(
                "Dat {} on set {}: the halo copy of element {} (local index {}) {what}",
                dat.name(),
                set.name(),
                d.gid,
                d.local
            )
        })
        .collect();
    if diffs.len() > SHOWN {
        lines.push(format!(
            "Dat {}: {} more halo copies differ",
            dat.name(),
            diffs.len() - SHOWN
        ));
    }
    lines
}

/// The values of one element's bytes, as its dtype.
fn show(dtype: DType, bytes: &[u8]) -> String {
    fn go<T: Scalar + std::fmt::Debug>(b: &[u8]) -> String {
        let v: Vec<T> = b
            .chunks_exact(std::mem::size_of::<T>())
            .map(bytemuck::pod_read_unaligned::<T>)
            .collect();
        format!("{v:?}")
    }
    with_scalar!(dtype, T => go::<T>(bytes))
}

/// Testing only (hidden): overwrite the halo copy at local index `local` of `dat` with `value`
/// in every component, leaving its validity flag as it is: the corruption the checked mode's
/// halo comparison must find. An error if `local` is not a halo element here.
#[doc(hidden)]
pub fn corrupt_halo_copy_for_tests(dat: &Dat, local: usize, value: f64) -> Result<()> {
    let set = dat.set();
    if local < set.size() || local >= set.total_size() || dat.dtype() != DType::F64 {
        return Err(Error::invalid(
            "corrupt_halo_copy_for_tests",
            format!(
                "local index {local} is not a halo element of an f64 Dat (owned {}, total {})",
                set.size(),
                set.total_size()
            ),
        ));
    }
    let n = set.total_size() * dat.dim();
    let dim = dat.dim();
    dtype::view_mut::<f64>(&mut dat.write(), n)[local * dim..(local + 1) * dim].fill(value);
    Ok(())
}

/// Send the halo copies of `dat` back to their owners (a blocking reverse exchange) and
/// combine them there by `mode`; afterwards the halo copies are stale. Collective like
/// [`update_halo`]. The halo values themselves are left as they were.
///
/// ```
/// use op2::{reverse_halo, ReverseMode};
/// let s = op2::Set::new(2).unwrap();
/// let d = op2::Dat::new(&op2::DataSet::new(&s, 1).unwrap(), vec![5i32, 6]).unwrap();
/// reverse_halo(&d, ReverseMode::Add).unwrap(); // no halo: nothing moves
/// assert_eq!(d.to_vec::<i32>().unwrap(), vec![5, 6]);
/// ```
pub fn reverse_halo(dat: &Dat, mode: ReverseMode) -> Result<()> {
    let set = dat.set().clone();
    let Some(halo) = set.halo() else {
        return Ok(());
    };
    let eb = dat.dim() * dat.dtype().size();
    let mut exchange = Exchange::begin(TAG_HALO_REVERSE);
    exchange.reverse(
        halo,
        bytemuck::cast_slice(&dat.lock_read("reverse_halo")?[..]),
        eb,
    );
    let arrived = exchange.run(set.comm())?;
    {
        let mut w = dat.write();
        match mode {
            ReverseMode::Copy => {
                halo.reverse_unpack_copy(bytemuck::cast_slice_mut(&mut w[..]), eb, arrived.part(0))?
            }
            ReverseMode::Add => arrived.unpack_reverse_fold(
                0,
                halo,
                &mut w,
                dat.dtype(),
                dat.dim(),
                crate::ReduceOp::Sum,
            )?,
        }
    }
    dat.set_halo_valid(false);
    Ok(())
}
