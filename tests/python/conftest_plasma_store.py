"""Runs pyarrow 11's own, unmodified test_plasma.py with pyarrow.plasma
replaced by our Python package, plasma_store: its client, its
start_plasma_store (our daemon, through ``python -m plasma_store``), its
exceptions.

What a pyarrow.plasma user changes, and so does this file:
- ``import pyarrow`` before ``plasma_store`` (then plasma_store's
  exceptions also subclass pyarrow's ArrowException, see
  plasma_store/_errors.py);
- ``connect(..., arrow_buffers=True)``: buffers come back as
  ``pyarrow.Buffer`` objects wrapping ours (zero-copy), which pyarrow APIs
  such as ``FixedSizeBufferWriter`` and the ipc readers insist on.

Use: put this file (as conftest.py) and a copy of
``<site-packages>/pyarrow/tests/test_plasma.py`` into one directory, put the
plasma_store package on PYTHONPATH, then ``python -m pytest -q -p
no:cacheprovider test_plasma.py`` with the pyarrow 11 venv's python.
"""

import functools
import sys

import pyarrow

import plasma_store

plasma_store.connect = functools.partial(plasma_store.connect, arrow_buffers=True)
sys.modules["pyarrow.plasma"] = plasma_store
pyarrow.plasma = plasma_store
