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
    # Through a Map (the argument made in the call, PyOP2's usual form): one whose values
    # were never taken, and one whose values were written once (a replaced core Map).
    cells, nodes = op2.Set(1, "cell"), op2.Set(2, "nodes")
    xn, y = op2.Dat(nodes, np.array([1.0, 2.0])), op2.Dat(cells, np.zeros(1))
    get = op2.Kernel("static void get(double *y, const double *x) { y[0] = x[0]; }", "get")
    maps = {"never taken": op2.Map(cells, nodes, 1, [0])}
    written = op2.Map(cells, nodes, 1, [0])
    try:
        written.values[0] = 1
        maps["written once"] = written
    except ValueError:
        pass  # read-only values (before writable Map.values)
    for what, m in maps.items():
        op2.par_loop(get, cells, y(op2.WRITE), xn(op2.READ, m))
        t = per_call(lambda: par_loop(get, cells, y(op2.WRITE), xn(op2.READ, m)))
        assert y.data_ro[0] == m.values[0, 0] + 1.0
        print(f"par_loop hit, x(READ, m), {what + ':':13s} {t:7.0f} ns")


if __name__ == "__main__":
    main()
