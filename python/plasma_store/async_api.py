"""Ray's asyncio API for plasma objects: an object id as an asyncio future.

.. code-block:: python

    from plasma_store import async_api

    async def main():
        value = await async_api.as_future(object_id)  # resolves when sealed

- :func:`init` picks the store's socket (else ``$PLASMA_STORE_SOCKET``,
  else ``/tmp/plasma.sock``); every other function initialises lazily.
- :func:`as_future` resolves when anyone, in any process, seals the object.
- :func:`wait` is ``ray.wait``'s shape: ``(ready, not_ready)``.
- :func:`shutdown` cancels every pending future and closes the connections;
  a later call initialises again.

Each running event loop (asyncio's own, uvloop, loops in several threads)
gets its own connection, whose socket the loop watches with
``loop.add_reader``: futures are resolved by the loop's own reactor, with no
helper thread. Against plasma-store the store pushes each awaited object
the moment it is sealed (our protocol addition); against Arrow Plasma 11
the same works through its seal notifications. If the store dies, every
pending future fails at once with :class:`~plasma_store.PlasmaConnectionError`.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from ._client import _value_of
from ._errors import PlasmaError
from ._native import NativeWatcher, ObjectID, PlasmaBuffer

__all__ = ["init", "as_future", "wait", "shutdown", "DEFAULT_SOCKET"]

#: The socket used when neither :func:`init` nor ``$PLASMA_STORE_SOCKET``
#: names one.
DEFAULT_SOCKET = "/tmp/plasma.sock"

_lock = threading.Lock()
_socket_name: str | None = None
_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWatch] = weakref.WeakKeyDictionary()


class _Canceller:
    """A future's done callback: a cancelled future deregisters its waiter
    (and the store forgets the id once nobody waits for it)."""

    __slots__ = ("watch", "object_id")

    def __init__(self, watch: _LoopWatch, object_id: ObjectID) -> None:
        self.watch = watch
        self.object_id = object_id

    def __call__(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self.watch.cancelled(self.object_id)


class _LoopWatch:
    """One loop's connection: the Rust watcher, its descriptor in the
    loop's reactor, and the futures it resolves."""

    def __init__(self, loop: asyncio.AbstractEventLoop, socket_name: str) -> None:
        self._loop_ref = weakref.ref(loop)
        self.native = NativeWatcher(socket_name)
        self.socket_name = socket_name
        self._fd = self.native.fileno()
        self._poll_pending = False
        self._writing = False
        self.closed = False
        # One shared context for every done callback: copying the caller's
        # context per future would cost an allocation each.
        self._context = contextvars.Context()
        loop.add_reader(self._fd, self._run)

    def _loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop_ref()

    def as_future(self, object_id: ObjectID, raw: bool) -> asyncio.Future[Any]:
        loop = self._loop()
        assert loop is not None  # called from the running loop itself
        future = loop.create_future()
        if self.native.register(object_id, future, raw):
            self._schedule(loop)
        future.add_done_callback(_Canceller(self, object_id), context=self._context)
        return future

    def cancelled(self, object_id: ObjectID) -> None:
        if not self.closed and self.native.cancel(object_id):
            loop = self._loop()
            if loop is not None:
                self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """One poll after this turn of the loop, for every registration and
        cancellation made during it."""
        if not self._poll_pending:
            self._poll_pending = True
            loop.call_soon(self._run, context=self._context)

    def _run(self) -> None:
        """The reactor says the socket is ready (or registrations wait)."""
        self._poll_pending = False
        if self.closed:
            return
        try:
            ready = self.native.poll()
        except PlasmaError as e:
            self._fail(e)
            return
        self._watch_writable()
        for data, waiters in ready:
            _resolve(data, waiters)

    def _watch_writable(self) -> None:
        loop = self._loop()
        if loop is None:
            return
        wants = self.native.wants_write()
        if wants and not self._writing:
            loop.add_writer(self._fd, self._run)
        elif not wants and self._writing:
            loop.remove_writer(self._fd)
        self._writing = wants

    def _detach(self) -> list[asyncio.Future[Any]]:
        """Stops watching the socket and takes every pending future."""
        self.closed = True
        loop = self._loop()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._fd)
            if self._writing:
                loop.remove_writer(self._fd)
        self._writing = False
        with _lock:
            if loop is not None and _watches.get(loop) is self:
                del _watches[loop]
        return self.native.close()

    def _fail(self, error: BaseException) -> None:
        """The store is gone: every pending future gets the error."""
        for future in self._detach():
            if not future.done():
                future.set_exception(error)

    def close(self) -> None:
        """Cancels every pending future and ends the watch (in the loop's
        own thread)."""
        if self.closed:
            return
        for future in self._detach():
            if not future.done():
                try:
                    future.cancel()
                except RuntimeError:  # its loop is closed already
                    pass


def _resolve(data: PlasmaBuffer, waiters: list[tuple[asyncio.Future[Any], bool]]) -> None:
    """Resolves the futures of one sealed object, decoding its value once
    for all that want the value."""
    decoded = False
    value: Any = None
    error: BaseException | None = None
    for future, raw in waiters:
        if future.done():
            continue
        if raw:
            future.set_result(data)
            continue
        if not decoded:
            decoded = True
            try:
                value = _value_of(data)
            except Exception as e:  # the object is not a value: say why
                error = e
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def _socket_from(store_socket_name: str | None) -> str:
    return store_socket_name or os.environ.get("PLASMA_STORE_SOCKET") or DEFAULT_SOCKET


def _watch() -> _LoopWatch:
    """The running loop's watch, connecting it on first use."""
    loop = asyncio.get_running_loop()
    with _lock:
        watch = _watches.get(loop)
        if watch is not None and not watch.closed:
            return watch
        name = _socket_name if _socket_name is not None else _socket_from(None)
    # Connect without holding the lock (it takes a few round trips).
    watch = _LoopWatch(loop, name)
    with _lock:
        existing = _watches.get(loop)
        if existing is not None and not existing.closed:
            # Only the loop's own thread gets here; keep the first anyway.
            watch.close()
            return existing
        _watches[loop] = watch
    return watch


def init(store_socket_name: str | None = None) -> None:
    """Chooses the store: ``store_socket_name``, else the environment
    variable ``PLASMA_STORE_SOCKET``, else ``/tmp/plasma.sock``. Called in a
    running event loop, also connects that loop now (raising
    :class:`~plasma_store.PlasmaConnectionError` if the store cannot be
    reached); otherwise each loop connects on its first use."""
    global _socket_name
    with _lock:
        _socket_name = _socket_from(store_socket_name)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    _watch()


def as_future(object_id: ObjectID, *, raw: bool = False) -> asyncio.Future[Any]:
    """An asyncio future, in the running loop, that resolves when anyone in
    any process seals ``object_id`` (at once if it is sealed already): to
    the object's value as :meth:`PlasmaClient.get
    <plasma_store.PlasmaClient.get>` returns it, or with ``raw=True`` to its
    data as a zero-copy :class:`~plasma_store.PlasmaBuffer` (for objects
    written by other languages). Cancelling the future stops the wait."""
    if not isinstance(object_id, ObjectID):
        raise TypeError(f"expected ObjectID, got {type(object_id).__name__}")
    return _watch().as_future(object_id, raw)


async def wait(
    object_ids: Iterable[ObjectID], num_returns: int = 1, timeout: float | None = None
) -> tuple[list[ObjectID], list[ObjectID]]:
    """Waits until ``num_returns`` of ``object_ids`` are sealed, or
    ``timeout`` seconds pass; returns ``(ready, not_ready)`` as ``ray.wait``
    does: at most ``num_returns`` ready ids, and the others, each list in
    the order given."""
    ids = list(object_ids)
    if not 0 <= num_returns <= len(ids):
        raise ValueError(f"num_returns must be between 0 and {len(ids)}, got {num_returns}")
    futures = [as_future(oid, raw=True) for oid in ids]
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    try:
        pending = set(futures)
        while pending and len(futures) - len(pending) < num_returns:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                break
            _, pending = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        ready: list[ObjectID] = []
        not_ready: list[ObjectID] = []
        for oid, future in zip(ids, futures):
            if future.done() and not future.cancelled() and len(ready) < num_returns:
                ready.append(oid)
            else:
                not_ready.append(oid)
        return ready, not_ready
    finally:
        for future in futures:
            future.cancel()


def shutdown() -> None:
    """Cancels every pending future (of every loop) and closes the
    connections. A later call initialises again, with the same socket."""
    with _lock:
        watches = list(_watches.items())
        _watches.clear()
    try:
        current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    for loop, watch in watches:
        if loop is current or loop.is_closed() or not loop.is_running():
            watch.close()
        else:
            try:
                loop.call_soon_threadsafe(watch.close)
            except RuntimeError:  # closed meanwhile
                watch.close()
