#!/usr/bin/env python3
"""Independent checks of op2's HDF5 mesh files with h5py (its own HDF5 library).

  check_h5.py check new_grid.dat grid.h5   grid.h5 holds the Airfoil mesh of new_grid.dat in
                                           OP2's layout (names, shapes, types, attributes,
                                           values, constants); prints "h5 layout ok: ..."
  check_h5.py write new_grid.dat grid.h5   write OP2's layout from new_grid.dat as OP2's
                                           convert_mesh does (not with op2), for op2 to read

Used by tests/mesh_hdf5.rs; h5py is installed by scripts/setup.sh.
"""
import math
import sys

import h5py
import numpy as np


def read_ascii(path):
    with open(path) as f:
        nnode, ncell, nedge, nbedge = (int(v) for v in f.readline().split())
        rows = lambda n: np.array([f.readline().split() for _ in range(n)], dtype=float)
        x = rows(nnode)
        cell = rows(ncell).astype(np.int32)
        e = rows(nedge).astype(np.int32)
        b = rows(nbedge).astype(np.int32)
    return {
        "sets": {"nodes": nnode, "edges": nedge, "bedges": nbedge, "cells": ncell},
        "maps": {
            "pedge": e[:, 0:2],
            "pecell": e[:, 2:4],
            "pbedge": b[:, 0:2],
            "pbecell": b[:, 2:3],
            "pcell": cell,
        },
        "dats": {"p_x": x, "p_bound": b[:, 3:4]},
    }


def constants():
    # As OP2's convert_mesh: single-precision literals, widened.
    f32 = lambda v: float(np.float32(v))
    gam = f32(1.4)
    gm1 = gam - 1.0
    mach = f32(0.4)
    u = math.sqrt(gam) * mach
    e = 1.0 / gm1 + 0.5 * u * u
    return {
        "gam": [gam], "gm1": [gm1], "cfl": [f32(0.9)], "eps": [f32(0.05)], "mach": [mach],
        "alpha": [float(np.float32(3.0) * np.arctan(np.float32(1.0)) / np.float32(45.0))],
        "qinf": [1.0, u, 0.0, e],
    }


def type_attr(d):
    t = d.attrs["type"]
    return (t.decode() if isinstance(t, bytes) else str(t)).rstrip("\0")


def check(ascii_path, h5_path):
    m = read_ascii(ascii_path)
    problems = []
    with h5py.File(h5_path, "r") as f:
        for s, n in m["sets"].items():
            d = f[s]
            if d.shape != (1,) or d.dtype != np.int32 or int(d[0]) != n:
                problems.append(f"set {s}: {d.shape} {d.dtype} {d[()]}, want [{n}] int32")
        for name, want in list(m["maps"].items()) + list(m["dats"].items()):
            d = f[name]
            ok = (d.shape == want.shape and int(d.attrs["size"][0]) == want.shape[0]
                  and int(d.attrs["dim"][0]) == want.shape[1])
            kind = "double" if name == "p_x" else "int"
            ok = ok and type_attr(d) == kind and d.dtype == (np.float64 if kind == "double" else np.int32)
            ok = ok and np.array_equal(d[()], want.astype(d.dtype))
            if not ok:
                problems.append(f"{name}: shape {d.shape} {d.dtype}, attrs {dict(d.attrs)}")
        ncell = m["sets"]["cells"]
        for name, dim in [("p_q", 4), ("p_qold", 4), ("p_adt", 1), ("p_res", 4)]:
            d = f[name]
            if d.shape != (ncell, dim) or d.dtype != np.float64:
                problems.append(f"{name}: shape {d.shape} {d.dtype}")
        for name, want in constants().items():
            d = f[name]
            if list(d[()]) != want or int(d.attrs["dim"][0]) != len(want) or type_attr(d) != "double":
                problems.append(f"constant {name}: {list(d[()])}, want {want}")
        if not np.array_equal(f["p_q"][()], np.tile(constants()["qinf"], (ncell, 1))):
            problems.append("p_q is not the free stream")
    if problems:
        print("h5 layout FAILED:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print(f"h5 layout ok: {len(m['sets'])} sets, {len(m['maps'])} maps, 6 dats, 7 constants")


def write(ascii_path, h5_path):
    m = read_ascii(ascii_path)
    ncell = m["sets"]["cells"]
    with h5py.File(h5_path, "w") as f:
        for s, n in m["sets"].items():
            f.create_dataset(s, data=np.array([n], dtype=np.int32))

        def rows(name, a, kind):
            d = f.create_dataset(name, data=a)
            d.attrs.create("size", np.array([a.shape[0]], dtype=np.int32))
            d.attrs.create("dim", np.array([a.shape[1]], dtype=np.int32))
            # OP2: a C string of 10 bytes for maps, of the type's length for dats.
            n = 10 if kind == "int" and name.startswith("p") and name != "p_bound" else len(kind)
            d.attrs.create("type", np.bytes_(kind), dtype=h5py.string_dtype("ascii", n))

        for name, a in m["maps"].items():
            rows(name, a.astype(np.int32), "int")
        rows("p_bound", m["dats"]["p_bound"].astype(np.int32), "int")
        rows("p_x", m["dats"]["p_x"].astype(np.float64), "double")
        q = np.tile(np.array(constants()["qinf"]), (ncell, 1))
        rows("p_q", q, "double")
        for name, dim in [("p_qold", 4), ("p_adt", 1), ("p_res", 4)]:
            rows(name, np.zeros((ncell, dim)), "double")
        for name, v in constants().items():
            d = f.create_dataset(name, data=np.array(v, dtype=np.float64))
            d.attrs.create("dim", np.array([len(v)], dtype=np.int32))
            d.attrs.create("type", np.bytes_("double"), dtype=h5py.string_dtype("ascii", 6))
    print(f"wrote {h5_path} with h5py")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("check", "write"):
        sys.exit(__doc__)
    {"check": check, "write": write}[sys.argv[1]](sys.argv[2], sys.argv[3])
