#!/usr/bin/env python3
"""Plot op2 scaling results (the JSON files written by `bash scripts/bench.sh`).

    python3 bench/plot_scaling.py RESULTS.json [MORE.json ...] [--out DIR]

Needs only Python 3 and matplotlib (`python3 -m pip install matplotlib`), so results from a
cluster can be plotted on a laptop. Several files are drawn as several series (one per file,
labelled with host, mode and date) in the same figures. Writes four PNG files into DIR (default:
the first file's folder), named after the file (one input) or `compare-*` (several):

  *-strong.png    seconds per iteration, speed-up, parallel efficiency, communication share
  *-weak.png      seconds per iteration and weak efficiency with cells per rank held fixed
  *-startup.png   time to the first loop result with a cold and a warm disk cache; compiles
                  per kernel
  *-overhead.png  Airfoil against the plain C reference, par_loop dispatch against a direct
                  call, sparsity build against matrix assembly

Error bars are the min and max over the repeats; points are medians.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def med(s):
    return s["median"]


def err(stats):
    """Asymmetric error bars (min, max) around the medians."""
    return [
        [s["median"] - s["min"] for s in stats],
        [s["max"] - s["median"] for s in stats],
    ]


def label(r, many):
    m = r["machine"]
    base = f'{m["hostname"]} ({m["cores"]} cores)'
    if many:
        base += f' {r["mode"]} {r["started"][:16]}'
    return base


def by_threads(rows):
    out = {}
    for row in rows:
        out.setdefault(row["threads"], []).append(row)
    for t in out:
        out[t].sort(key=lambda row: row["ranks"])
    return out


def strong(results, many, path):
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    max_r = 1
    for r in results:
        for t, rows in by_threads(r["strong"]).items():
            ranks = [row["ranks"] for row in rows]
            max_r = max(max_r, max(ranks))
            per = [row["seconds_per_iteration"] for row in rows]
            t1 = med(per[0]) * ranks[0]  # time on one rank (extrapolated if 1 is absent)
            name = f'{label(r, many)}, {t} thread(s)'
            cells = rows[0]["cells"]
            ax[0, 0].errorbar(ranks, [med(p) for p in per], yerr=err(per), marker="o",
                              capsize=3, label=f"{name}, {cells:,} cells")
            ax[0, 1].plot(ranks, [t1 / med(p) for p in per], marker="o", label=name)
            ax[1, 0].plot(ranks, [100 * t1 / med(p) / n for p, n in zip(per, ranks)],
                          marker="o", label=name)
            comm = [row["comm_share_percent"] for row in rows]
            ax[1, 1].errorbar(ranks, [med(c) for c in comm], yerr=err(comm), marker="o",
                              capsize=3, label=name)
    ideal = [1, max_r]
    ax[0, 1].plot(ideal, ideal, "k--", lw=1, label="ideal")
    ticks = sorted({row["ranks"] for r in results for row in r["strong"]})
    cores = min(r["machine"]["cores"] for r in results)
    for a in ax.flat:
        if cores < max_r and len(results) == 1:  # beyond this, ranks share cores
            a.axvline(cores, color="grey", ls=":", lw=1, label=f"{cores} cores")
    ax[1, 0].axhline(100, color="k", ls="--", lw=1)
    ax[0, 0].set(title="Airfoil strong scaling: time per iteration", xlabel="MPI ranks",
                 ylabel="seconds per iteration")
    ax[0, 1].set(title="speed-up over 1 rank", xlabel="MPI ranks", ylabel="speed-up")
    ax[1, 0].set(title="parallel efficiency", xlabel="MPI ranks", ylabel="efficiency (%)",
                 ylim=(0, 110))
    ax[1, 1].set(title="halo exchange + reductions share of loop time", xlabel="MPI ranks",
                 ylabel="percent of loop time")
    for a in ax.flat:
        a.grid(alpha=0.3)
        if len(ticks) <= 12:
            a.set_xticks(ticks)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def weak(results, many, path):
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in results:
        rows = sorted(r["weak"], key=lambda row: row["ranks"])
        if not rows:
            continue
        ranks = [row["ranks"] for row in rows]
        per = [row["seconds_per_iteration"] for row in rows]
        cpr = rows[0]["cells"] // rows[0]["ranks"]
        ax[0].errorbar(ranks, [med(p) for p in per], yerr=err(per), marker="o", capsize=3,
                       label=f"{label(r, many)}, ~{cpr:,} cells per rank")
        for row in rows:
            ax[0].annotate(f'{row["cells"]:,}', (row["ranks"], med(row["seconds_per_iteration"])),
                           textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax[1].plot(ranks, [100 * med(per[0]) / med(p) for p in per], marker="o",
                   label=label(r, many))
    ticks = sorted({row["ranks"] for r in results for row in r["weak"]})
    for a in ax:
        a.set_xticks(ticks)
    ax[0].set(title="Airfoil weak scaling: time per iteration (labels: total cells)",
              xlabel="MPI ranks", ylabel="seconds per iteration", ylim=(0, None))
    ax[1].axhline(100, color="k", ls="--", lw=1)
    ax[1].set(title="weak efficiency t(first) / t(N)", xlabel="MPI ranks",
              ylabel="efficiency (%)", ylim=(0, 110))
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def startup(results, many, path):
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / (2 * len(results))
    for i, r in enumerate(results):
        rows = sorted(r["startup"], key=lambda row: row["ranks"])
        ranks = [row["ranks"] for row in rows]
        for key, style in (("cold", "o-"), ("warm", "s--")):
            s = [row[f"{key}_first_result_seconds"] for row in rows]
            ax[0].errorbar(ranks, [1e3 * med(x) for x in s],
                           yerr=[[1e3 * v for v in e] for e in err(s)], fmt=style, capsize=3,
                           label=f"{label(r, many)}: {key} disk cache")
        xs = range(len(rows))
        for j, key in enumerate(("cold", "warm")):
            c = [med(row[f"compiles_per_kernel_{key}"]) for row in rows]
            off = (2 * i + j - (2 * len(results) - 1) / 2) * width
            bars = ax[1].bar([x + off for x in xs], c, width,
                             label=f"{label(r, many)}: {key} cache")
            ax[1].bar_label(bars, fmt="%.2g", fontsize=7)
        ax[1].set_xticks(list(xs), [str(n) for n in ranks])
    ax[0].set_xticks(sorted({row["ranks"] for r in results for row in r["startup"]}))
    ax[0].set(title="time to the first loop result (op2-selftest)", xlabel="MPI ranks",
              ylabel="milliseconds (log)", yscale="log")
    ax[1].set(title="compiler runs per distinct kernel (cache report)",
              xlabel="MPI ranks", ylabel="compiles per kernel", ylim=(0, 1.4))
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def overhead(results, many, path):
    fig, ax = plt.subplots(1, 3, figsize=(14, 4.4))
    n = len(results)
    width = 0.8 / n
    for i, r in enumerate(results):
        off = (i - (n - 1) / 2) * width
        b = r["baseline"]
        s = [b["c_seconds_per_iteration"], b["op2_seconds_per_iteration"]]
        bars = ax[0].bar([x + off for x in (0, 1)], [1e3 * med(x) for x in s], width,
                         yerr=[[1e3 * v for v in e] for e in err(s)], capsize=3,
                         label=f'{label(r, many)}: op2/C = {med(b["op2_over_c"]):.2f}')
        ax[0].bar_label(bars, fmt="%.2f", fontsize=7)
        d = r["dispatch"]
        s = [d["direct_call_ns"], d["par_loop_ns"]]
        bars = ax[1].bar([x + off for x in (0, 1)], [med(x) for x in s], width,
                         yerr=err(s), capsize=3,
                         label=f'{label(r, many)}: overhead {med(d["overhead_ns"]):.0f} ns')
        ax[1].bar_label(bars, fmt="%.1f", fontsize=7)
        rows = sorted(r["sparsity"], key=lambda row: (row["threads"], row["ranks"]))
        xs = [f'{row["ranks"]}r x {row["threads"]}t' for row in rows]
        for key, style in (("sparsity", "o-"), ("assembly", "s--")):
            s = [row[f"{key}_seconds"] for row in rows]
            ax[2].errorbar(xs, [1e3 * med(x) for x in s],
                           yerr=[[1e3 * v for v in e] for e in err(s)], fmt=style, capsize=3,
                           label=f"{label(r, many)}: {key}" + (" build" if key == "sparsity" else ""))
    b = results[0]["baseline"]
    ax[0].set_xticks([0, 1], ["plain C", "op2, 1 rank"])
    ax[0].set(title=f'Airfoil, {b["cells"]:,} cells: ms per iteration', ylabel="ms per iteration")
    ax[1].set_xticks([0, 1], ["direct call", "par_loop (cache hit)"])
    ax[1].set(title="loop dispatch on a 1-element set", ylabel="ns per call (log)", yscale="log")
    row = results[0]["sparsity"][0]
    ax[2].set(title=f'sparsity build vs assembly\n(P1 Poisson, {row["cells"]:,} cells, {row["nnz"]:,} nnz)',
              xlabel="ranks x threads", ylabel="milliseconds", ylim=(0, None))
    for a in ax:
        a.grid(alpha=0.3, axis="y")
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="results files (scaling-*.json)")
    ap.add_argument("--out", help="folder for the PNG files (default: the first file's)")
    a = ap.parse_args()
    results = []
    for f in a.files:
        with open(f) as fh:
            r = json.load(fh)
        if r.get("schema") != "op2-scaling/1":
            sys.exit(f"{f}: not an op2 scaling results file (schema {r.get('schema')!r})")
        results.append(r)
    out = a.out or os.path.dirname(os.path.abspath(a.files[0]))
    os.makedirs(out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(a.files[0]))[0] if len(a.files) == 1 else "compare"
    many = len(results) > 1
    for name, fn in (("strong", strong), ("weak", weak), ("startup", startup),
                     ("overhead", overhead)):
        path = os.path.join(out, f"{stem}-{name}.png")
        fn(results, many, path)
        print(f"plot_scaling: wrote {path}")


if __name__ == "__main__":
    main()
