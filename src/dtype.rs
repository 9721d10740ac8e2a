//! Element types of Dats and Globals.
//!
//! Owns the mapping between Rust scalar types, their C spelling in generated code, and their
//! MPI datatype. Storage is a `Vec<u64>` (8-byte aligned for every dtype) viewed as `[T]`
//! through `bytemuck`, so no unsafe casting is needed anywhere.

use std::fmt;

/// The element type of a Dat or Global.
///
/// ```
/// use op2::DType;
/// assert_eq!(DType::F64.c_name(), "double");
/// assert_eq!(DType::U32.size(), 4);
/// assert_eq!(DType::U64.c_name(), "uint64_t");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// `double`
    F64,
    /// `float`
    F32,
    /// `int32_t`
    I32,
    /// `int64_t`
    I64,
    /// `uint32_t`
    U32,
    /// `uint64_t`
    U64,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
        }
    }
    /// The C type used in generated code.
    pub fn c_name(self) -> &'static str {
        match self {
            DType::F64 => "double",
            DType::F32 => "float",
            DType::I32 => "int32_t",
            DType::I64 => "int64_t",
            DType::U32 => "uint32_t",
            DType::U64 => "uint64_t",
        }
    }
    /// The Rust scalar's name (`f64`, `i32`, ...), e.g. in generated kernel names.
    pub fn rust_name(self) -> &'static str {
        with_scalar!(self, T => std::any::type_name::<T>())
    }
    /// Short stable tag used in cache keys.
    pub fn tag(self) -> u8 {
        match self {
            DType::F64 => 1,
            DType::F32 => 2,
            DType::I32 => 3,
            DType::I64 => 4,
            DType::U32 => 5,
            DType::U64 => 6,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.c_name())
    }
}

/// A Rust scalar that can live in a Dat or Global.
///
/// Scalars add (`+`, `+=`), which reverse halo exchanges of indirect increments need.
///
/// ```
/// fn sum<T: op2::Scalar>(v: &[T]) -> T {
///     v.iter().fold(T::zero(), |a, &b| a + b)
/// }
/// assert_eq!(sum(&[1.5f64, 2.0]), 3.5);
/// assert_eq!(<i32 as op2::Scalar>::DTYPE, op2::DType::I32);
/// ```
pub trait Scalar:
    bytemuck::Pod
    + mpi::traits::Equivalence
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::AddAssign
    + fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The matching [`DType`].
    const DTYPE: DType;
    /// Additive identity.
    fn zero() -> Self;
}

macro_rules! scalar {
    ($t:ty, $d:ident) => {
        impl Scalar for $t {
            const DTYPE: DType = DType::$d;
            fn zero() -> Self {
                0 as $t
            }
        }
    };
}
scalar!(f64, F64);
scalar!(f32, F32);
scalar!(i32, I32);
scalar!(i64, I64);
scalar!(u32, U32);
scalar!(u64, U64);

/// The one per-dtype dispatch: `with_scalar!(dtype, T => body)` runs `body` with `T` the Rust
/// scalar type of `dtype` (a [`Scalar`]), so generic code is written once and called for the
/// dtype known only at run time.
macro_rules! with_scalar {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::dtype::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::dtype::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::dtype::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::dtype::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::dtype::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::dtype::DType::U64 => {
                type $T = u64;
                $body
            }
        }
    };
}
pub(crate) use with_scalar;

/// Number of `u64` words needed for `n` elements of `dtype`.
pub(crate) fn words_for(dtype: DType, n: usize) -> usize {
    (n * dtype.size()).div_ceil(8)
}

/// Copy a typed slice into fresh 8-byte-aligned storage.
pub(crate) fn to_words<T: Scalar>(v: &[T]) -> Vec<u64> {
    let mut w = vec![0u64; words_for(T::DTYPE, v.len())];
    bytemuck::cast_slice_mut::<u64, u8>(&mut w)[..std::mem::size_of_val(v)]
        .copy_from_slice(bytemuck::cast_slice(v));
    w
}

/// Move a typed vector into 8-byte-aligned storage: no copy for 8-byte types (the allocation
/// is reused), a copy ([`to_words`]) for the others.
pub(crate) fn into_words<T: Scalar>(v: Vec<T>) -> Vec<u64> {
    match bytemuck::allocation::try_cast_vec::<T, u64>(v) {
        Ok(w) => w,
        Err((_, v)) => to_words(&v),
    }
}

/// View `n` elements of storage as `[T]`.
pub(crate) fn view<T: Scalar>(w: &[u64], n: usize) -> &[T] {
    &bytemuck::cast_slice::<u64, T>(w)[..n]
}

/// Mutable view of `n` elements of storage as `[T]`.
pub(crate) fn view_mut<T: Scalar>(w: &mut [u64], n: usize) -> &mut [T] {
    &mut bytemuck::cast_slice_mut::<u64, T>(w)[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn with_scalar_picks_the_dtypes_own_type() {
        for d in [
            DType::F64,
            DType::F32,
            DType::I32,
            DType::I64,
            DType::U32,
            DType::U64,
        ] {
            assert_eq!(with_scalar!(d, T => T::DTYPE), d);
            assert_eq!(with_scalar!(d, T => std::mem::size_of::<T>()), d.size());
        }
        assert_eq!(DType::U32.rust_name(), "u32");
    }
    #[test]
    fn roundtrip_odd_length_f32() {
        let v = [1.0f32, 2.0, 3.0];
        let w = to_words(&v);
        assert_eq!(w.len(), 2);
        assert_eq!(view::<f32>(&w, 3), &v);
    }
    #[test]
    fn into_words_keeps_values() {
        let v = vec![1.5f64, -2.0, 3.25];
        let ptr = v.as_ptr() as usize;
        let w = into_words(v);
        assert_eq!(
            w.as_ptr() as usize,
            ptr,
            "8-byte values keep their allocation"
        );
        assert_eq!(view::<f64>(&w, 3), &[1.5, -2.0, 3.25]);
        let w = into_words(vec![7i32, 8, 9]);
        assert_eq!(w.len(), 2);
        assert_eq!(view::<i32>(&w, 3), &[7, 8, 9]);
    }
}
