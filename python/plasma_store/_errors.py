"""The exceptions of plasma_store.

Every exception raised for the store's sake subclasses :class:`PlasmaError`,
and carries the name pyarrow.plasma used (``PlasmaObjectExists``,
``PlasmaObjectNotFound``, ``PlasmaStoreFull``). Which error becomes which
exception is decided in the Rust extension.

When pyarrow has been imported before plasma_store, :class:`PlasmaError`
also subclasses ``pyarrow.lib.ArrowException`` (and ``PlasmaStoreFull``
``pyarrow.lib.ArrowMemoryError``), so code written for pyarrow.plasma that
catches pyarrow's classes keeps catching ours. plasma_store never imports
pyarrow itself.
"""

from __future__ import annotations

import sys

__all__ = [
    "PlasmaError",
    "PlasmaObjectExists",
    "PlasmaObjectNotFound",
    "PlasmaStoreFull",
    "PlasmaObjectAlreadySealed",
    "PlasmaConnectionError",
    "PlasmaFormatError",
]


def _pyarrow_class(name: str) -> tuple[type, ...]:
    """pyarrow.lib's exception class ``name``, if pyarrow is loaded."""
    lib = sys.modules.get("pyarrow.lib")
    cls = getattr(lib, name, None) if lib is not None else None
    return (cls,) if isinstance(cls, type) and issubclass(cls, Exception) else ()


class PlasmaError(*_pyarrow_class("ArrowException"), Exception):  # type: ignore[misc]
    """Base class of every error plasma_store raises about the store."""


class PlasmaObjectExists(PlasmaError):
    """An object with this id already exists in the store (sealed or not)."""


class PlasmaObjectNotFound(PlasmaError):
    """The object is not in the store, or not sealed, or not this client's
    to seal or abort."""


class PlasmaStoreFull(PlasmaError, *_pyarrow_class("ArrowMemoryError"), MemoryError):  # type: ignore[misc]
    """The store cannot make room for the object, even after evicting
    everything it may evict (or it refused an output memory quota)."""


class PlasmaObjectAlreadySealed(PlasmaError):
    """The object was sealed already (a second seal, or an abort after the
    seal)."""


class PlasmaConnectionError(PlasmaError, ConnectionError):
    """The store cannot be reached, or went away. Also an ``OSError``
    (``IOError``), as pyarrow.plasma's connection failures were."""


class PlasmaFormatError(PlasmaError, ValueError):
    """The object was not written by ``put`` (its metadata is not the value
    format's tag): read it with ``get_buffers`` instead."""
