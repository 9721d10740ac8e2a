#!/usr/bin/env python3
"""Airfoil from Python (python/examples/airfoil.py) against the Rust ``airfoil``, per iteration.

Both read the same OP2 HDF5 mesh (``--mesh-h5``; OP2's standard 720,000-cell mesh by default,
written once with ``op2 mesh convert --naca 400 600``) and run under ``mpiexec -n N`` with the
same environment: a fresh kernel cache made for this bench (``OP2_CACHE_DIR``, removed at the
end; ``--cache-dir`` keeps one), and the caller's ``OP2_THREADS`` / ``OP2_SIMD`` (printed) on
both sides. Both programs compile the same C text (src/bin/airfoil/kernels.c) with the same
arguments, so they must run the same cache entries with the same recorded variant choice
(``OP2_SIMD=auto`` measures each vectorised loop once, at its entry's first run, and records
it beside the entry): the bench checks it. Every run writes ``OP2_CACHE_REPORT``, whose
``used_entries`` are the keys it ran; the bench prints each key with its kernel and recorded
variant, and stops with a loud message if the two sides or two runs ran different keys.

For each rank count: one short run of each (Rust first: it compiles the kernels and measures
the variants on the benchmark's own mesh; Python then hits the same entries), a second short
run of each (the CPU baseline), then ``--pairs`` interleaved pairs (Rust, Python, Rust,
Python, ...), each timing its loop (the ``timing:`` line both print: the slowest rank's wall
time from the first loop to the last, divided by the iterations). Beside it, the CPU time per
iteration of the whole job (every rank's user + system time, from the children's rusage, less
the baseline run's, over the extra iterations): less disturbed by other work on a loaded
machine than wall time, and it counts every cycle the Python layer adds. Prints each run with
the load average beside it, then the minimum and the median of each side, and the ratios
Python / Rust.

    python3 bench/python_airfoil.py [--ranks 1 2] [--iters 200] [--pairs 3] [--mesh grid.h5]
                                    [--cache-dir DIR]

PYTHON picks the interpreter that runs the example (the one the op2 package is installed in).
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMING = re.compile(r"timing: ([0-9.]+) s total")
RMS = re.compile(r"final rms (\S+) after")
# Settings both sides share (printed); the ones the bench sets itself are removed from the
# caller's environment first.
SHARED = ("OP2_THREADS", "OP2_SIMD", "OP2_CC", "OP2_CFLAGS", "OP2_CACHE_MODE")
OWN = ("OP2_CACHE_DIR", "OP2_CACHE_REPORT", "OP2_VERBOSE")


def load():
    return open("/proc/loadavg").read().split()[0]


def cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


class Runner:
    """Runs one side's command with the bench's environment; keeps the keys each run used."""

    def __init__(self, cache_dir, report_dir):
        self.cache_dir = cache_dir
        self.report = os.path.join(report_dir, "report.json")
        self.env = {k: v for k, v in os.environ.items() if k not in OWN}
        self.env["OP2_CACHE_DIR"] = cache_dir
        self.env["OP2_CACHE_REPORT"] = self.report

    def run(self, cmd, iters, verbose=False):
        """(wall s/iteration, final rms, CPU s of the whole job, keys used) of one run."""
        env = dict(self.env, **({"OP2_VERBOSE": "1"} if verbose else {}))
        if os.path.exists(self.report):
            os.remove(self.report)
        c0 = cpu()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        c1 = cpu()
        t, rms = TIMING.search(r.stdout), RMS.search(r.stdout)
        if r.returncode != 0 or not t or not rms:
            sys.exit(f"python_airfoil: {' '.join(cmd)} failed ({r.returncode}):\n"
                     f"{r.stdout}\n{r.stderr}")
        if verbose:  # the variant choices measured in this run (OP2_VERBOSE), rank 0's
            for line in r.stderr.splitlines():
                if line.startswith("op2: rank 0: kernel") or " thread" in line:
                    print(f"  {line}", flush=True)
        try:
            with open(self.report) as f:
                keys = frozenset(json.load(f)["used_entries"])
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"python_airfoil: {' '.join(cmd)} wrote no readable cache report "
                     f"{self.report}: {e}")
        return float(t.group(1)) / iters, rms.group(1), c1 - c0, keys

    def describe(self, key):
        """`key kernel: generated path; variant` of one entry of the bench's cache."""
        base = os.path.join(self.cache_dir, key[:2], key[2:])
        try:
            with open(base + ".meta") as f:
                meta = json.load(f)
            kernel = meta.get("kernel", "?")
            path = re.search(r"^path (.*)$", meta.get("key_text", ""), re.M)
            path = path.group(1) if path else "scalar"
        except (OSError, ValueError):
            kernel, path = "?", "?"
        try:
            with open(base + ".choice") as f:
                variant = "runs " + f.readline().strip()
        except OSError:
            variant = ("one loop, nothing to choose" if path.startswith("scalar") else
                       "no recorded choice: runs simd (OP2_SIMD=on, or too few elements to time)")
        return f"{key}  {kernel:10s} {path}; {variant}"


def same_keys(n, side_keys, runner):
    """Print each side's keys; exit loudly if the sides ran different entries."""
    rust, python = side_keys["rust"], side_keys["python"]
    print(f"{n} rank(s): cache entries run (key, kernel, generated path; variant):", flush=True)
    for key in sorted(rust | python):
        who = "both" if key in rust and key in python else ("rust" if key in rust else "python")
        print(f"  {who:6s} {runner.describe(key)}", flush=True)
    if rust != python:
        sys.exit(f"python_airfoil: !!! at {n} rank(s) the Rust and Python airfoils ran "
                 f"DIFFERENT cache entries (rust only: {sorted(rust - python)}, python only: "
                 f"{sorted(python - rust)}): they would time different compiled loops !!!")


def bench(n, a, runner, cmds):
    """Warm-up, baseline and the interleaved pairs at `n` ranks; prints the summary lines."""
    side_keys = {}
    for side, c in cmds.items():  # warm-up: Rust compiles and measures, Python hits
        print(f"{n} rank(s) warm-up {side}:", flush=True)
        side_keys[side] = runner.run(c + ["--iters", "2"], 2, verbose=True)[3]
    same_keys(n, side_keys, runner)
    base = {}
    for side, c in cmds.items():
        _, _, base[side], keys = runner.run(c + ["--iters", "2"], 2)
        check_run(n, side, keys, side_keys[side])
    runs = {side: ([], []) for side in cmds}
    for i in range(a.pairs):
        for side, c in cmds.items():
            s, rms, job, keys = runner.run(c + ["--iters", str(a.iters)], a.iters)
            check_run(n, side, keys, side_keys[side])
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
    # Each pair's two runs are neighbours in time: their ratio cancels slow drifts of the
    # machine that the medians of each side keep.
    pairs = [(p / r, pc / rc) for r, rc, p, pc in zip(*runs["rust"], *runs["python"])]
    print(f"{n} rank(s), median of the {a.pairs} pairs' ratios: python/rust "
          f"{statistics.median(w for w, _ in pairs):.3f} "
          f"(cpu {statistics.median(c for _, c in pairs):.3f})", flush=True)


def check_run(n, side, keys, warm):
    if keys != warm:
        sys.exit(f"python_airfoil: !!! a {side} run at {n} rank(s) ran cache entries "
                 f"{sorted(keys)}, not its warm-up's {sorted(warm)} !!!")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--mesh", default=os.path.join(ROOT, "target", "bench", "new_grid.h5"))
    p.add_argument("--cache-dir", help="kernel cache both sides use, kept (default: a fresh "
                   "temporary one, removed at the end)")
    a = p.parse_args()
    if a.iters <= 2:
        sys.exit("python_airfoil: --iters must exceed the 2 iterations of the baseline run")
    py = os.environ.get("PYTHON", "python3")
    rust = os.path.join(ROOT, "target", "release", "airfoil")
    if not os.path.exists(a.mesh):
        os.makedirs(os.path.dirname(a.mesh), exist_ok=True)
        subprocess.run([os.path.join(ROOT, "target", "release", "op2"), "mesh", "convert",
                        "--naca", "400", "600", "-o", a.mesh], check=True)
    cache_dir = a.cache_dir or tempfile.mkdtemp(prefix="op2-bench-airfoil-")
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    report_dir = tempfile.mkdtemp(prefix="op2-bench-airfoil-report-")
    runner = Runner(cache_dir, report_dir)
    shared = ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in SHARED)
    print(f"python_airfoil: both sides: OP2_CACHE_DIR={cache_dir}, {shared}", flush=True)
    try:
        for n in a.ranks:
            mpi = ["mpiexec", "-n", str(n)]
            cmds = {
                "rust": mpi + [rust, "--mesh-h5", a.mesh, "--progress", "0"],
                "python": mpi + [py, "python/examples/airfoil.py", "--mesh-h5", a.mesh],
            }
            bench(n, a, runner, cmds)
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
        if not a.cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
