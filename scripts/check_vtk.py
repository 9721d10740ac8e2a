#!/usr/bin/env python3
"""Read a .vtu (with meshio) or a .pvtu (its XML index with the standard library, each piece
with meshio) written by op2 and print one JSON summary, independent of op2's own code:

  {"pieces": P, "cells": C, "points": unique points, "area": total cell area,
   "cell_fields": {name: sum}, "point_fields": {name: {"sum": .., "min": .., "max": ..}},
   "dot": {"A*B": sum over unique points of A*B} for every pair of point fields}

Points shared by several pieces are merged by their coordinates; the script fails if their
values differ, or if a piece lacks an array the index declares. Cell areas: shoelace formula.
usage: check_vtk.py FILE
"""
import itertools
import json
import os
import sys
import xml.etree.ElementTree as ET

import meshio
import numpy


def pieces(path):
    if not path.endswith(".pvtu"):
        return [path], None
    root = ET.parse(path).getroot()
    assert root.get("type") == "PUnstructuredGrid", root.get("type")
    grid = root.find("PUnstructuredGrid")
    declared = {
        "point": [a.get("Name") for a in grid.find("PPointData")],
        "cell": [a.get("Name") for a in grid.find("PCellData")],
    }
    src = [os.path.join(os.path.dirname(path), p.get("Source")) for p in grid.findall("Piece")]
    assert src, "no pieces"
    return src, declared


def main(path):
    files, declared = pieces(path)
    cells = 0
    area = 0.0
    cell_sums = {}
    points = {}  # rounded coordinates -> {field: value}
    for f in files:
        m = meshio.read(f)
        if declared is not None:
            for name in declared["point"]:
                assert name in m.point_data, f"{f}: point array {name} missing"
            for name in declared["cell"]:
                assert name in m.cell_data, f"{f}: cell array {name} missing"
        for block in m.cells:
            for c in block.data:
                cells += 1
                poly = [m.points[i] for i in c]
                a = 0.0
                for p, q in zip(poly, poly[1:] + poly[:1]):
                    a += p[0] * q[1] - q[0] * p[1]
                area += abs(a) / 2
        for name, blocks in m.cell_data.items():
            cell_sums[name] = cell_sums.get(name, 0.0) + float(sum(numpy.sum(b) for b in blocks))
        # One column per component: "name" for scalars, "name[k]" for vectors.
        cols = {}
        for name, a in m.point_data.items():
            a = numpy.asarray(a).reshape(len(m.points), -1)
            for k in range(a.shape[1]):
                cols[name if a.shape[1] == 1 else f"{name}[{k}]"] = a[:, k]
        for i, p in enumerate(m.points):
            key = tuple(round(float(v), 12) for v in p)
            vals = {name: float(a[i]) for name, a in cols.items()}
            old = points.setdefault(key, vals)
            for name, v in vals.items():
                assert abs(old[name] - v) <= 1e-14 * max(1.0, abs(v)), f"{name} differs at {key}"
    names = sorted(next(iter(points.values())).keys()) if points else []
    out = {
        "pieces": len(files),
        "cells": cells,
        "points": len(points),
        "area": area,
        "cell_fields": cell_sums,
        "point_fields": {
            n: {
                "sum": sum(v[n] for v in points.values()),
                "min": min(v[n] for v in points.values()),
                "max": max(v[n] for v in points.values()),
            }
            for n in names
        },
        "dot": {
            f"{a}*{b}": sum(v[a] * v[b] for v in points.values())
            for a, b in itertools.combinations(names, 2)
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
