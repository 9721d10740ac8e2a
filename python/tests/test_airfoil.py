"""Airfoil from Python (python/examples/airfoil.py) against the Rust ``airfoil`` binary: the
same small HDF5 mesh, the same rank count, the same final rms to the last digit. Also the mesh
reader's objects (sets, maps, dats with halos) and its errors on every rank."""

import importlib.util
import json
import os
import sys
import pathlib
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from mpi4py import MPI

import op2
import op2.mesh
from _jobs import env_outside_this_job

comm = MPI.COMM_WORLD
ROOT = pathlib.Path(__file__).resolve().parents[2]
AIRFOIL = pathlib.Path(os.environ.get("OP2_AIRFOIL", ROOT / "target" / "release" / "airfoil"))
ITERS = 12


@pytest.fixture(scope="module")
def mesh_file():
    """A 40 x 24 NACA0012 mesh in OP2's HDF5 layout, written by rank 0 for every rank."""
    d = tempfile.mkdtemp(prefix="op2-airfoil-py-") if comm.rank == 0 else None
    d = comm.bcast(d, root=0)
    path = os.path.join(d, "grid.h5")
    err = None
    if comm.rank == 0:
        try:
            op2.mesh.write_naca0012_h5(path, 40, 24)
        except Exception as e:  # every rank must learn of it, not wait at the barrier
            err = repr(e)
    err = comm.bcast(err, root=0)
    assert err is None, err
    yield path
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(d, ignore_errors=True)


def load_example():
    spec = importlib.util.spec_from_file_location(
        "airfoil_example", ROOT / "python" / "examples" / "airfoil.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def job_on_rank0(cmd, extra_env=None):
    """Rank 0 runs `cmd` as a separate MPI job (the environment of this job's process manager
    removed, `extra_env` added); every rank gets its stdout, or the assertion naming why not."""
    out = None
    if comm.rank == 0:
        env = env_outside_this_job()
        env.update(extra_env or {})
        try:  # any failure goes to every rank (the bcast below), never a rank left waiting
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                               cwd=ROOT)
            out = (True, r.stdout) if r.returncode == 0 else (False, f"{r.stdout}\n{r.stderr}")
        except Exception as e:
            out = (False, repr(e))
    ok, text = comm.bcast(out, root=0)
    assert ok, f"{' '.join(map(str, cmd))} failed: {text}"
    return text


def rust_rms(path, nranks):
    """The Rust binary's final rms on `nranks` ranks, on every rank."""
    text = job_on_rank0(["mpiexec", "-n", str(nranks), str(AIRFOIL), "--mesh-h5", path,
                         "--iters", str(ITERS), "--progress", "0"])
    m = re.search(r"airfoil: final rms (\S+) after", text)
    assert m, f"the Rust airfoil printed no final rms: {text}"
    return float(m.group(1))


def used_entries(cmd):
    """The disk-cache keys a fresh job of `cmd` runs (its OP2_CACHE_REPORT's `used_entries`),
    with a cache directory of its own: keys are content-addressed, so two programs get the
    same keys exactly when they generate the same loop source with the same flags."""
    d = tempfile.mkdtemp(prefix="op2-airfoil-keys-") if comm.rank == 0 else None
    d = comm.bcast(d, root=0)
    try:
        report = os.path.join(d, "report.json")
        job_on_rank0(cmd, {"OP2_CACHE_DIR": os.path.join(d, "cache"),
                           "OP2_CACHE_REPORT": report})
        keys = None
        if comm.rank == 0:
            with open(report) as f:
                keys = sorted(json.load(f)["used_entries"])
        return comm.bcast(keys, root=0)
    finally:
        comm.Barrier()
        if comm.rank == 0:
            shutil.rmtree(d, ignore_errors=True)


def test_mesh_objects_are_the_packages(mesh_file):
    m = op2.mesh.read_airfoil_h5(mesh_file)
    cells, nodes = m.sets["cells"], m.sets["nodes"]
    assert cells.global_size == 3 * 40 * 24  # naca0012(i, j): 3 i j cells (400 x 600: 720,000)
    assert comm.allreduce(cells.size) == cells.global_size
    assert m.maps["pcell"].iterset is cells and m.maps["pcell"].toset is nodes
    assert m.maps["pcell"].arity == 4
    assert m.dats["p_q"].dataset.set is cells and m.dats["p_q"].data_ro.shape == (cells.size, 4)
    assert m.dats["p_bound"].dtype == np.int32
    assert np.array_equal(m.constants["qinf"][0], 1.0)
    if comm.size > 1:  # distributed with halos: the maps reach halo copies
        assert nodes.total_size > nodes.size


def test_mesh_errors_on_every_rank(mesh_file):
    with pytest.raises(op2.pyop2.exceptions.Op2ValueError, match="nosuchmap"):
        op2.mesh.read_h5(mesh_file, sets=["nodes", "cells"],
                         maps=[("nosuchmap", "cells", "nodes", 4)])
    with pytest.raises(Exception, match="partitioner"):
        op2.mesh.read_airfoil_h5(mesh_file, partitioner="nope")


@pytest.mark.skipif(not AIRFOIL.exists(), reason=f"the Rust airfoil is not built ({AIRFOIL}): "
                    "cargo build --release --bins")
def test_python_airfoil_rms_equals_rust(mesh_file):
    rms, passed = load_example().solve(mesh_file, iters=ITERS)
    assert passed  # not the standard mesh: no reference check, as the Rust binary
    assert np.isfinite(rms) and rms > 0
    assert rms == rust_rms(mesh_file, comm.size)


@pytest.mark.skipif(not AIRFOIL.exists(), reason=f"the Rust airfoil is not built ({AIRFOIL}): "
                    "cargo build --release --bins")
def test_python_airfoil_runs_the_rust_airfoils_cache_entries(mesh_file):
    """The same kernel text and arguments: the same five generated loops, hence the same disk
    entries and recorded variant choices (what bench/python_airfoil.py compares)."""
    n = str(comm.size)
    rust = used_entries(["mpiexec", "-n", n, str(AIRFOIL), "--mesh-h5", mesh_file,
                         "--iters", "2", "--progress", "0"])
    python = used_entries(["mpiexec", "-n", n, sys.executable,
                           str(ROOT / "python" / "examples" / "airfoil.py"),
                           "--mesh-h5", mesh_file, "--iters", "2"])
    assert len(rust) == 5, rust
    assert python == rust
