"""The cost of a par_loop on a class-cache hit, from Python (issue #26's speed goal: at most
2 us). A 1-element direct loop, against a Python call of an empty function with the same
arguments; thread CPU time per call, the best of several repeats.

    python3 python/bench_parloop.py
"""

import time

import numpy as np

import op2


def per_call(f, n=100_000, repeats=7):
    best = float("inf")
    for _ in range(repeats):
        t = time.thread_time_ns()
        for _ in range(n):
            f()
        best = min(best, (time.thread_time_ns() - t) / n)
    return best


def main():
    s = op2.Set(1, "one")
    x = op2.Dat(s, np.zeros(1))
    k = op2.Kernel("static void bump(double *x) { x[0] += 1.0; }", "bump")
    arg = x(op2.RW)
    op2.par_loop(k, s, arg)  # the miss: compile (or disk hit), plan

    def empty(*a):
        pass

    par_loop = op2.par_loop
    rw = op2.RW
    t_empty = per_call(lambda: empty(k, s, arg))
    t_hit = per_call(lambda: par_loop(k, s, arg))
    t_hit_arg = per_call(lambda: par_loop(k, s, x(rw)))
    calls = 1 + 2 * 7 * 100_000
    assert x.data_ro[0] == calls, (x.data_ro[0], calls)
    print(f"empty Python call (3 args):           {t_empty:7.0f} ns")
    print(f"par_loop hit, argument made once:     {t_hit:7.0f} ns")
    print(f"par_loop hit, x(op2.RW) in the call:  {t_hit_arg:7.0f} ns")


if __name__ == "__main__":
    main()
