"""Runs pyarrow 11's own, unmodified test_plasma.py against our daemon.

pyarrow's harness starts every store through
``pyarrow.plasma.start_plasma_store``, which runs the wheel's bundled
``plasma-store-server``. This conftest replaces that one function with a
twin that runs the binary named by the environment variable
``PLASMA_STORE_BIN`` instead, keeping everything the suite can observe the
same: the ``-s/-m/-d/-h/-e`` command line, the deprecation warning, the
0.1 s "still alive?" check, the ``(socket path, Popen)`` it yields, and the
kill plus temp-dir removal at exit.

Use: put this file (as conftest.py) and a copy of
``<site-packages>/pyarrow/tests/test_plasma.py`` into one directory, then
``PLASMA_STORE_BIN=/path/to/daemon python -m pytest -q -p no:cacheprovider
test_plasma.py``. If ``PLASMA_E2E_STARTS`` names a file, each store's
command line is appended to it. ``PLASMA_E2E_STORE_ARGS`` adds daemon flags
to every store (whitespace-separated; ``{tmpdir}`` stands for the store's
own temp dir, e.g. ``--spill-dir {tmpdir}/spill``), except to the stores
pyarrow starts with an external store, which excludes spilling.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import warnings

import pyarrow.plasma

STORE_BIN = os.environ.get("PLASMA_STORE_BIN")
# Optional: a file that gets one line per store started, so the caller can
# check that the suite really ran against STORE_BIN.
STARTS_LOG = os.environ.get("PLASMA_E2E_STARTS")
# Optional: more flags for our daemon (see the module doc).
EXTRA_ARGS = os.environ.get("PLASMA_E2E_STORE_ARGS", "").split()
if not STORE_BIN or not os.access(STORE_BIN, os.X_OK):
    raise RuntimeError(
        "PLASMA_STORE_BIN must name the store executable to test "
        "(got %r)" % (STORE_BIN,))


@contextlib.contextmanager
def start_plasma_store(plasma_store_memory,
                       use_valgrind=False, use_profiler=False,
                       plasma_directory=None, use_hugepages=False,
                       external_store=None):
    """Starts PLASMA_STORE_BIN the way pyarrow starts its own store."""
    warnings.warn(
        "Plasma is deprecated since Arrow 10.0.0. It will be removed in "
        "12.0.0 or so.",
        DeprecationWarning)
    if use_valgrind and use_profiler:
        raise Exception("Cannot use valgrind and profiler at the same time.")

    tmpdir = tempfile.mkdtemp(prefix="test_plasma-")
    proc = None
    try:
        socket_path = os.path.join(tmpdir, "plasma.sock")
        command = [STORE_BIN, "-s", socket_path,
                   "-m", str(plasma_store_memory)]
        if plasma_directory:
            command += ["-d", plasma_directory]
        if use_hugepages:
            command += ["-h"]
        if external_store is not None:
            command += ["-e", external_store]
        else:
            command += [a.replace("{tmpdir}", tmpdir) for a in EXTRA_ARGS]
        if use_valgrind:
            command = ["valgrind", "--track-origins=yes",
                       "--leak-check=full", "--error-exitcode=1"] + command
        elif use_profiler:
            command = ["valgrind", "--tool=callgrind"] + command
        if STARTS_LOG:
            with open(STARTS_LOG, "a") as log:
                log.write(" ".join(command) + "\n")
        proc = subprocess.Popen(command)
        time.sleep(1.0 if (use_valgrind or use_profiler) else 0.1)
        rc = proc.poll()
        if rc is not None:
            raise RuntimeError(
                "plasma_store exited unexpectedly with code %d" % (rc,))
        yield socket_path, proc
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmpdir, ignore_errors=True)


pyarrow.plasma.start_plasma_store = start_plasma_store
