//! Vector operations on Dats: zero, copy, scale, axpy, axpby, pointwise multiply and divide,
//! dot products (fused: several dots cost one reduction) and norms.
//!
//! Owns the generated C kernels of these operations (one per operation, dtype and dim, kept in
//! a process-wide table) and nothing else: each operation is a direct [`par_loop`] over the
//! Dats' set, so it is threaded, touches owned entries only, marks the halo copies of the Dats
//! it writes stale, and after the first call of an operation on a dtype and dim finds its code
//! in the class cache (no compile). Scalars travel as READ Globals, so a new `alpha` compiles
//! nothing; dot products reduce into one f64 Global of length k (one allreduce for k dots).
//!
//! Floating dtypes (f64, f32) are supported for every operation; `zero` and `copy` take every
//! dtype.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::data::access::Access;
use crate::data::dat::{Dat, Global};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::exec::parloop::par_loop;
use crate::jit::kernel::Kernel;

/// The kernels made so far, by name (the name encodes the operation, dtype and dim).
pub(crate) fn kernel(name: &str, code: impl FnOnce() -> String) -> Result<Kernel> {
    static KERNELS: Mutex<Option<HashMap<String, Kernel>>> = Mutex::new(None);
    let mut g = KERNELS.lock().unwrap_or_else(|e| e.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    if let Some(k) = map.get(name) {
        return Ok(k.clone());
    }
    let k = Kernel::new(name, &code())?;
    map.insert(name.to_string(), k.clone());
    Ok(k)
}

/// Check that every Dat is on the first one's DataSet with its dtype (and a floating dtype
/// when `float`); returns (dtype, dim).
fn check(what: &str, dats: &[&Dat], float: bool) -> Result<(DType, usize)> {
    let first = dats[0];
    let (dt, dim) = (first.dtype(), first.dim());
    let ctx = || {
        let names: Vec<&str> = dats.iter().map(|d| d.name()).collect();
        format!("op2::{what}({})", names.join(", "))
    };
    for d in dats {
        if d.dataset() != first.dataset() || d.dtype() != dt {
            return Err(Error::invalid(
                ctx(),
                format!(
                    "Dat {} ({:?}, {}) is not on {:?} with dtype {dt} like {}",
                    d.name(),
                    d.dataset(),
                    d.dtype(),
                    first.dataset(),
                    first.name()
                ),
            ));
        }
    }
    if float && !matches!(dt, DType::F64 | DType::F32) {
        return Err(Error::invalid(
            ctx(),
            format!("{what} needs a floating dtype (f64 or f32), not {dt}"),
        ));
    }
    Ok((dt, dim))
}

/// A scalar as a READ Global of the Dats' dtype.
fn scalar(dt: DType, v: f64) -> Result<Global> {
    match dt {
        DType::F32 => Global::new(vec![v as f32]),
        _ => Global::new(vec![v]),
    }
}

/// A direct loop writing `out` (as `w0`, WRITE or RW) from `reads` (`r0`, ...) and scalars
/// (`s0`, ... as READ Globals), whose body is `body` inside `for (i < dim)`.
fn run(
    what: &str,
    (out, access): (&Dat, Access),
    reads: &[&Dat],
    scalars: &[f64],
    body: &str,
) -> Result<()> {
    let all: Vec<&Dat> = std::iter::once(out).chain(reads.iter().copied()).collect();
    let (dt, dim) = check(what, &all, !matches!(what, "copy" | "zero"))?;
    if access == Access::RW && reads.iter().any(|r| r.ptr_eq(out)) {
        return Err(Error::invalid(
            format!("op2::{what}({}, ...)", out.name()),
            "the updated Dat must differ from the Dats it reads",
        ));
    }
    let ct = dt.c_name();
    let name = format!("op2_{what}_{}_{dim}", dt.rust_name());
    let k = kernel(&name, || {
        let mut params = vec![format!("{ct} *w0")];
        params.extend((0..reads.len()).map(|i| format!("const {ct} *r{i}")));
        params.extend((0..scalars.len()).map(|i| format!("const {ct} *s{i}")));
        format!(
            "void {name}({}) {{ for (int i = 0; i < {dim}; i++) {{ {body} }} }}",
            params.join(", ")
        )
    })?;
    let globals: Vec<Global> = scalars
        .iter()
        .map(|&s| scalar(dt, s))
        .collect::<Result<_>>()?;
    let mut args = vec![out.arg(access)];
    args.extend(reads.iter().map(|d| d.arg(Access::Read)));
    args.extend(globals.iter().map(|g| g.arg(Access::Read)));
    par_loop(&k, out.set(), &args)
}

/// A loop that overwrites `out`.
fn elementwise(what: &str, out: &Dat, reads: &[&Dat], body: &str) -> Result<()> {
    run(what, (out, Access::Write), reads, &[], body)
}

/// An in-place update `y = f(y, reads.., scalars..)`.
fn update(what: &str, y: &Dat, reads: &[&Dat], scalars: &[f64], body: &str) -> Result<()> {
    run(what, (y, Access::RW), reads, scalars, body)
}

/// `x = 0` on the owned entries (any dtype).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{Dat, DataSet, Set};
/// let x = Dat::new(&DataSet::new(&Set::new(3).unwrap(), 1).unwrap(), vec![1.0f64, 2.0, 3.0]).unwrap();
/// op2::zero(&x).unwrap();
/// assert_eq!(x.to_vec::<f64>().unwrap(), vec![0.0; 3]);
/// ```
pub fn zero(x: &Dat) -> Result<()> {
    let (dt, _) = check("zero", &[x], false)?;
    let ct = dt.c_name();
    elementwise("zero", x, &[], &format!("w0[i] = ({ct})0;"))
}

/// `dst = src` on the owned entries (any dtype; same DataSet and dtype).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{DType, Dat, DataSet, Set};
/// let ds = DataSet::new(&Set::new(2).unwrap(), 2).unwrap();
/// let (x, y) = (Dat::new(&ds, vec![1i32, 2, 3, 4]).unwrap(), Dat::zeros(&ds, DType::I32));
/// op2::copy(&x, &y).unwrap();
/// assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, 2, 3, 4]);
/// ```
pub fn copy(src: &Dat, dst: &Dat) -> Result<()> {
    if src.ptr_eq(dst) {
        return Ok(());
    }
    elementwise("copy", dst, &[src], "w0[i] = r0[i];")
}

/// `x = alpha x`.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{Dat, DataSet, Set};
/// let x = Dat::new(&DataSet::new(&Set::new(2).unwrap(), 1).unwrap(), vec![1.0f64, -2.0]).unwrap();
/// op2::scale(&x, 3.0).unwrap();
/// assert_eq!(x.to_vec::<f64>().unwrap(), vec![3.0, -6.0]);
/// ```
pub fn scale(x: &Dat, alpha: f64) -> Result<()> {
    update("scale", x, &[], &[alpha], "w0[i] *= s0[0];")
}

/// `y = y + alpha x` (`x` and `y` distinct, same DataSet and floating dtype).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{Dat, DataSet, Set};
/// let ds = DataSet::new(&Set::new(2).unwrap(), 1).unwrap();
/// let (x, y) = (Dat::new(&ds, vec![1.0f64, 2.0]).unwrap(), Dat::new(&ds, vec![10.0f64, 20.0]).unwrap());
/// op2::axpy(2.0, &x, &y).unwrap();
/// assert_eq!(y.to_vec::<f64>().unwrap(), vec![12.0, 24.0]);
/// ```
pub fn axpy(alpha: f64, x: &Dat, y: &Dat) -> Result<()> {
    update("axpy", y, &[x], &[alpha], "w0[i] += s0[0] * r0[i];")
}

/// `y = alpha x + beta y` (`x` and `y` distinct).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{Dat, DataSet, Set};
/// let ds = DataSet::new(&Set::new(2).unwrap(), 1).unwrap();
/// let (x, y) = (Dat::new(&ds, vec![1.0f64, 2.0]).unwrap(), Dat::new(&ds, vec![10.0f64, 20.0]).unwrap());
/// op2::axpby(2.0, &x, 0.5, &y).unwrap();
/// assert_eq!(y.to_vec::<f64>().unwrap(), vec![7.0, 14.0]);
/// ```
pub fn axpby(alpha: f64, x: &Dat, beta: f64, y: &Dat) -> Result<()> {
    update(
        "axpby",
        y,
        &[x],
        &[alpha, beta],
        "w0[i] = s0[0] * r0[i] + s1[0] * w0[i];",
    )
}

/// `z = x * y` entry by entry (`z` distinct from `x` and `y`).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{DType, Dat, DataSet, Set};
/// let ds = DataSet::new(&Set::new(2).unwrap(), 1).unwrap();
/// let (x, y) = (Dat::new(&ds, vec![2.0f64, 3.0]).unwrap(), Dat::new(&ds, vec![4.0f64, 5.0]).unwrap());
/// let z = Dat::zeros(&ds, DType::F64);
/// op2::pointwise_mult(&x, &y, &z).unwrap();
/// assert_eq!(z.to_vec::<f64>().unwrap(), vec![8.0, 15.0]);
/// ```
pub fn pointwise_mult(x: &Dat, y: &Dat, z: &Dat) -> Result<()> {
    distinct("pointwise_mult", z, &[x, y])?;
    elementwise("pmult", z, &[x, y], "w0[i] = r0[i] * r1[i];")
}

/// `z = x / y` entry by entry (`z` distinct from `x` and `y`; IEEE division).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{DType, Dat, DataSet, Set};
/// let ds = DataSet::new(&Set::new(2).unwrap(), 1).unwrap();
/// let (x, y) = (Dat::new(&ds, vec![2.0f64, 3.0]).unwrap(), Dat::new(&ds, vec![4.0f64, 6.0]).unwrap());
/// let z = Dat::zeros(&ds, DType::F64);
/// op2::pointwise_divide(&x, &y, &z).unwrap();
/// assert_eq!(z.to_vec::<f64>().unwrap(), vec![0.5, 0.5]);
/// ```
pub fn pointwise_divide(x: &Dat, y: &Dat, z: &Dat) -> Result<()> {
    distinct("pointwise_divide", z, &[x, y])?;
    elementwise("pdiv", z, &[x, y], "w0[i] = r0[i] / r1[i];")
}

fn distinct(what: &str, out: &Dat, ins: &[&Dat]) -> Result<()> {
    if ins.iter().any(|d| d.ptr_eq(out)) {
        return Err(Error::invalid(
            format!("op2::{what}(.., {})", out.name()),
            "the output Dat must differ from the inputs",
        ));
    }
    Ok(())
}

/// The global dot product of `a` and `b` over the owned entries of every rank (collective).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{Dat, DataSet, Set};
/// let ds = DataSet::new(&Set::new(2).unwrap(), 1).unwrap();
/// let (x, y) = (Dat::new(&ds, vec![1.0f64, 2.0]).unwrap(), Dat::new(&ds, vec![3.0f64, 4.0]).unwrap());
/// assert_eq!(op2::dot(&x, &y).unwrap(), 11.0);
/// ```
pub fn dot(a: &Dat, b: &Dat) -> Result<f64> {
    Ok(dots(&[(a, b)])?[0])
}

/// The 2-norm of `x` over every rank's owned entries (collective).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{Dat, DataSet, Set};
/// let x = Dat::new(&DataSet::new(&Set::new(2).unwrap(), 1).unwrap(), vec![3.0f64, 4.0]).unwrap();
/// assert_eq!(op2::norm(&x).unwrap(), 5.0);
/// ```
pub fn norm(x: &Dat) -> Result<f64> {
    Ok(dot(x, x)?.sqrt())
}

/// Several dot products in one loop and one reduction (one allreduce on a distributed mesh):
/// `dots(&[(a, b), (c, d)])` is `[a.b, c.d]`. Every Dat is on one DataSet with one floating
/// dtype; sums are accumulated in f64.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _rt = op2::Runtime::serial(op2::Config::default().cache_dir(dir.path())).unwrap();
/// use op2::{Dat, DataSet, Set};
/// let ds = DataSet::new(&Set::new(2).unwrap(), 1).unwrap();
/// let (r, z) = (Dat::new(&ds, vec![1.0f64, 2.0]).unwrap(), Dat::new(&ds, vec![3.0f64, 4.0]).unwrap());
/// assert_eq!(op2::dots(&[(&r, &z), (&r, &r)]).unwrap(), vec![11.0, 5.0]);
/// ```
pub fn dots(pairs: &[(&Dat, &Dat)]) -> Result<Vec<f64>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    // The distinct Dats, each passed once; the pairs as indices into them.
    let mut uniq: Vec<&Dat> = Vec::new();
    let mut ij: Vec<(usize, usize)> = Vec::new();
    for &(a, b) in pairs {
        let mut pos = [0; 2];
        for (p, d) in pos.iter_mut().zip([a, b]) {
            *p = uniq.iter().position(|u| u.ptr_eq(d)).unwrap_or_else(|| {
                uniq.push(d);
                uniq.len() - 1
            });
        }
        ij.push((pos[0], pos[1]));
    }
    let (dt, dim) = check("dots", &uniq, true)?;
    let ct = dt.c_name();
    let pattern: Vec<String> = ij.iter().map(|(i, j)| format!("{i}_{j}")).collect();
    let name = format!("op2_dots_{}_{dim}_{}", dt.rust_name(), pattern.join("_"));
    let k = kernel(&name, || {
        let mut params: Vec<String> = (0..uniq.len())
            .map(|i| format!("const {ct} *d{i}"))
            .collect();
        params.push("double *out".into());
        let sums: String = ij
            .iter()
            .enumerate()
            .map(|(n, (i, j))| format!("out[{n}] += (double)d{i}[i] * (double)d{j}[i]; "))
            .collect();
        format!(
            "void {name}({}) {{ for (int i = 0; i < {dim}; i++) {{ {sums}}} }}",
            params.join(", ")
        )
    })?;
    let out = Global::named("dots", vec![0.0f64; pairs.len()])?;
    let mut args: Vec<_> = uniq.iter().map(|d| d.arg(Access::Read)).collect();
    args.push(out.arg(Access::Inc));
    par_loop(&k, uniq[0].set(), &args)?;
    out.value::<f64>()
}

/// The owned scalar entries (`element * dim + component`) of `flags` that are non-zero: the
/// local rows to give [`crate::Mat::zero_rows_columns`] from a flag Dat (any dtype). Local.
///
/// ```
/// use op2::{Dat, DataSet, Set};
/// let f = Dat::new(&DataSet::new(&Set::new(4).unwrap(), 1).unwrap(), vec![1.0f64, 0.0, 0.0, 2.0]).unwrap();
/// assert_eq!(op2::nonzero_entries(&f), vec![0, 3]);
/// ```
pub fn nonzero_entries(flags: &Dat) -> Vec<usize> {
    let n = flags.set().size() * flags.dim();
    let g = flags.read();
    match flags.dtype() {
        DType::F64 => nonzero(crate::dtype::view::<f64>(&g, n), 0.0),
        DType::F32 => nonzero(crate::dtype::view::<f32>(&g, n), 0.0),
        dt => {
            let w = dt.size();
            let bytes: &[u8] = bytemuck::cast_slice(&g[..]);
            (0..n)
                .filter(|&i| bytes[i * w..(i + 1) * w].iter().any(|&b| b != 0))
                .collect()
        }
    }
}

fn nonzero<T: PartialEq>(v: &[T], zero: T) -> Vec<usize> {
    (0..v.len()).filter(|&i| v[i] != zero).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::DataSet;
    use crate::data::set::Set;

    #[test]
    fn mismatched_dats_and_integer_dtypes_are_typed_errors() {
        let d = tempfile::tempdir().unwrap();
        let _rt = crate::Runtime::serial(crate::Config::default().cache_dir(d.path())).unwrap();
        let s = Set::new(3).unwrap();
        let ds1 = DataSet::new(&s, 1).unwrap();
        let ds2 = DataSet::new(&s, 2).unwrap();
        let x = Dat::zeros(&ds1, DType::F64);
        let y = Dat::zeros(&ds2, DType::F64);
        let i = Dat::zeros(&ds1, DType::I32);
        assert!(axpy(1.0, &x, &y).is_err());
        assert!(dot(&x, &i).is_err());
        assert!(scale(&i, 2.0).is_err());
        assert!(axpy(1.0, &x, &x).is_err());
        assert!(pointwise_mult(&x, &x, &x).is_err());
        // f32 works, with f64 sums.
        let f = Dat::new(&ds2, vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(dot(&f, &f).unwrap(), 91.0);
        scale(&f, 0.5).unwrap();
        assert_eq!(
            f.to_vec::<f32>().unwrap(),
            vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
        );
    }
}
