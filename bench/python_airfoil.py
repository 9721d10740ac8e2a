#!/usr/bin/env python3
"""Airfoil from Python (python/examples/airfoil.py) against the Rust ``airfoil``, per iteration.

Both read the same OP2 HDF5 mesh (``--mesh-h5``; OP2's standard 720,000-cell mesh by default,
written once with ``op2 mesh convert --naca 400 600``) and run under ``mpiexec -n N``. For each
rank count: two short runs of each (the first compiles the kernels into the disk cache, the
second is the CPU baseline), then ``--pairs`` interleaved pairs (Rust, Python, Rust, Python,
...), each timing its loop (the
``timing:`` line both print: the slowest rank's wall time from the first loop to the last,
divided by the iterations). Beside it, the CPU time per iteration of the whole job (every
rank's user + system time, from the children's rusage, less the baseline run's, over the extra
iterations): less disturbed by other work on a loaded machine than wall time, and it counts
every cycle the Python layer adds. Prints each run with the load average beside it, then the
minimum and the median of each side, and the ratios Python / Rust.

    python3 bench/python_airfoil.py [--ranks 1 2] [--iters 200] [--pairs 3] [--mesh grid.h5]

PYTHON picks the interpreter that runs the example (the one the op2 package is installed in).
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMING = re.compile(r"timing: ([0-9.]+) s total")
RMS = re.compile(r"final rms (\S+) after")


def load():
    return open("/proc/loadavg").read().split()[0]


def cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run(cmd, iters):
    """(wall s/iteration, final rms, CPU s of the whole job) of one run."""
    c0 = cpu()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    c1 = cpu()
    t, rms = TIMING.search(r.stdout), RMS.search(r.stdout)
    if r.returncode != 0 or not t or not rms:
        sys.exit(f"python_airfoil: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return float(t.group(1)) / iters, rms.group(1), c1 - c0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--mesh", default=os.path.join(ROOT, "target", "bench", "new_grid.h5"))
    a = p.parse_args()
    py = os.environ.get("PYTHON", "python3")
    rust = os.path.join(ROOT, "target", "release", "airfoil")
    if not os.path.exists(a.mesh):
        os.makedirs(os.path.dirname(a.mesh), exist_ok=True)
        subprocess.run([os.path.join(ROOT, "target", "release", "op2"), "mesh", "convert",
                        "--naca", "400", "600", "-o", a.mesh], check=True)
    for n in a.ranks:
        mpi = ["mpiexec", "-n", str(n)]
        cmds = {
            "rust": mpi + [rust, "--mesh-h5", a.mesh, "--progress", "0"],
            "python": mpi + [py, "python/examples/airfoil.py", "--mesh-h5", a.mesh],
        }
        for c in cmds.values():  # warm-up: the kernels compile into the disk cache
            run(c + ["--iters", "2"], 2)
        base = {side: run(c + ["--iters", "2"], 2)[2] for side, c in cmds.items()}
        runs = {side: ([], []) for side in cmds}
        for i in range(a.pairs):
            for side, c in cmds.items():
                s, rms, job = run(c + ["--iters", str(a.iters)], a.iters)
                per = (job - base[side]) / (a.iters - 2)
                runs[side][0].append(s)
                runs[side][1].append(per)
                print(f"{n} rank(s) pair {i + 1} {side:6s} {s:.6f} s/iteration  cpu {per:.6f} "
                      f"s/iteration  rms {rms}  load {load()}", flush=True)
        for name, f in (("min", min), ("median", statistics.median)):
            (rw, rc), (pw, pc) = ([f(v) for v in runs[side]] for side in ("rust", "python"))
            print(f"{n} rank(s), {name} of {a.pairs}: rust {rw:.6f} s/iteration (cpu {rc:.6f}), "
                  f"python {pw:.6f} (cpu {pc:.6f}); python/rust {pw / rw:.3f} "
                  f"(cpu {pc / rc:.3f})", flush=True)


if __name__ == "__main__":
    main()
