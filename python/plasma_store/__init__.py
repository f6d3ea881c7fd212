"""plasma_store: a shared-memory object store for one machine, speaking
Arrow Plasma 11's protocol.

- pyarrow.plasma's client API: :func:`connect`, :class:`ObjectID`,
  :class:`PlasmaClient` (``create``/``seal``, ``get_buffers``, ``put``/``get``,
  notifications, ...), zero-copy :class:`PlasmaBuffer`\\ s;
- Ray's asyncio API: ``from plasma_store import async_api``;
- the daemon: the ``plasma-store`` command, and :func:`start_plasma_store`.

Works with our store and with Arrow Plasma 11's ``plasma-store-server``.
"""

from __future__ import annotations

from ._errors import (
    PlasmaConnectionError,
    PlasmaError,
    PlasmaFormatError,
    PlasmaObjectAlreadySealed,
    PlasmaObjectExists,
    PlasmaObjectNotFound,
    PlasmaStoreFull,
)
from ._native import ObjectID, PlasmaBuffer, __version__
from ._client import ObjectNotAvailable, PlasmaClient, connect
from ._daemon import start_plasma_store, store_command

__all__ = [
    "ObjectID",
    "ObjectNotAvailable",
    "PlasmaBuffer",
    "PlasmaClient",
    "PlasmaConnectionError",
    "PlasmaError",
    "PlasmaFormatError",
    "PlasmaObjectAlreadySealed",
    "PlasmaObjectExists",
    "PlasmaObjectNotFound",
    "PlasmaStoreFull",
    "__version__",
    "connect",
    "start_plasma_store",
    "store_command",
]
