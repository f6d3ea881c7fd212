"""``python -m plasma_store`` and the ``plasma-store`` console script: the
daemon, exactly as the Rust binary runs it (``--help`` lists the flags)."""

from __future__ import annotations

import signal
import sys

from ._native import run_store

__all__ = ["main"]


def main() -> int:
    """Runs the store with this process's arguments until SIGTERM or
    SIGINT; returns its exit status (0 after a signal, 1 after an error)."""
    # The store handles SIGINT and SIGTERM itself (and exits 0); Python's
    # own SIGINT handler would turn the stop into a KeyboardInterrupt
    # afterwards.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    return run_store(["plasma-store", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
