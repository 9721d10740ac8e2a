//! Access modes of par_loop arguments.

/// How a kernel uses an argument.
///
/// ```
/// assert!(op2::Access::Inc.is_reduction());
/// assert!(!op2::Access::Read.writes());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read only.
    Read,
    /// Write only (previous values are not read).
    Write,
    /// Read and write.
    RW,
    /// Add to the existing value (contributions from several elements are summed).
    Inc,
    /// Take the minimum: a Global's reduction; on a Dat the kernel gets a copy of the values
    /// and each entry keeps the smaller of its value and the copy's (PyOP2's MIN).
    Min,
    /// Take the maximum (as `Min`).
    Max,
}

impl Access {
    /// True if the argument's values change.
    pub fn writes(self) -> bool {
        !matches!(self, Access::Read)
    }
    /// True for INC/MIN/MAX.
    pub fn is_reduction(self) -> bool {
        matches!(self, Access::Inc | Access::Min | Access::Max)
    }
    pub(crate) fn tag(self) -> u64 {
        match self {
            Access::Read => 1,
            Access::Write => 2,
            Access::RW => 3,
            Access::Inc => 4,
            Access::Min => 5,
            Access::Max => 6,
        }
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            Access::Read => "READ",
            Access::Write => "WRITE",
            Access::RW => "RW",
            Access::Inc => "INC",
            Access::Min => "MIN",
            Access::Max => "MAX",
        }
    }
}
