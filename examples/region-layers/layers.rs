//! The serial reference of an extruded loop's iteration regions, shared by
//! `op2-xsubset-check` and `tests/extrusion_subset.rs`.
use op2::Region;

/// The cell layers `region` runs on in a column of vertex layers `[s, t)`, and its facets per
/// layer (2 on interior facets: the cells below and above).
pub fn layers(region: Region, s: usize, t: usize) -> (std::ops::Range<usize>, usize) {
    match region {
        Region::All => (s..t - 1, 1),
        Region::OnBottom => (s..s + 1, 1),
        Region::OnTop => (t - 2..t - 1, 1),
        Region::OnInteriorFacets => (s..t - 2, 2),
    }
}
