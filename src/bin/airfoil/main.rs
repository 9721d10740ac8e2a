//! Airfoil: OP2's benchmark (2D inviscid Euler, finite volumes, NACA0012) as an op2 solver.
//!
//! The five kernels of `kernels.c` run through `par_loop` on a mesh generated (or read) on rank
//! 0 and distributed over all ranks. Output follows OP2: the iteration and rms every 100
//! iterations, and for the standard mesh a final comparison with OP2's published value.
//!
//! ```text
//! mpiexec -n 4 airfoil [--iters N] [--i I --j J | --mesh new_grid.dat | --mesh-bin grid.op2mesh
//!                       | --mesh-h5 new_grid.h5]
//!                      [--partitioner rcb|parallel-rcb|block|metis] [--vtu out.vtu] [--png out.png]
//!                      [--q-checksum]
//! ```
//! With `--mesh-bin` or `--mesh-h5` (files from `op2 mesh convert`; `--mesh-h5` reads OP2's
//! own `new_grid.h5` too) the mesh takes the parallel path: every rank reads its own block and
//! the blocks migrate to their owners; no rank holds the whole mesh. Otherwise rank 0 builds
//! or reads the whole mesh and scatters it.
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use op2::{par_loop, Access, DType, Dat, DataSet, Global, Kernel};

mod output;

/// OP2's final rms on the standard mesh after 1000 iterations.
const OP2_REFERENCE_RMS: f64 = 0.0001060114637578;

#[derive(Parser, Debug)]
#[command(name = "airfoil", about = "OP2's Airfoil benchmark on the op2 runtime")]
struct Args {
    /// Iterations (OP2's benchmark: 1000).
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    /// Mesh size I of the generated NACA0012 mesh (standard: 400).
    #[arg(long, default_value_t = op2::mesh::STANDARD_I)]
    i: usize,
    /// Mesh size J of the generated NACA0012 mesh (standard: 600).
    #[arg(long, default_value_t = op2::mesh::STANDARD_J)]
    j: usize,
    /// Read an OP2 ASCII mesh file (new_grid.dat format) instead of generating one.
    #[arg(long)]
    mesh: Option<std::path::PathBuf>,
    /// Read an op2 mesh file (`op2 mesh convert`) in parallel: each rank reads its block.
    #[arg(long, conflicts_with = "mesh")]
    mesh_bin: Option<std::path::PathBuf>,
    /// Read OP2's HDF5 mesh file (new_grid.h5 layout, `op2 mesh convert -o grid.h5`) in
    /// parallel: each rank reads its block with collective MPI-IO (the `hdf5` feature).
    #[arg(long, conflicts_with_all = ["mesh", "mesh_bin"])]
    mesh_h5: Option<std::path::PathBuf>,
    /// Partitioner: rcb (default; in parallel with --mesh-bin/--mesh-h5), parallel-rcb (the same),
    /// block, or metis (with --mesh-bin/--mesh-h5: on rank 0, from one map's rows gathered there).
    #[arg(long, default_value = "rcb")]
    partitioner: op2::mesh::Partitioner,
    /// Write the final density, pressure and Mach number to this VTU file (ParaView).
    #[arg(long)]
    vtu: Option<std::path::PathBuf>,
    /// Render the Mach number around the aerofoil to this PNG file.
    #[arg(long)]
    png: Option<std::path::PathBuf>,
    /// Print a progress line (iteration, rms, seconds per iteration) every N iterations (0: off).
    #[arg(long, default_value_t = 100)]
    progress: usize,
    /// Print a checksum of the final flow field q in global cell numbering (`airfoil: q
    /// checksum ...`, see `output::q_checksum`), to compare runs on other rank or thread counts.
    #[arg(long)]
    q_checksum: bool,
}

const KERNELS: &str = include_str!("kernels.c");

fn solve(rt: &op2::Runtime, args: &Args) -> op2::Result<bool> {
    let comm = rt.comm();
    let root = comm.is_root();
    let t_setup = Instant::now();
    let qinf = output::qinf();
    let parallel = args.mesh_bin.is_some() || args.mesh_h5.is_some();
    if parallel && (args.vtu.is_some() || args.png.is_some()) {
        return Err(op2::Error::invalid(
            "airfoil",
            "--vtu/--png need the whole mesh on rank 0: use --mesh, not --mesh-bin/--mesh-h5",
        ));
    }
    let (global, dm, p_x, p_bound, p_q) = match (&args.mesh_bin, &args.mesh_h5) {
        (None, Some(path)) => {
            let (dm, p_x, p_bound, p_q) = read_h5(comm, path, args.partitioner)?;
            (None, dm, p_x, p_bound, p_q)
        }
        (Some(path), _) => {
            let f = op2::mesh::MeshFile::open(comm, path)?;
            let block = f.block(comm)?.partitioner(args.partitioner);
            let dm = op2::mesh::distribute_blocks(comm, block)?;
            let p_x = dm.dat_from_block("p_x", "nodes", 2, f.dat_block::<f64>(comm, "p_x")?)?;
            let p_bound =
                dm.dat_from_block("p_bound", "bedges", 1, f.dat_block::<i32>(comm, "p_bound")?)?;
            let q: Vec<f64> = qinf
                .iter()
                .copied()
                .cycle()
                .take(4 * dm.set("cells")?.size())
                .collect();
            let p_q = Dat::named("p_q", &DataSet::new(dm.set("cells")?, 4)?, q)?;
            (None, dm, p_x, p_bound, p_q)
        }
        (None, None) => {
            // Rank 0 builds or reads the global mesh; everyone receives its part. Only the
            // VTU and PNG outputs need the whole mesh afterwards: otherwise rank 0 hands its
            // arrays to the distribution and keeps none of them.
            let keep = args.vtu.is_some() || args.png.is_some();
            let mut global = if root {
                Some(match &args.mesh {
                    Some(p) => op2::mesh::AirfoilMesh::read_op2(p)?,
                    None => op2::mesh::naca0012(args.i, args.j)?,
                })
            } else {
                None
            };
            let ncell = global.as_ref().map_or(0, |m| m.ncell);
            // One rank needs no geometric partitioner: the coordinates go straight to p_x.
            let x = global.as_mut().map(|m| match keep || comm.size() > 1 {
                true => m.x.clone(),
                false => std::mem::take(&mut m.x),
            });
            let bound = global.as_mut().map(|m| match keep {
                true => m.bound.clone(),
                false => std::mem::take(&mut m.bound),
            });
            let gm = global.as_mut().map(|m| match keep {
                true => m.to_global_mesh(),
                false => m.take_global_mesh(),
            });
            if !keep {
                global = None;
            }
            let dm = op2::distribute(comm, gm.map(|g| g.partitioner(args.partitioner)))?;
            let p_x = dm.scatter_dat("p_x", "nodes", 2, x)?;
            let p_bound = dm.scatter_dat("p_bound", "bedges", 1, bound)?;
            let p_q = dm.scatter_dat(
                "p_q",
                "cells",
                4,
                root.then(|| {
                    qinf.iter()
                        .copied()
                        .cycle()
                        .take(4 * ncell)
                        .collect::<Vec<f64>>()
                }),
            )?;
            (global, dm, p_x, p_bound, p_q)
        }
    };
    let t_dist = t_setup.elapsed().as_secs_f64();
    let (nodes, cells, edges, bedges) = (
        dm.set("nodes")?,
        dm.set("cells")?,
        dm.set("edges")?,
        dm.set("bedges")?,
    );
    let standard = cells.global_size() == 720_000
        && nodes.global_size() == 721_801
        && edges.global_size() == 1_438_600
        && bedges.global_size() == 2_800;
    let (pcell, pedge, pecell, pbedge, pbecell) = (
        dm.map("pcell")?,
        dm.map("pedge")?,
        dm.map("pecell")?,
        dm.map("pbedge")?,
        dm.map("pbecell")?,
    );
    let ncell_global = cells.global_size();
    output::mesh_report(comm, &dm, t_dist, parallel, args.partitioner)?;

    let ds4 = DataSet::new(cells, 4)?;
    let p_qold = Dat::zeros(&ds4, DType::F64);
    let p_res = Dat::zeros(&ds4, DType::F64);
    let p_adt = Dat::zeros(&DataSet::new(cells, 1)?, DType::F64);
    let _ = (nodes, edges);

    let k = |name: &str| Kernel::new(name, KERNELS);
    let (save_soln, adt_calc, res_calc, bres_calc, update) = (
        k("save_soln")?,
        k("adt_calc")?,
        k("res_calc")?,
        k("bres_calc")?,
        k("update")?,
    );
    if root {
        println!(
            "airfoil: {} cells, {} nodes, {} edges, {} boundary edges on {} rank(s); setup {:.2} s",
            ncell_global,
            dm.set("nodes")?.global_size(),
            edges.global_size(),
            bedges.global_size(),
            comm.size(),
            t_setup.elapsed().as_secs_f64()
        );
    }

    let t0 = Instant::now();
    let mut t_last = Instant::now();
    let mut rms = 0.0;
    for iter in 1..=args.iters {
        par_loop(
            &save_soln,
            cells,
            &[p_q.arg(Access::Read), p_qold.arg(Access::Write)],
        )?;
        for _ in 0..2 {
            par_loop(
                &adt_calc,
                cells,
                &[
                    p_x.arg_map(Access::Read, pcell, 0),
                    p_x.arg_map(Access::Read, pcell, 1),
                    p_x.arg_map(Access::Read, pcell, 2),
                    p_x.arg_map(Access::Read, pcell, 3),
                    p_q.arg(Access::Read),
                    p_adt.arg(Access::Write),
                ],
            )?;
            par_loop(
                &res_calc,
                edges,
                &[
                    p_x.arg_map(Access::Read, pedge, 0),
                    p_x.arg_map(Access::Read, pedge, 1),
                    p_q.arg_map(Access::Read, pecell, 0),
                    p_q.arg_map(Access::Read, pecell, 1),
                    p_adt.arg_map(Access::Read, pecell, 0),
                    p_adt.arg_map(Access::Read, pecell, 1),
                    p_res.arg_map(Access::Inc, pecell, 0),
                    p_res.arg_map(Access::Inc, pecell, 1),
                ],
            )?;
            par_loop(
                &bres_calc,
                bedges,
                &[
                    p_x.arg_map(Access::Read, pbedge, 0),
                    p_x.arg_map(Access::Read, pbedge, 1),
                    p_q.arg_map(Access::Read, pbecell, 0),
                    p_adt.arg_map(Access::Read, pbecell, 0),
                    p_res.arg_map(Access::Inc, pbecell, 0),
                    p_bound.arg(Access::Read),
                ],
            )?;
            let g_rms = Global::named("rms", vec![0.0f64])?;
            par_loop(
                &update,
                cells,
                &[
                    p_qold.arg(Access::Read),
                    p_q.arg(Access::Write),
                    p_res.arg(Access::RW),
                    p_adt.arg(Access::Read),
                    g_rms.arg(Access::Inc),
                ],
            )?;
            rms = g_rms.value::<f64>()?[0];
        }
        rms = (rms / ncell_global as f64).sqrt();
        if !rms.is_finite() {
            // The rms is a reduction: every rank sees the same value and stops here alike (a
            // collective error: no rank aborts the others).
            return Err(op2::Error::Remote {
                rank: 0,
                detail: format!("airfoil: the rms residual is {rms} at iteration {iter}: the solution diverged (a degenerate or extreme mesh?); stopping"),
            }
.on_every_rank());
        }
        if root && iter % 100 == 0 {
            println!(" {iter}  {} ", output::c_exp(rms, 5, 10));
        }
        if root && args.progress > 0 && iter % args.progress == 0 {
            let per = t_last.elapsed().as_secs_f64() / args.progress as f64;
            eprintln!(
                "airfoil: iteration {iter}/{}  rms {rms:.6e}  {per:.4} s/iteration",
                args.iters
            );
            t_last = Instant::now();
        }
    }
    let total = t0.elapsed().as_secs_f64();
    if root {
        println!(
            "airfoil: final rms {rms:.16e} after {} iterations",
            args.iters
        );
    }
    output::timing_summary(comm, total, args.iters)?;

    if args.vtu.is_some() || args.png.is_some() || args.q_checksum {
        let q = p_q.gather::<f64>(0)?;
        if let (true, Some(q)) = (args.q_checksum, &q) {
            println!("airfoil: q checksum {}", output::q_checksum(q));
        }
        let global = global.as_ref();
        if let (Some(m), Some(q)) = (global, q) {
            if let Some(p) = &args.vtu {
                output::write_vtu(p, m, &q)?;
                println!("airfoil: wrote {}", p.display());
            }
            if let Some(p) = &args.png {
                output::write_png(p, m, &q)?;
                println!("airfoil: wrote {}", p.display());
            }
        }
    }

    let mut passed = true;
    if standard && args.iters == 1000 {
        let diff = (100.0 * (rms / OP2_REFERENCE_RMS) - 100.0).abs();
        passed = diff < 0.00001;
        if root {
            println!("\n\nfinal rms {rms:.16e}, OP2 reference {OP2_REFERENCE_RMS:.16e}, relative difference {:.3e} %", diff);
            println!(
                "This test is considered {}",
                if passed { "PASSED" } else { "FAILED" }
            );
        }
    }
    Ok(passed)
}

/// The mesh and the dats `p_x`, `p_bound`, `p_q` from OP2's HDF5 layout, each rank reading
/// its block. The file's flow constants must be the kernels' (compiled into kernels.c).
#[cfg(feature = "hdf5")]
fn read_h5(
    comm: op2::Comm,
    path: &std::path::Path,
    partitioner: op2::mesh::Partitioner,
) -> op2::Result<(op2::DistributedMesh, Dat, Dat, Dat)> {
    let f = op2::mesh::H5MeshFile::open(comm, path)?;
    for name in ["gam", "gm1", "cfl", "eps", "qinf"] {
        let (file, kernels) = (f.constant::<f64>(name)?, output::constant(name));
        if file != kernels {
            // Every rank read the same constants and fails here alike: a collective error.
            return Err(op2::Error::Remote {
                rank: 0,
                detail: format!(
                    "airfoil --mesh-h5 {}: constant `{name}` is {file:?} in the file but {kernels:?} in the kernels",
                    path.display()
                ),
            }
.on_every_rank());
        }
    }
    let block = f
        .block(&op2::mesh::AirfoilMesh::h5_layout())?
        .partitioner(partitioner);
    let dm = op2::mesh::distribute_blocks(comm, block)?;
    let p_x = dm.dat_from_block("p_x", "nodes", 2, f.dat_block::<f64>("p_x", "nodes", 2)?)?;
    let p_bound = dm.dat_from_block(
        "p_bound",
        "bedges",
        1,
        f.dat_block::<i32>("p_bound", "bedges", 1)?,
    )?;
    let p_q = dm.dat_from_block("p_q", "cells", 4, f.dat_block::<f64>("p_q", "cells", 4)?)?;
    Ok((dm, p_x, p_bound, p_q))
}

#[cfg(not(feature = "hdf5"))]
fn read_h5(
    _: op2::Comm,
    _: &std::path::Path,
    _: op2::mesh::Partitioner,
) -> op2::Result<(op2::DistributedMesh, Dat, Dat, Dat)> {
    Err(op2::Error::invalid(
        "airfoil --mesh-h5",
        "this airfoil was built without the `hdf5` feature (cargo build --features hdf5)",
    ))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut passed = true;
    let code = op2::run(|rt| {
        passed = solve(rt, &args)?;
        Ok(())
    });
    if code == ExitCode::SUCCESS && !passed {
        return ExitCode::FAILURE;
    }
    code
}
