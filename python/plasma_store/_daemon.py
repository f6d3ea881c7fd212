"""Starting the daemon from Python: the store is inside the extension, so
``python -m plasma_store`` (and the ``plasma-store`` console script) run
the same store as the Rust binary."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

__all__ = ["start_plasma_store", "store_command"]

# How long start_plasma_store waits for the daemon's socket.
_START_PATIENCE_S = 30.0


def store_command(*args: str) -> list[str]:
    """The command line that runs the daemon with ``args`` (``-s``, ``-m``,
    ...; ``--help`` lists them), with this interpreter."""
    return [sys.executable, "-m", "plasma_store", *args]


@contextlib.contextmanager
def start_plasma_store(
    plasma_store_memory: int,
    plasma_directory: str | None = None,
    use_hugepages: bool = False,
    external_store: str | None = None,
    *,
    use_valgrind: bool = False,
    use_profiler: bool = False,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Starts a store of ``plasma_store_memory`` bytes on a fresh socket in
    a new temporary directory, as pyarrow.plasma's did, and yields
    ``(socket path, process)``; stops it (SIGKILL if still running) and
    removes the directory on exit.

    ``plasma_directory`` and ``use_hugepages`` are the daemon's ``-d`` and
    ``-h``; ``external_store`` its ``-e`` (``hashtable://NAME``).
    ``use_valgrind``/``use_profiler`` run it under valgrind (memcheck or
    callgrind). Unlike pyarrow's, it waits until the store listens (the
    process has its signal handlers by then: SIGTERM exits with status 0).
    """
    if use_valgrind and use_profiler:
        raise ValueError("use_valgrind and use_profiler are exclusive")
    tmpdir = tempfile.mkdtemp(prefix="plasma-store-")
    proc: subprocess.Popen[bytes] | None = None
    try:
        socket_path = os.path.join(tmpdir, "plasma.sock")
        args = ["-s", socket_path, "-m", str(int(plasma_store_memory))]
        if plasma_directory:
            args += ["-d", plasma_directory]
        if use_hugepages:
            args += ["-h"]
        if external_store is not None:
            args += ["-e", external_store]
        command = store_command(*args)
        if use_valgrind:
            command = ["valgrind", "--track-origins=yes", "--leak-check=full", "--error-exitcode=1", *command]
        elif use_profiler:
            command = ["valgrind", "--tool=callgrind", *command]
        proc = subprocess.Popen(command)
        deadline = time.monotonic() + _START_PATIENCE_S
        while not os.path.exists(socket_path):
            rc = proc.poll()
            if rc is not None:
                raise RuntimeError(f"plasma-store exited unexpectedly with code {rc}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"plasma-store did not listen on {socket_path} within {_START_PATIENCE_S} s")
            time.sleep(0.005)
        yield socket_path, proc
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        shutil.rmtree(tmpdir, ignore_errors=True)
