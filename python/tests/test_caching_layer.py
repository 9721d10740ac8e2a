"""pyop2.caching on op2's rules (rank 0 alone reads and writes the disk cache, every rank
agrees on hit or miss and on failures), op2's disk cache across two processes, and
pyop2.compilation.load. Runs on 1, 2 and 3 ranks."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest
from mpi4py import MPI

import op2
from op2.pyop2 import caching, exceptions as ex
from op2.pyop2.compilation import load
from op2.pyop2.mpi import safe_noncollective
from _jobs import env_outside_this_job

world = MPI.COMM_WORLD
rank, nranks = world.rank, world.size


@pytest.fixture
def shared_dir():
    d = tempfile.mkdtemp(prefix="op2-pycache-") if rank == 0 else None
    return world.bcast(d, root=0)


class CountingDisk(caching.DictLikeDiskAccess):
    writes = 0

    def __setitem__(self, key, value):
        CountingDisk.writes += 1
        super().__setitem__(key, value)


def test_rank_0_alone_writes_the_disk_cache(shared_dir):
    CountingDisk.writes = 0
    calls = []

    @caching.parallel_cache(make_cache=lambda: CountingDisk(shared_dir))
    def f(x, comm):
        calls.append(x)
        return {"x": x, "sum": comm.allreduce(x)}      # collective: every rank must come

    assert f(2, comm=world) == {"x": 2, "sum": 2 * nranks}
    assert f(2, comm=world) == {"x": 2, "sum": 2 * nranks}   # a hit on every rank
    assert calls == [2]
    assert CountingDisk.writes == (1 if rank == 0 else 0)
    assert sum(len(fs) for _, _, fs in os.walk(shared_dir)) == 1


def test_ranks_agree_on_a_miss_when_only_some_see_an_entry(deadline):
    # Each rank has its own folder, and only ranks other than 0 find the entry there:
    # PyOP2 (firedrake #4039) would hit on those and miss on rank 0, whose computation
    # then waits in a collective forever. op2: rank 0 decides, every rank misses together.
    mine = tempfile.mkdtemp(prefix=f"op2-pycache-{rank}-")
    key = caching.default_parallel_hashkey(7)
    if rank != 0:
        caching.DictLikeDiskAccess(mine)[key] = "stale value of another job"
    calls = []

    @caching.disk_only_cache(cachedir=mine)
    def f(x, comm):
        calls.append(x)
        return comm.allreduce(x)

    assert f(7, comm=world) == 7 * nranks
    assert calls == [7]


def test_memory_and_disk_cache_counts_and_clear(shared_dir):
    @caching.memory_and_disk_cache(cachedir=shared_dir)
    def f(x, comm):
        return [x]

    a = f(1, comm=world)
    assert f(1, comm=world) is a                         # the memory cache
    records = [c for c in caching._KNOWN_CACHES if c.func_name == f.__qualname__]
    assert [c.cache_name for c in records] == ["DEFAULT_CACHE", "DictLikeDiskAccess"]
    assert len(records[0].cache) == 1
    caching.clear_memory_cache(world)
    b = f(1, comm=world)                                 # from the disk: equal, not the same
    assert b == a and b is not a


def test_a_failure_on_one_rank_fails_every_rank(deadline, shared_dir):
    @caching.disk_only_cache(cachedir=shared_dir)
    def f(x, comm):
        if comm.rank == comm.size - 1:
            raise RuntimeError("only the last rank fails")
        return x

    with pytest.raises((RuntimeError, ex.Op2MpiError), match="only the last rank fails"):
        f(3, comm=world)
    # Nothing was stored, and every rank is still in step.
    assert world.allreduce(1) == nranks

    @caching.memory_cache(bcast=True)
    def g(x, comm):
        raise ValueError("rank 0 computes alone and fails")

    with pytest.raises(ValueError, match="rank 0 computes alone"):
        g(1, comm=world)


def test_spmd_strict_names_differing_keys(deadline):
    from op2.pyop2.configuration import configuration
    if nranks < 2:
        pytest.skip("needs 2 ranks or more")

    @caching.memory_cache()
    def f(x, comm):
        return x

    configuration["spmd_strict"] = True
    try:
        with pytest.raises(ValueError, match="Cache keys differ between ranks"):
            f(rank, comm=world)
    finally:
        configuration["spmd_strict"] = False


def test_communicators_cannot_be_hashed():
    with pytest.raises(ex.HashError):
        caching.as_hexdigest(world)


def test_load_compiles_on_rank_0_and_loads_everywhere(deadline):
    import ctypes
    code = "int twice(int x) { return 2 * x; }\n"
    lib = load(code, "c", comm=world)
    lib.twice.restype, lib.twice.argtypes = ctypes.c_int, [ctypes.c_int]
    assert lib.twice(21) == 42
    assert load(code, "c", comm=world) is lib               # the memory cache
    with pytest.raises(ex.CompilationError, match="error"):
        load("int broken( { }\n", "c", comm=world)


SCRIPT = textwrap.dedent("""
    import json, op2
    from op2.pyop2.caching import cache_counters
    s = op2.Set(3)
    x = op2.Dat(s ** 1, [1.0, 2.0, 3.0])
    op2.par_loop(op2.Kernel("static void dbl(double *x) { x[0] *= 2; }", "dbl"), s, x(op2.RW))
    assert list(x.data_ro) == [2.0, 4.0, 6.0]
    print(json.dumps(cache_counters()["disk"]))
""")


def _run_twice():
    """Rank 0: the script in two fresh processes sharing a fresh OP2_CACHE_DIR."""
    work = tempfile.mkdtemp(prefix="op2-twoproc-")
    script = os.path.join(work, "script.py")
    with open(script, "w") as fh:
        fh.write(SCRIPT)
    # Outside this MPI job: no launcher variables, so each process is a 1-rank world.
    env = env_outside_this_job(OP2_CACHE_DIR=os.path.join(work, "cache"))
    out = []
    for _ in range(2):
        p = subprocess.run([sys.executable, script], env=env, cwd=work, capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        out.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return out


def test_second_process_gets_a_disk_hit_and_compiles_nothing():
    (e1, h1, m1, c1), (e2, h2, m2, c2) = safe_noncollective(world, _run_twice)
    assert c1 >= 1 and m1 >= 1, "the first process compiles into the fresh cache"
    assert c2 == 0, "the second process compiles nothing"
    assert h2 >= 1 and m2 == 0, "the second process finds the kernel on disk"


def test_disk_entries_are_read_as_untrusted_files(tmp_path):
    """A file moved under another key's name is a miss; a link is refused, never unpickled."""
    from op2.pyop2.caching import DictLikeDiskAccess
    cache = DictLikeDiskAccess(tmp_path)
    cache["a"] = 41
    assert cache["a"] == 41
    b = cache._path("b")
    b.parent.mkdir(parents=True, exist_ok=True)
    b.write_bytes(cache._path("a").read_bytes())
    with pytest.raises(KeyError):
        cache["b"]
    c = cache._path("c")
    c.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(cache._path("a"), c)
    with pytest.raises(OSError, match="symbolic link"):
        cache["c"]
