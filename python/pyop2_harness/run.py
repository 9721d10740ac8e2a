"""Run Firedrake's tests/pyop2 files against op2 and print the table (file, passed, failed,
skipped with reasons) as Markdown.

    python3 python/pyop2_harness/run.py [--np N] [FILE ...]

The test files stay outside this repository: they are read from $OP2_PYOP2_TESTS (a folder
holding test_*.py from Firedrake's tests/pyop2). Without it the run says so loudly and exits 0
having run nothing (CI reaches PyPI only, and Firedrake's sdist on PyPI does not ship
tests/pyop2). Each file runs in a fresh folder with this conftest.py beside it, under
``mpiexec -n N`` when N > 1, with a timeout."""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

FILES = ["test_caching.py", "test_direct_loop.py", "test_indirect_loop.py",
         "test_global_reduction.py", "test_globals.py", "test_subset.py", "test_vector_map.py",
         "test_iteration_space_dats.py", "test_extrusion.py", "test_dats.py", "test_api.py",
         "test_matrices.py", "test_mpi.py"]
HERE = os.path.dirname(os.path.abspath(__file__))


def run_file(src, name, np_, timeout):
    work = tempfile.mkdtemp(prefix="op2-pyop2-")
    shutil.copy(os.path.join(src, name), work)
    shutil.copy(os.path.join(HERE, "conftest.py"), work)
    xml = os.path.join(work, "out.xml")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name]
    if np_ > 1:
        # Rank 0 writes the report.
        cmd = ["mpiexec", "-n", str(np_), sys.executable, "-c",
               "import sys, pytest; from mpi4py import MPI; "
               f"a = ['-q', '-p', 'no:cacheprovider', '{name}'] + "
               f"(['--junitxml={xml}'] if MPI.COMM_WORLD.rank == 0 else []); sys.exit(pytest.main(a))"]
    else:
        cmd += [f"--junitxml={xml}"]
    env = dict(os.environ, OP2_CACHE_DIR=os.path.join(work, "cache"))
    try:
        p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
        out = p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return None, f"timed out after {timeout} s", str(e.stdout)
    if not os.path.exists(xml):
        return None, "no report (collection failed)", out
    return ET.parse(xml).getroot(), "", out


def _reason(msg):
    """A failure message without addresses and object details, to count alike failures."""
    import re
    msg = re.sub(r"0x[0-9a-f]+", "", msg)
    msg = re.sub(r"^failed on setup with ", "(setup) ", msg)
    return msg.replace("|", "/")[:100]


def summarise(root):
    passed, failed, skipped = 0, [], collections.Counter()
    for case in root.iter("testcase"):
        f = case.find("failure") if case.find("failure") is not None else case.find("error")
        s = case.find("skipped")
        if f is not None:
            msg = (f.get("message") or "error").splitlines()[0][:160]
            failed.append((case.get("name"), msg))
        elif s is not None:
            skipped[(s.get("message") or "").replace("\n", " ")[:110]] += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--np", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--details", action="store_true", help="count the failures by message")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    src = os.environ.get("OP2_PYOP2_TESTS")
    if not src or not os.path.isdir(src):
        print("#" * 78)
        print("# SKIPPED: Firedrake's tests/pyop2 files were not found. Set OP2_PYOP2_TESTS to a")
        print("# folder holding them (e.g. a checkout's tests/pyop2); they are not in this")
        print("# repository, and Firedrake's PyPI sdist does not ship them.")
        print("#" * 78)
        return 0
    print(f"| file (mpiexec -n {a.np}) | passed | failed | skipped (reason: count) |")
    print("|---|---|---|---|")
    bad = 0
    for name in a.files or FILES:
        if not os.path.exists(os.path.join(src, name)):
            print(f"| {name} | - | - | file absent from {src} |")
            continue
        root, why, out = run_file(src, name, a.np, a.timeout)
        if root is None:
            last = out.strip().splitlines()[-3:] if out else []
            print(f"| {name} | 0 | all | {why}: {' / '.join(last)[:200]} |")
            bad += 1
            continue
        passed, failed, skipped = summarise(root)
        reasons = "; ".join(f"{r}: {n}" for r, n in skipped.most_common())
        print(f"| {name} | {passed} | {len(failed)} | {reasons} |")
        if a.details:
            why = collections.Counter(_reason(m) for _, m in failed)
            for m, n in why.most_common():
                print(f"|   | | {n} | {m} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
