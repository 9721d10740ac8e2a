//! Round trip through OP2's HDF5 mesh layout, checked (launched by tests/mesh_hdf5.rs):
//! every rank reads its block of FILE, the blocks are distributed, and the distributed maps
//! and dats, gathered back in global numbering, must equal the mesh the file was written
//! from; with `--owners` (a user partition in which the last rank owns no cell) the local
//! sets, halos and maps must also equal those of the rank-0 path given the same owners.
//!
//! ```text
//! mpiexec -n 4 op2-h5-check FILE (--naca I J | --tiny) [--owners] [--partitioner P]
//! ```
//! `--naca I J`: FILE holds the NACA0012 mesh of that size (written by `op2 mesh convert`).
//! `--tiny`: rank 0 first writes a mesh of 2 triangles to FILE, so on 3 or 4 ranks some
//! ranks read no rows of a set (an empty selection in a collective read).
use std::process::ExitCode;

use op2::mesh::{AirfoilMesh, H5Layout, H5MeshFile, H5Writer, MeshBlock};
use op2::{Comm, Dat, DataSet, Error, ReduceOp, Result};

struct Args {
    file: String,
    naca: Option<(usize, usize)>,
    owners: bool,
    partitioner: op2::mesh::Partitioner,
}

fn parse() -> std::result::Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let file = it
        .next()
        .ok_or("usage: op2-h5-check FILE (--naca I J | --tiny) ...")?;
    let mut a = Args {
        file,
        naca: None,
        owners: false,
        partitioner: op2::mesh::Partitioner::Rcb,
    };
    let mut tiny = false;
    while let Some(x) = it.next() {
        let mut num = || -> std::result::Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{x} needs a number"))
        };
        match x.as_str() {
            "--naca" => a.naca = Some((num()?, num()?)),
            "--tiny" => tiny = true,
            "--owners" => a.owners = true,
            "--partitioner" => {
                a.partitioner = it
                    .next()
                    .ok_or("--partitioner needs a name")?
                    .parse()
                    .map_err(|e| format!("{e}"))?
            }
            _ => return Err(format!("unknown argument {x}")),
        }
    }
    if a.naca.is_none() != tiny {
        return Err("give one of --naca I J and --tiny".into());
    }
    Ok(a)
}

/// A mesh in plain arrays: sets, maps (name, from, to, arity, values), dats (name, set, dim,
/// values), the coordinates being dat `p_x` on `nodes`.
struct Plain {
    sets: Vec<(&'static str, usize)>,
    maps: Vec<(&'static str, &'static str, &'static str, usize, Vec<i32>)>,
    x: Vec<f64>,
    ints: Vec<(&'static str, &'static str, Vec<i32>)>,
}

fn tiny() -> Plain {
    Plain {
        sets: vec![("nodes", 4), ("cells", 2)],
        maps: vec![("cell_nodes", "cells", "nodes", 3, vec![0, 1, 2, 1, 3, 2])],
        x: vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
        ints: vec![("flag", "cells", vec![7, 9])],
    }
}

fn airfoil(m: AirfoilMesh) -> Plain {
    Plain {
        sets: vec![
            ("nodes", m.nnode),
            ("edges", m.nedge),
            ("bedges", m.nbedge),
            ("cells", m.ncell),
        ],
        maps: vec![
            ("pedge", "edges", "nodes", 2, m.edge),
            ("pecell", "edges", "cells", 2, m.ecell),
            ("pbedge", "bedges", "nodes", 2, m.bedge),
            ("pbecell", "bedges", "cells", 1, m.becell),
            ("pcell", "cells", "nodes", 4, m.cell),
        ],
        x: m.x,
        ints: vec![("p_bound", "bedges", m.bound)],
    }
}

fn layout(p: &Plain) -> H5Layout {
    let mut l = H5Layout::new();
    for (s, _) in &p.sets {
        l = l.set(s);
    }
    for (n, f, t, a, _) in &p.maps {
        l = l.map(n, f, t, *a);
    }
    l.coordinates("p_x", "nodes")
}

/// Owner of cell `g` of `n` on `size` ranks: ranks 0 .. size-2 in blocks; the last owns none.
fn owner(g: usize, n: usize, size: usize) -> i32 {
    if size == 1 {
        0
    } else {
        (g * (size - 1) / n.max(1)) as i32
    }
}

fn gid_of(s: &op2::Set, i: usize) -> usize {
    s.global_ids().map_or(i, |g| g[i] as usize)
}

fn work(rt: &op2::Runtime, a: &Args) -> Result<()> {
    let comm: Comm = rt.comm();
    let (rank, size) = (comm.rank() as usize, comm.size() as usize);
    let plain = match a.naca {
        Some((i, j)) => airfoil(op2::mesh::naca0012(i, j)?),
        None => tiny(),
    };
    if a.naca.is_none() && comm.is_root() {
        let mut w = H5Writer::create(&a.file)?;
        for (s, n) in &plain.sets {
            w.set(s, *n)?;
        }
        for (n, _, _, ar, v) in &plain.maps {
            w.map(n, *ar, v)?;
        }
        w.dat("p_x", 2, &plain.x)?;
        for (n, _, v) in &plain.ints {
            w.dat(n, 1, v)?;
        }
        w.finish()?;
    }
    comm.barrier()?;
    let f = H5MeshFile::open(comm, &a.file)?;
    let mut block: MeshBlock = f.block(&layout(&plain))?.partitioner(a.partitioner);
    let ncell = plain.sets.iter().find(|s| s.0 == "cells").unwrap().1;
    if a.owners {
        let mine = op2::mesh::block_range(ncell, size, rank);
        block = block.owners("cells", mine.map(|g| owner(g, ncell, size)).collect());
    }
    let dm = op2::mesh::distribute_blocks(comm, block)?;
    let mut fails: Vec<String> = Vec::new();
    let cells_owned = dm.set("cells")?.size();
    println!("rank {rank}: owns {cells_owned} cells");
    if a.owners && size > 1 && rank == size - 1 && cells_owned != 0 {
        fails.push(format!(
            "the last rank owns {cells_owned} cells, expected none"
        ));
    }
    // Maps, gathered in global numbering.
    for (name, from, to, arity, want) in &plain.maps {
        let (fs, ts) = (dm.set(from)?, dm.set(to)?);
        let m = dm.map(name)?;
        let rows: Vec<i32> = m
            .values()
            .iter()
            .map(|&l| gid_of(ts, l as usize) as i32)
            .collect();
        let d = Dat::named(name, &DataSet::new(fs, *arity)?, rows)?;
        if let Some(got) = d.gather::<i32>(0)? {
            if &got != want {
                fails.push(format!("map {name} differs from the written one"));
            }
        }
    }
    // Dats.
    let x = f.dat_block::<f64>("p_x", "nodes", 2)?;
    let xd = dm.dat_from_block("p_x", "nodes", 2, x)?;
    if let Some(got) = xd.gather::<f64>(0)? {
        if got != plain.x {
            fails.push("p_x differs".into());
        }
    }
    for (name, set, want) in &plain.ints {
        let d = dm.dat_from_block(name, set, 1, f.dat_block::<i32>(name, set, 1)?)?;
        if let Some(got) = d.gather::<i32>(0)? {
            if &got != want {
                fails.push(format!("{name} differs"));
            }
        }
    }
    // The owned elements add up to the file's set sizes.
    for (s, n) in &plain.sets {
        let total = comm.allreduce_u64(dm.set(s)?.size() as u64, ReduceOp::Sum)?;
        if total != *n as u64 {
            fails.push(format!("set {s}: {total} owned in all, {n} in the file"));
        }
    }
    // The rank-0 path with the same owners gives the same local layout.
    if a.owners {
        let mut g = op2::GlobalMesh::new();
        for (s, n) in &plain.sets {
            g = g.add_set(s, *n);
        }
        for (n, fr, to, ar, v) in &plain.maps {
            g = g.add_map(n, fr, to, *ar, v.clone());
        }
        let g = g
            .coordinates("nodes", 2, plain.x.clone())
            .owners("cells", (0..ncell).map(|c| owner(c, ncell, size)).collect());
        let d0 = op2::distribute(comm, comm.is_root().then_some(g))?;
        for s in dm.sets() {
            let t = d0.set(s.name())?;
            if (s.core_size(), s.size(), s.total_size(), s.global_ids())
                != (t.core_size(), t.size(), t.total_size(), t.global_ids())
            {
                fails.push(format!("set {} differs from the rank-0 path", s.name()));
            }
        }
        for m in dm.maps() {
            if m.values() != d0.map(m.name())?.values() {
                fails.push(format!("map {} differs from the rank-0 path", m.name()));
            }
        }
    }
    let mine = if fails.is_empty() {
        size as u64
    } else {
        rank as u64
    };
    let first = comm.allreduce_u64(mine, ReduceOp::Min)?;
    if !fails.is_empty() {
        println!("rank {rank}: FAILED: {}", fails.join("; "));
    }
    if first != size as u64 {
        return Err(Error::Remote {
            rank: first as i32,
            detail: "the HDF5 round trip differs".into(),
        }
        .on_every_rank());
    }
    if comm.is_root() {
        println!("h5 check ok on {size} rank(s)");
    }
    Ok(())
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("op2-h5-check: {e}");
            return ExitCode::from(2);
        }
    };
    op2::run(|rt| work(rt, &a))
}
