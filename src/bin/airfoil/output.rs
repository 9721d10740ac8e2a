//! Airfoil's outputs: constants read from `kernels.c`, the timing summary, VTU and PNG files.
use std::path::Path;

use op2::mesh::AirfoilMesh;
use op2::{Comm, Error, ReduceOp, Result};

/// A `static const double NAME = VALUE;` (or the array `qinf`) from kernels.c: the kernels'
/// constants have one source of truth.
pub fn constant(name: &str) -> Vec<f64> {
    let src = super::KERNELS;
    let start = src
        .find(&format!("static const double {name}"))
        .unwrap_or_else(|| panic!("kernels.c defines {name}"));
    let rest = &src[start..];
    let (lo, hi) = (
        rest.find('=').expect("initialiser") + 1,
        rest.find(';').expect("semicolon"),
    );
    rest[lo..hi]
        .trim()
        .trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .map(|v| v.trim().parse().expect("numeric constant"))
        .collect()
}

/// Free-stream state, as the kernels use it.
pub fn qinf() -> [f64; 4] {
    let q = constant("qinf");
    [q[0], q[1], q[2], q[3]]
}

/// C's `%W.Pe`: mantissa with `prec` decimals, `e`, sign and at least two exponent digits,
/// right-aligned in `width` (Rust's `{:e}` writes `4.2e-4`, C writes `4.2e-04`).
pub fn c_exp(v: f64, prec: usize, width: usize) -> String {
    let s = format!("{v:.prec$e}");
    let (m, e) = s.split_once('e').expect("exponent");
    let e: i32 = e.parse().expect("integer exponent");
    let out = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    format!("{out:>width$}")
}

/// A checksum of the flow field `q` (4 values per cell, in global cell numbering): per
/// component k, `sum_i w_i (q_ik - qinf_k)` and its scale `sum_i w_i |q_ik - qinf_k|`, with a
/// fixed pseudo-random weight `w_i` in [0.5, 1.5) per cell, so that a value at the wrong cell
/// changes it (a plain sum would not see a permutation) and the far-field value does not drown
/// the solution's change. Printed as `s0 s1 s2 s3 scale a0 a1 a2 a3` (`{:.17e}`). Runs of the
/// same iterations agree to rounding: their cells sum increments in other orders.
pub fn q_checksum(q: &[f64]) -> String {
    let qinf = qinf();
    let (mut sum, mut scale) = ([0.0f64; 4], [0.0f64; 4]);
    for (i, c) in q.chunks_exact(4).enumerate() {
        let w = 0.5
            + ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
        for k in 0..4 {
            let d = c[k] - qinf[k];
            sum[k] += w * d;
            scale[k] += w * d.abs();
        }
    }
    let f = |v: &[f64; 4]| v.map(|x| format!("{x:.17e}")).join(" ");
    format!("{} scale {}", f(&sum), f(&scale))
}

/// Density, pressure and Mach number of each cell.
fn fields(q: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (gam, gm1) = (constant("gam")[0], constant("gm1")[0]);
    let n = q.len() / 4;
    let (mut rho, mut p, mut mach) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for c in q.chunks_exact(4) {
        let (r, u, v) = (c[0], c[1] / c[0], c[2] / c[0]);
        let pr = gm1 * (c[3] - 0.5 * r * (u * u + v * v));
        rho.push(r);
        p.push(pr);
        mach.push((u * u + v * v).sqrt() / (gam * pr / r).sqrt());
    }
    (rho, p, mach)
}

/// Rank 0 prints the total and per-loop times (max over ranks) and the communication share.
pub fn timing_summary(comm: Comm, total: f64, iters: usize) -> Result<()> {
    let t = op2::timings();
    let secs: Vec<f64> = t.iter().map(|l| l.seconds).collect();
    let comm_s: Vec<f64> = t.iter().map(|l| l.comm_seconds).collect();
    let max_secs = comm.allreduce(&secs, ReduceOp::Max)?;
    let sum_secs = comm.allreduce(&secs, ReduceOp::Sum)?;
    let sum_comm = comm.allreduce(&comm_s, ReduceOp::Sum)?;
    let total_max = comm.allreduce(&[total], ReduceOp::Max)?[0];
    if comm.is_root() {
        println!(
            "\ntiming: {total_max:.3} s total, {:.5} s per iteration, {} rank(s)",
            total_max / iters.max(1) as f64,
            comm.size()
        );
        println!(
            "  {:<12} {:>8} {:>12} {:>14}",
            "loop", "calls", "max s", "comm share"
        );
        for (i, l) in t.iter().enumerate() {
            let share = if sum_secs[i] > 0.0 {
                100.0 * sum_comm[i] / sum_secs[i]
            } else {
                0.0
            };
            println!(
                "  {:<12} {:>8} {:>12.4} {:>13.1}%",
                l.kernel, l.calls, max_secs[i], share
            );
        }
        let all: f64 = sum_secs.iter().sum();
        let comm_all: f64 = sum_comm.iter().sum();
        println!(
            "  halo exchange + reductions: {:.1}% of loop time",
            if all > 0.0 {
                100.0 * comm_all / all
            } else {
                0.0
            }
        );
    }
    Ok(())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io("write", path, e)
}

/// ParaView-readable unstructured grid (the library's VTU writer): quads with cell data.
pub fn write_vtu(path: &Path, m: &AirfoilMesh, q: &[f64]) -> Result<()> {
    use op2::mesh::vtu::{write_piece, Field, Piece};
    let (rho, p, mach) = fields(q);
    let cells: Vec<i64> = m.cell.iter().map(|&c| c as i64).collect();
    let field = |name, values| Field {
        name,
        components: 1,
        values,
    };
    write_piece(
        path,
        &Piece {
            points: &m.x,
            point_dim: 2,
            connectivity: &cells,
            nodes_per_cell: 4,
            point_data: vec![],
            cell_data: vec![
                field("density", &rho),
                field("pressure", &p),
                field("mach", &mach),
            ],
        },
    )
}

/// A perceptual-ish blue -> cyan -> yellow -> red ramp.
fn colour(t: f64) -> [u8; 3] {
    let stops: [(f64, [f64; 3]); 5] = [
        (0.0, [0.19, 0.07, 0.55]),
        (0.3, [0.1, 0.55, 0.9]),
        (0.55, [0.3, 0.85, 0.5]),
        (0.8, [0.98, 0.8, 0.15]),
        (1.0, [0.8, 0.1, 0.1]),
    ];
    let t = t.clamp(0.0, 1.0);
    let i = stops.iter().position(|s| s.0 >= t).unwrap_or(4).max(1);
    let (a, b) = (stops[i - 1], stops[i]);
    let f = (t - a.0) / (b.0 - a.0);
    std::array::from_fn(|k| ((a.1[k] + f * (b.1[k] - a.1[k])) * 255.0).round() as u8)
}

/// Mach number around the aerofoil (x in [-0.4, 1.4], y in [-0.45, 0.45]) with a colour bar.
pub fn write_png(path: &Path, m: &AirfoilMesh, q: &[f64]) -> Result<()> {
    let (_, _, mach) = fields(q);
    let (w, h, bar) = (1000usize, 500usize, 40usize);
    let (x0, x1, y0, y1) = (-0.4, 1.4, -0.45, 0.45);
    let mut img = vec![255u8; (w + bar) * h * 3];
    let (lo, hi) = (0.0, mach.iter().cloned().fold(0.0f64, f64::max).max(1e-12));
    let px = |x: f64| (x - x0) / (x1 - x0) * w as f64;
    let py = |y: f64| (y1 - y) / (y1 - y0) * h as f64;
    for (c, nodes) in m.cell.chunks_exact(4).enumerate() {
        let pts: Vec<(f64, f64)> = nodes
            .iter()
            .map(|&n| (px(m.x[2 * n as usize]), py(m.x[2 * n as usize + 1])))
            .collect();
        let (minx, maxx) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
        let (miny, maxy) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
        if maxx < 0.0 || maxy < 0.0 || minx >= w as f64 || miny >= h as f64 {
            continue;
        }
        let rgb = colour((mach[c] - lo) / (hi - lo));
        for tri in [[0, 1, 2], [0, 2, 3]] {
            let [a, b, cc] = tri.map(|k| pts[k]);
            let area = (b.0 - a.0) * (cc.1 - a.1) - (cc.0 - a.0) * (b.1 - a.1);
            if area.abs() < 1e-12 {
                continue;
            }
            let (sx, ex) = (
                minx.floor().max(0.0) as usize,
                (maxx.ceil() as usize).min(w - 1),
            );
            let (sy, ey) = (
                miny.floor().max(0.0) as usize,
                (maxy.ceil() as usize).min(h - 1),
            );
            for yy in sy..=ey {
                for xx in sx..=ex {
                    let p = (xx as f64 + 0.5, yy as f64 + 0.5);
                    let w0 = ((b.0 - p.0) * (cc.1 - p.1) - (cc.0 - p.0) * (b.1 - p.1)) / area;
                    let w1 = ((cc.0 - p.0) * (a.1 - p.1) - (a.0 - p.0) * (cc.1 - p.1)) / area;
                    if w0 >= -1e-9 && w1 >= -1e-9 && w0 + w1 <= 1.0 + 1e-9 {
                        let o = (yy * (w + bar) + xx) * 3;
                        img[o..o + 3].copy_from_slice(&rgb);
                    }
                }
            }
        }
    }
    // Colour bar from Mach 0 (bottom) to the maximum (top).
    for yy in 20..h - 20 {
        let rgb = colour(1.0 - (yy - 20) as f64 / (h - 40) as f64);
        for xx in w + 12..w + bar - 8 {
            let o = (yy * (w + bar) + xx) * 3;
            img[o..o + 3].copy_from_slice(&rgb);
        }
    }
    let f = std::fs::File::create(path).map_err(io(path))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(f), (w + bar) as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc
        .write_header()
        .map_err(|e| Error::invalid("write_png", format!("{}: {e}", path.display())))?;
    wr.write_image_data(&img)
        .map_err(|e| Error::invalid("write_png", format!("{}: {e}", path.display())))?;
    Ok(())
}

/// This process's peak resident set size in KiB (Linux `VmHWM`, the value `getrusage`'s
/// `ru_maxrss` reports), 0 where unavailable.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Rank 0 prints the time to a distributed mesh (max over ranks), the partition's quality
/// (edge cut of the cells' dual graph through `pecell`, halo sizes summed and max over ranks)
/// and the peak RSS of rank 0 and of the other ranks so far.
pub fn mesh_report(
    comm: Comm,
    dm: &op2::DistributedMesh,
    secs: f64,
    parallel: bool,
    partitioner: op2::mesh::Partitioner,
) -> Result<()> {
    let t = comm.allreduce(&[secs], ReduceOp::Max)?[0];
    let cut = dm.cut("pecell")?;
    let halos = dm.halo_sizes()?;
    let rss = comm.gather_bytes(0, &peak_rss_kib().to_le_bytes())?;
    if let Some(rss) = rss {
        let mib: Vec<f64> = rss
            .iter()
            .map(|b| u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])) as f64 / 1024.0)
            .collect();
        let others = &mib[1..];
        let omax = others.iter().cloned().fold(0.0, f64::max);
        let omin = others.iter().cloned().fold(f64::INFINITY, f64::min);
        let h: Vec<String> = halos
            .iter()
            .filter(|(n, _, _)| n == "nodes" || n == "cells")
            .map(|(n, sum, max)| format!("{n} {sum} (max {max})"))
            .collect();
        println!(
            "mesh: {} path, partitioner {partitioner:?}: distributed in {t:.3} s; edge cut {cut}; \
             halo {}",
            if parallel { "parallel" } else { "rank-0" },
            h.join(", ")
        );
        if others.is_empty() {
            println!("mesh: peak RSS rank 0 {:.1} MiB", mib[0]);
        } else {
            println!(
                "mesh: peak RSS rank 0 {:.1} MiB, other ranks {omin:.1}..{omax:.1} MiB",
                mib[0]
            );
        }
    }
    Ok(())
}
