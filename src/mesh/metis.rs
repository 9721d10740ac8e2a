//! METIS on the element dual graph (rank 0 path): the elements of a map's source set are
//! vertices, adjacent when their rows share at least `min(2, arity - 1)` targets (cells
//! sharing a face in 2D: two nodes); METIS's k-way partitioner (system library through the
//! `metis` crate) splits that graph into parts of balanced size and small edge cut.

use crate::error::{Error, Result};
use crate::mesh::partition::MapSpec;

/// Owner of each of the `n` source elements of `map`, by METIS k-way on its dual graph.
pub(crate) fn part_dual(n: usize, map: &MapSpec<'_>, nparts: usize) -> Result<Vec<i32>> {
    let what = "partition::metis";
    if nparts == 1 || n == 0 {
        return Ok(vec![0; n]);
    }
    if n >= i32::MAX as usize || map.values.len() >= i32::MAX as usize {
        return Err(Error::invalid(
            what,
            format!("{n} elements are too many for METIS"),
        ));
    }
    let (xadj, adj) = dual_graph(n, map);
    let xadj: Vec<metis::Idx> = xadj.into_iter().map(|x| x as metis::Idx).collect();
    let adj: Vec<metis::Idx> = adj.into_iter().map(|x| x as metis::Idx).collect();
    let mut part = vec![0 as metis::Idx; n];
    metis::Graph::new(1, nparts as metis::Idx, &xadj, &adj)
        .map(|g| g.part_kway(&mut part))
        .map_err(|e| Error::invalid(what, format!("{e:?}")))?
        .map_err(|e| Error::invalid(what, format!("METIS failed: {e:?}")))?;
    Ok(part.into_iter().collect())
}

/// CSR adjacency of the dual graph (no self loops, each neighbour once).
pub(crate) fn dual_graph(n: usize, map: &MapSpec<'_>) -> (Vec<usize>, Vec<u32>) {
    let a = map.arity;
    let ncommon = 2.min(a.saturating_sub(1)).max(1);
    let nt = map
        .values
        .iter()
        .map(|&v| v as usize + 1)
        .max()
        .unwrap_or(0);
    // Target -> elements (CSR).
    let mut start = vec![0usize; nt + 1];
    for &v in map.values {
        start[v as usize + 1] += 1;
    }
    for i in 0..nt {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut elems = vec![0u32; map.values.len()];
    for (i, &v) in map.values.iter().enumerate() {
        elems[fill[v as usize]] = (i / a) as u32;
        fill[v as usize] += 1;
    }
    let mut xadj = Vec::with_capacity(n + 1);
    xadj.push(0);
    let mut adj = Vec::new();
    let mut count = vec![0u32; n];
    let mut touched = Vec::new();
    for e in 0..n {
        for &t in &map.values[e * a..(e + 1) * a] {
            for &f in &elems[start[t as usize]..start[t as usize + 1]] {
                if f as usize != e {
                    if count[f as usize] == 0 {
                        touched.push(f);
                    }
                    count[f as usize] += 1;
                }
            }
        }
        touched.sort_unstable();
        for &f in &touched {
            if count[f as usize] as usize >= ncommon {
                adj.push(f);
            }
            count[f as usize] = 0;
        }
        touched.clear();
        xadj.push(adj.len());
    }
    (xadj, adj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dual_graph_of_a_strip_of_quads_and_a_metis_split() {
        // 4 quads in a row: nodes 0..10, quad i = [i, i+1, i+6, i+5].
        let rows: Vec<i32> = (0..4).flat_map(|i| [i, i + 1, i + 6, i + 5]).collect();
        let m = MapSpec {
            arity: 4,
            values: &rows,
        };
        let (x, a) = dual_graph(4, &m);
        assert_eq!(x, vec![0, 1, 3, 5, 6]);
        assert_eq!(a, vec![1, 0, 2, 1, 3, 2]);
        let p = part_dual(4, &m, 2).unwrap();
        assert_eq!(p.iter().filter(|&&o| o == 0).count(), 2);
        assert_eq!(p[0], p[1]);
        assert_eq!(p[2], p[3]);
    }
}
