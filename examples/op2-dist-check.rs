//! Distribution check under real MPI: rank 0 builds a structured quad mesh (nodes with
//! coordinates, cells, interior edges, boundary edges), `op2::distribute` spreads it over the
//! ranks, and every rank checks the result against the global mesh (which every rank can
//! rebuild from the formula, without communication):
//!
//! * global ids partition every set (each global element owned exactly once);
//! * local maps translated back to global ids equal the global rows;
//! * core elements touch only owned targets, and boundary elements touch some halo element;
//! * a forward halo exchange delivers the owners' values to the halo copies;
//! * a reverse add sums every rank's contributions into the owners; a reverse copy overwrites;
//! * `gather(scatter_dat(v)) == v`, with scattered halos filled.
//!
//! Prints one line per rank (`rank R of P: ok: ...`) and exits non-zero on every rank if any
//! rank found a mismatch. Options: `--nx N --ny N` (mesh size, default 60 x 50), `--block`
//! (no coordinates: block partition), `--bad-map` (rank 0 passes an out-of-range map value;
//! every rank must fail with the same message), `--no-checks` (distribute and time only),
//! `--parallel` (the parallel path: every rank builds only its block of each set and map,
//! `op2::mesh::distribute_blocks`, Dats from blocks), `--owners stripes|skip-last` (a user
//! partition of the cells: vertical stripes, or round-robin over all ranks but the last, which
//! then owns no cells), `--metis` (METIS, on rank 0). Every rank also prints a digest of its layout (local
//! numbering, halo lists, maps: `layout of rank R: XXXXXXXXXXXXXXXX`), which the tests pin, so a
//! change of partition or numbering on either entry point is seen.
use std::process::ExitCode;
use std::time::Instant;

use op2::{reverse_halo, update_halo, ReverseMode};
use op2::{Comm, Dat, DataSet, Error, GlobalMesh, ReduceOp, Result, Set};

struct Args {
    nx: usize,
    ny: usize,
    block: bool,
    bad_map: bool,
    checks: bool,
    parallel: bool,
    owners: Option<String>,
    metis: bool,
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut a = Args {
        nx: 60,
        ny: 50,
        block: false,
        bad_map: false,
        checks: true,
        parallel: false,
        owners: None,
        metis: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(s) = it.next() {
        let mut num = |name: &str| -> std::result::Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|&v: &usize| v > 0)
                .ok_or_else(|| format!("{name} needs a positive integer"))
        };
        match s.as_str() {
            "--nx" => a.nx = num("--nx")?,
            "--ny" => a.ny = num("--ny")?,
            "--block" => a.block = true,
            "--bad-map" => a.bad_map = true,
            "--no-checks" => a.checks = false,
            "--parallel" => a.parallel = true,
            "--metis" => a.metis = true,
            "--owners" => a.owners = Some(it.next().ok_or("--owners needs a mode")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// The global mesh. Node numbers are scrambled (a multiplicative permutation of the natural
/// row-major order) so that nothing may rely on index order matching geometry.
struct Mesh {
    nodes: usize,
    cells: usize,
    edges: usize,
    bedges: usize,
    xy: Vec<f64>,
    c2n: Vec<i32>,
    e2c: Vec<i32>,
    e2n: Vec<i32>,
    b2c: Vec<i32>,
    b2n: Vec<i32>,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn build_mesh(nx: usize, ny: usize) -> Mesh {
    let nn = (nx + 1) * (ny + 1);
    let mut stride = 7919 % nn.max(2);
    while stride == 0 || gcd(stride, nn) != 1 {
        stride += 1;
    }
    let node = |i: usize, j: usize| (((j * (nx + 1) + i) * stride) % nn) as i32;
    let cell = |i: usize, j: usize| (j * nx + i) as i32;
    let mut xy = vec![0.0; 2 * nn];
    for j in 0..=ny {
        for i in 0..=nx {
            let n = node(i, j) as usize;
            xy[2 * n] = i as f64 / nx as f64;
            xy[2 * n + 1] = j as f64 / ny as f64 * 0.7;
        }
    }
    let mut c2n = Vec::with_capacity(4 * nx * ny);
    for j in 0..ny {
        for i in 0..nx {
            c2n.extend_from_slice(&[
                node(i, j),
                node(i + 1, j),
                node(i + 1, j + 1),
                node(i, j + 1),
            ]);
        }
    }
    let (mut e2c, mut e2n, mut b2c, mut b2n) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for j in 0..ny {
        for i in 0..nx {
            // Edge on the left of cell (i, j) and below it, when interior.
            if i > 0 {
                e2c.extend_from_slice(&[cell(i - 1, j), cell(i, j)]);
                e2n.extend_from_slice(&[node(i, j), node(i, j + 1)]);
            }
            if j > 0 {
                e2c.extend_from_slice(&[cell(i, j - 1), cell(i, j)]);
                e2n.extend_from_slice(&[node(i, j), node(i + 1, j)]);
            }
        }
    }
    for i in 0..nx {
        b2c.push(cell(i, 0));
        b2n.extend_from_slice(&[node(i, 0), node(i + 1, 0)]);
        b2c.push(cell(i, ny - 1));
        b2n.extend_from_slice(&[node(i, ny), node(i + 1, ny)]);
    }
    for j in 0..ny {
        b2c.push(cell(0, j));
        b2n.extend_from_slice(&[node(0, j), node(0, j + 1)]);
        b2c.push(cell(nx - 1, j));
        b2n.extend_from_slice(&[node(nx, j), node(nx, j + 1)]);
    }
    Mesh {
        nodes: nn,
        cells: nx * ny,
        edges: e2c.len() / 2,
        bedges: b2c.len(),
        xy,
        c2n,
        e2c,
        e2n,
        b2c,
        b2n,
    }
}

fn global_mesh(m: &Mesh, a: &Args, rank: i32, size: i32) -> GlobalMesh {
    let mut e2n = m.e2n.clone();
    if a.bad_map && rank == 0 {
        e2n[5 * 2 + 1] = m.nodes as i32;
    }
    let g = GlobalMesh::new()
        .add_set("nodes", m.nodes)
        .add_set("cells", m.cells)
        .add_set("edges", m.edges)
        .add_set("bedges", m.bedges)
        .add_map("cell_nodes", "cells", "nodes", 4, m.c2n.clone())
        .add_map("edge_cells", "edges", "cells", 2, m.e2c.clone())
        .add_map("edge_nodes", "edges", "nodes", 2, e2n)
        .add_map("bedge_cells", "bedges", "cells", 1, m.b2c.clone())
        .add_map("bedge_nodes", "bedges", "nodes", 2, m.b2n.clone());
    let g = if a.block {
        g
    } else {
        g.coordinates("nodes", 2, m.xy.clone())
    };
    let g = if a.metis {
        g.partitioner(op2::mesh::Partitioner::Metis)
    } else {
        g
    };
    match cell_owners(m, a, size) {
        Some(o) => g.owners("cells", o),
        None => g,
    }
}

/// The user partition of the cells (`--owners`), for all cells.
fn cell_owners(m: &Mesh, a: &Args, size: i32) -> Option<Vec<i32>> {
    let nx = a.nx;
    match a.owners.as_deref()? {
        "stripes" => Some(
            (0..m.cells)
                .map(|c| ((c % nx) * size as usize / nx) as i32)
                .collect(),
        ),
        "skip-last" => {
            let k = (size - 1).max(1) as usize;
            Some((0..m.cells).map(|c| ((c / 7) % k) as i32).collect())
        }
        _ => None,
    }
}

/// This rank's block of the mesh (parallel path): rows of the block ranges only.
fn mesh_block(m: &Mesh, a: &Args, comm: Comm) -> op2::mesh::MeshBlock {
    use op2::mesh::block_range;
    let (p, r) = (comm.size() as usize, comm.rank() as usize);
    let rows = |v: &[i32], n: usize, k: usize| -> Vec<i32> {
        let b = block_range(n, p, r);
        v[b.start * k..b.end * k].to_vec()
    };
    let mut e2n = m.e2n.clone();
    if a.bad_map {
        e2n[5 * 2 + 1] = m.nodes as i32;
    }
    let b = op2::mesh::MeshBlock::new()
        .add_set("nodes", m.nodes)
        .add_set("cells", m.cells)
        .add_set("edges", m.edges)
        .add_set("bedges", m.bedges)
        .add_map("cell_nodes", "cells", "nodes", 4, rows(&m.c2n, m.cells, 4))
        .add_map("edge_cells", "edges", "cells", 2, rows(&m.e2c, m.edges, 2))
        .add_map("edge_nodes", "edges", "nodes", 2, rows(&e2n, m.edges, 2))
        .add_map(
            "bedge_cells",
            "bedges",
            "cells",
            1,
            rows(&m.b2c, m.bedges, 1),
        )
        .add_map(
            "bedge_nodes",
            "bedges",
            "nodes",
            2,
            rows(&m.b2n, m.bedges, 2),
        );
    let b = if a.block {
        b.partitioner(op2::mesh::Partitioner::Block)
    } else {
        let xb = block_range(m.nodes, p, r);
        b.coordinates("nodes", 2, m.xy[2 * xb.start..2 * xb.end].to_vec())
    };
    let b = if a.metis {
        b.partitioner(op2::mesh::Partitioner::Metis)
    } else {
        b
    };
    match cell_owners(m, a, comm.size()) {
        Some(o) => {
            let cb = block_range(m.cells, p, r);
            b.owners("cells", o[cb].to_vec())
        }
        None => b,
    }
}

/// Distribute from rank 0's global mesh, or (`--parallel`) from every rank's block.
fn distribute(m: &Mesh, a: &Args, comm: Comm) -> Result<op2::DistributedMesh> {
    if a.parallel {
        op2::mesh::distribute_blocks(comm, mesh_block(m, a, comm))
    } else {
        let mesh = comm
            .is_root()
            .then(|| global_mesh(m, a, comm.rank(), comm.size()));
        op2::distribute(comm, mesh)
    }
}

/// FNV-1a digest of this rank's layout: per set its sizes, global ids and halo lists, per map
/// its local values.
fn layout_digest(dm: &op2::DistributedMesh) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |v: u64| {
        for b in v.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    for s in dm.sets() {
        for v in [s.core_size(), s.size(), s.total_size()] {
            eat(v as u64);
        }
        for &g in s.global_ids().unwrap_or(&[]) {
            eat(g);
        }
        for (r, send, recv) in s.halo().map(|h| h.lists()).unwrap_or_default() {
            eat(r as u64);
            send.iter().chain(recv).for_each(|&i| eat(u64::from(i)));
        }
    }
    for m in dm.maps() {
        m.values().iter().for_each(|&v| eat(v as u64));
    }
    h
}

/// Collected mismatches of this rank.
#[derive(Default)]
struct Fails(Vec<String>);

impl Fails {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }
}

fn gid(s: &Set, i: usize) -> usize {
    s.global_ids().map_or(i, |g| g[i] as usize)
}

fn work(rt: &op2::Runtime, a: &Args) -> Result<()> {
    let comm = rt.comm();
    let (rank, size) = (comm.rank(), comm.size());
    let m = build_mesh(a.nx, a.ny);
    comm.barrier()?;
    let t0 = Instant::now();
    let dm = distribute(&m, a, comm)?;
    comm.barrier()?;
    let secs = t0.elapsed().as_secs_f64();
    if comm.is_root() {
        println!(
            "distribute: {secs:.3} s for {} nodes, {} cells, {} edges, {} boundary edges on {size} rank(s)",
            m.nodes, m.cells, m.edges, m.bedges
        );
    }
    let names = ["nodes", "cells", "edges", "bedges"];
    let sets: Vec<Set> = names
        .iter()
        .map(|n| dm.set(n).cloned())
        .collect::<Result<_>>()?;
    let mut f = Fails::default();
    if a.checks {
        check_all(comm, &dm, &m, &sets, a.parallel, &mut f)?;
    }
    println!("layout of rank {rank}: {:016x}", layout_digest(&dm));
    let cut = dm.cut("edge_cells")?;
    let halos = dm.halo_sizes()?;
    if comm.is_root() {
        println!("edge cut {cut}, halo sizes {halos:?}");
    }
    // Every rank learns whether any rank failed.
    // "none failed" is the size, not u64::MAX (MPICH's MIN over u64 compares as signed).
    let mine = if f.0.is_empty() {
        size as u64
    } else {
        rank as u64
    };
    let first_bad = comm.allreduce_u64(mine, ReduceOp::Min)?;
    let summary: Vec<String> = sets
        .iter()
        .map(|s| {
            format!(
                "{} {}/{} core {}",
                s.name(),
                s.size(),
                s.total_size(),
                s.core_size()
            )
        })
        .collect();
    let neighbours: Vec<i32> = sets[0]
        .halo()
        .map(|h| h.neighbour_ranks())
        .unwrap_or_default();
    if f.0.is_empty() {
        println!(
            "rank {rank} of {size}: ok: {}; node neighbours {neighbours:?}",
            summary.join(", ")
        );
    } else {
        println!(
            "rank {rank} of {size}: FAILED ({} mismatches): {}",
            f.0.len(),
            f.0.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        );
    }
    if first_bad != size as u64 {
        return Err(Error::Remote {
            rank: first_bad as i32,
            detail: "distribution check found mismatches".into(),
        }
        .on_every_rank());
    }
    Ok(())
}

fn check_all(
    comm: Comm,
    dm: &op2::DistributedMesh,
    m: &Mesh,
    sets: &[Set],
    parallel: bool,
    f: &mut Fails,
) -> Result<()> {
    // A Dat from global values: scattered from rank 0, or from every rank's block.
    fn make<T: op2::Scalar>(
        dm: &op2::DistributedMesh,
        parallel: bool,
        name: &str,
        set: &str,
        dim: usize,
        v: &[T],
    ) -> Result<Dat> {
        let comm = dm.comm();
        if parallel {
            let n = dm.set(set)?.global_size();
            let b = op2::mesh::block_range(n, comm.size() as usize, comm.rank() as usize);
            dm.dat_from_block(name, set, dim, v[b.start * dim..b.end * dim].to_vec())
        } else {
            dm.scatter_dat(name, set, dim, comm.is_root().then(|| v.to_vec()))
        }
    }
    let (nodes, cells, edges, bedges) = (&sets[0], &sets[1], &sets[2], &sets[3]);
    let gsizes = [m.nodes, m.cells, m.edges, m.bedges];

    // Same ids on every rank (sets and maps created in the same order).
    let ids: Vec<u64> = sets
        .iter()
        .map(|s| s.id())
        .chain(dm.maps().iter().map(|x| x.id()))
        .collect();
    for &id in &ids {
        let lo = comm.allreduce_u64(id, ReduceOp::Min)?;
        let hi = comm.allreduce_u64(id, ReduceOp::Max)?;
        f.check(lo == hi, || {
            format!("object id {id} differs across ranks ({lo}..{hi})")
        });
    }

    // 1. Global ids partition every set; halo copies are of elements owned elsewhere.
    let mut copied: Vec<Vec<i32>> = Vec::new();
    for (s, &gs) in sets.iter().zip(&gsizes) {
        f.check(s.global_size() == gs, || {
            format!("{}: global size {} != {gs}", s.name(), s.global_size())
        });
        let mut owned = vec![0i32; gs];
        let mut halo = vec![0i32; gs];
        for i in 0..s.size() {
            owned[gid(s, i)] += 1;
        }
        for i in s.size()..s.total_size() {
            let g = gid(s, i);
            f.check(owned[g] == 0, || {
                format!("{}: halo element {g} is also owned here", s.name())
            });
            halo[g] += 1;
        }
        let total = comm.allreduce(&owned, ReduceOp::Sum)?;
        if let Some(g) = total.iter().position(|&c| c != 1) {
            f.check(false, || {
                format!("{}: global element {g} owned {} times", s.name(), total[g])
            });
        }
        copied.push(comm.allreduce(&halo, ReduceOp::Sum)?);
    }

    // 2. Maps back to global ids; 3. core/boundary classification.
    let maps: [(&str, &Set, &Set, usize, &[i32]); 5] = [
        ("cell_nodes", cells, nodes, 4, &m.c2n),
        ("edge_cells", edges, cells, 2, &m.e2c),
        ("edge_nodes", edges, nodes, 2, &m.e2n),
        ("bedge_cells", bedges, cells, 1, &m.b2c),
        ("bedge_nodes", bedges, nodes, 2, &m.b2n),
    ];
    let mut touches_halo: Vec<Vec<bool>> = sets.iter().map(|s| vec![false; s.size()]).collect();
    for (name, from, to, arity, global) in maps {
        let map = dm.map(name)?;
        f.check(
            map.from_set() == from && map.to_set() == to && map.arity() == arity,
            || format!("{name}: wrong sets or arity"),
        );
        let k = sets.iter().position(|s| s == from).unwrap_or(0);
        for (s, touches) in touches_halo[k].iter_mut().enumerate() {
            let g = gid(from, s);
            for j in 0..arity {
                let l = map.values()[s * arity + j] as usize;
                let want = global[g * arity + j] as usize;
                f.check(l < to.total_size() && gid(to, l) == want, || {
                    format!("{name}: element {g} slot {j} maps to local {l}, want global {want}")
                });
                if l >= to.size() {
                    *touches = true;
                }
            }
        }
    }
    for (s, th) in sets.iter().zip(&touches_halo) {
        for (i, &t) in th.iter().enumerate() {
            f.check(t == (i >= s.core_size()), || {
                format!(
                    "{}: element {} (local {i}, core {}) touches halo: {t}",
                    s.name(),
                    gid(s, i),
                    s.core_size()
                )
            });
        }
    }

    // 4. Forward exchange: owners' values reach the halo copies (two dtypes, two dims).
    let fx = |g: usize| [g as f64 * 3.0 + 1.0, -(g as f64)];
    let owned: Vec<f64> = (0..nodes.size()).flat_map(|i| fx(gid(nodes, i))).collect();
    let x = Dat::named("x", &DataSet::new(nodes, 2)?, owned)?;
    update_halo(&x)?;
    let all = x.to_vec_with_halo::<f64>()?;
    for i in 0..nodes.total_size() {
        let g = gid(nodes, i);
        f.check(all[2 * i..2 * i + 2] == fx(g), || {
            format!(
                "forward nodes: local {i} (global {g}) holds {:?}",
                &all[2 * i..2 * i + 2]
            )
        });
    }
    let fc = |g: usize| (g * 7 + 3) as i32;
    let owned: Vec<i32> = (0..cells.size()).map(|i| fc(gid(cells, i))).collect();
    let c = Dat::named("c", &DataSet::new(cells, 1)?, owned)?;
    update_halo(&c)?;
    let all = c.to_vec_with_halo::<i32>()?;
    for (i, &v) in all.iter().enumerate() {
        let g = gid(cells, i);
        f.check(v == fc(g), || {
            format!("forward cells: local {i} (global {g}) holds {v}")
        });
    }

    // 5. Reverse add: every owned edge/cell/bedge adds 1 to each node it references (owned
    //    or halo copy); after the exchange each owned node holds its global degree.
    let mut degree = vec![0.0f64; m.nodes];
    for &n in m.c2n.iter().chain(&m.e2n).chain(&m.b2n) {
        degree[n as usize] += 1.0;
    }
    let mut inc = vec![0.0f64; nodes.total_size()];
    for (name, from, arity) in [
        ("cell_nodes", cells, 4),
        ("edge_nodes", edges, 2),
        ("bedge_nodes", bedges, 2),
    ] {
        let vals = dm.map(name)?.values();
        for s in 0..from.size() {
            for j in 0..arity {
                inc[vals[s * arity + j] as usize] += 1.0;
            }
        }
    }
    let d = Dat::named("degree", &DataSet::new(nodes, 1)?, inc)?;
    reverse_halo(&d, ReverseMode::Add)?;
    for (i, v) in d.to_vec::<f64>()?.into_iter().enumerate() {
        let g = gid(nodes, i);
        f.check(v == degree[g], || {
            format!("reverse add: node {g} has {v}, want {}", degree[g])
        });
    }
    // The same on cells through edges, in i32 with dim 2 (second component twice the first).
    let mut cdeg = vec![0i32; m.cells];
    for &c in m.e2c.iter().chain(&m.b2c) {
        cdeg[c as usize] += 1;
    }
    let mut inc = vec![0i32; 2 * cells.total_size()];
    for (name, from, arity) in [("edge_cells", edges, 2), ("bedge_cells", bedges, 1)] {
        let vals = dm.map(name)?.values();
        for s in 0..from.size() {
            for j in 0..arity {
                let l = vals[s * arity + j] as usize;
                inc[2 * l] += 1;
                inc[2 * l + 1] += 2;
            }
        }
    }
    let d = Dat::named("cdegree", &DataSet::new(cells, 2)?, inc)?;
    reverse_halo(&d, ReverseMode::Add)?;
    for (i, v) in d.to_vec::<i32>()?.chunks(2).enumerate() {
        let g = gid(cells, i);
        f.check(v == [cdeg[g], 2 * cdeg[g]], || {
            format!("reverse add: cell {g} has {v:?}, want {}", cdeg[g])
        });
    }
    // Reverse copy: owners take the copies' value where some rank holds a copy.
    let fy = |g: usize| g as i64 * 5 + 2;
    let mut v: Vec<i64> = vec![-1; nodes.total_size()];
    for (i, x) in v.iter_mut().enumerate().skip(nodes.size()) {
        *x = fy(gid(nodes, i));
    }
    let y = Dat::named("y", &DataSet::new(nodes, 1)?, v)?;
    reverse_halo(&y, ReverseMode::Copy)?;
    for (i, v) in y.to_vec::<i64>()?.into_iter().enumerate() {
        let g = gid(nodes, i);
        let want = if copied[0][g] > 0 { fy(g) } else { -1 };
        f.check(v == want, || {
            format!("reverse copy: node {g} has {v}, want {want}")
        });
    }

    // 6. gather(scatter(v)) == v, with halos filled by scatter_dat.
    let fe = |g: usize, k: usize| g as f64 + k as f64 * 0.25;
    let ve: Vec<f64> = (0..m.edges)
        .flat_map(|g| (0..3).map(move |k| fe(g, k)))
        .collect();
    let e = make(dm, parallel, "e", "edges", 3, &ve)?;
    let got = e.to_vec::<f64>()?;
    for i in 0..edges.size() {
        let g = gid(edges, i);
        f.check((0..3).all(|k| got[3 * i + k] == fe(g, k)), || {
            format!(
                "scatter edges: local {i} (global {g}) holds {:?}",
                &got[3 * i..3 * i + 3]
            )
        });
    }
    if let Some(back) = e.gather::<f64>(0)? {
        f.check(back == ve, || {
            "gather(scatter(edges)) != v on rank 0".into()
        });
    }
    let fu = |g: usize| (g as u32).wrapping_mul(2654435761);
    let vc: Vec<u32> = (0..m.cells).flat_map(|g| [fu(g), g as u32]).collect();
    let cd = make(dm, parallel, "cu", "cells", 2, &vc)?;
    let all = cd.to_vec_with_halo::<u32>()?;
    for i in 0..cells.total_size() {
        let g = gid(cells, i);
        f.check(all[2 * i..2 * i + 2] == [fu(g), g as u32], || {
            format!(
                "scatter cells: local {i} (global {g}) holds {:?}",
                &all[2 * i..2 * i + 2]
            )
        });
    }
    let last = comm.size() - 1;
    let back = cd.gather::<u32>(last)?;
    if comm.rank() == last {
        f.check(back.as_ref() == Some(&vc), || {
            format!("gather(scatter(cells)) != v on rank {last}")
        });
    } else {
        f.check(back.is_none(), || {
            "gather returned data on a non-root rank".into()
        });
    }
    // Errors decided on rank 0 come back on every rank, identical.
    if !parallel {
        let bad = dm.scatter_dat("bad", "cells", 2, comm.is_root().then(|| vec![0u32; 3]));
        let msg = bad.err().map(|e| e.to_string()).unwrap_or_default();
        f.check(msg.contains("3 values given"), || {
            format!("bad scatter_dat gave {msg:?}")
        });
    } else {
        let bad = dm.dat_from_block("bad", "cells", 2, vec![0u32; 3]);
        f.check(bad.is_err(), || "bad dat_from_block succeeded".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("op2-dist-check: {e}");
            return ExitCode::from(2);
        }
    };
    op2::run(|rt| work(rt, &args))
}
