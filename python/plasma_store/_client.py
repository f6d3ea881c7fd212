"""The blocking client, with pyarrow.plasma 11's names and behaviour."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from . import _values
from ._errors import PlasmaFormatError
from ._native import NativeClient, ObjectID, PlasmaBuffer
from ._native import decode_notifications as _decode_notifications

__all__ = ["ObjectNotAvailable", "PlasmaClient", "connect"]

# Values at most this large are put with one request carrying the bytes
# (create-and-seal); larger ones are created, copied in place, sealed.
_INLINE_PUT = 64 * 1024


class ObjectNotAvailable:
    """Placeholder ``get`` returns for an object that was not available
    within the timeout (the class itself, as in pyarrow.plasma)."""


def _ids(object_ids: Sequence[ObjectID]) -> list[ObjectID]:
    ids = list(object_ids)
    for oid in ids:
        if not isinstance(oid, ObjectID):
            raise TypeError(f"expected ObjectID, got {type(oid).__name__}")
    return ids


class PlasmaClient:
    """A connection to a plasma store (ours, or Arrow Plasma 11's), made by
    :func:`connect`.

    Safe to share between threads: a call that waits (a get, a copy)
    releases the GIL and never holds up other threads' calls. Buffers keep
    their objects held until their last reference is gone, even after
    :meth:`disconnect`.
    """

    __slots__ = ("_native", "_arrow")

    def __init__(self, native: NativeClient, arrow_buffers: bool = False) -> None:
        self._native = native
        self._arrow: Any = None
        if arrow_buffers:
            import pyarrow  # only when asked for

            self._arrow = pyarrow

    def _wrap(self, buf: PlasmaBuffer | None) -> Any:
        if buf is None or self._arrow is None:
            return buf
        return self._arrow.py_buffer(buf)

    @property
    def store_socket_name(self) -> str:
        """The socket path this client connected to."""
        return self._native.store_socket_name

    def store_capacity(self) -> int:
        """The store's capacity in bytes (its ``-m``)."""
        return self._native.store_capacity()

    def create(self, object_id: ObjectID, data_size: int, metadata: bytes = b"") -> Any:
        """Creates an object of ``data_size`` bytes plus ``metadata`` and
        returns its data as a writable :class:`PlasmaBuffer`, to fill in
        place and then :meth:`seal`. The store evicts released objects if
        it needs room. Until sealed or aborted the object stays held by
        this client, whether or not the buffer is kept.

        Raises :class:`PlasmaObjectExists` if the id is taken,
        :class:`PlasmaStoreFull` if no room can be made.
        """
        return self._wrap(self._native.create(object_id, data_size, metadata))

    def create_and_seal(self, object_id: ObjectID, data: Any, metadata: Any = b"") -> None:
        """Creates and seals an object holding ``data`` and ``metadata``
        (bytes-like) in one step; the object is not held afterwards."""
        self._native.create_and_seal(object_id, data, metadata)

    def seal(self, object_id: ObjectID) -> None:
        """Seals an object this client created: it becomes visible to every
        client, and read-only. Raises :class:`PlasmaObjectAlreadySealed` if
        sealed already, :class:`PlasmaObjectNotFound` if this client did not
        create it."""
        self._native.seal(object_id)

    def abort(self, object_id: ObjectID) -> None:
        """Discards an object this client created and has not sealed. Views
        of its buffer (memoryviews, arrays) must be gone first."""
        self._native.abort(object_id)

    def get_buffers(
        self, object_ids: Sequence[ObjectID], timeout_ms: int = -1, with_meta: bool = False
    ) -> list[Any]:
        """The data buffers of ``object_ids`` (read-only, zero-copy),
        waiting up to ``timeout_ms`` (-1: as long as it takes, 0: not at
        all) for those not sealed yet; ``None`` for an object still missing.
        With ``with_meta``, ``(metadata bytes, data buffer)`` pairs, and
        ``(None, None)`` for a missing object."""
        found = self._native.get_buffers(_ids(object_ids), timeout_ms)
        if not with_meta:
            return [self._wrap(f) for f in found] if self._arrow is not None else found
        return [(None, None) if f is None else (f.metadata().to_pybytes(), self._wrap(f)) for f in found]

    def get_metadata(self, object_ids: Sequence[ObjectID], timeout_ms: int = -1) -> list[Any]:
        """The metadata buffers of ``object_ids``, as :meth:`get_buffers`
        returns data buffers."""
        found = self._native.get_buffers(_ids(object_ids), timeout_ms)
        return [None if f is None else self._wrap(f.metadata()) for f in found]

    def put_raw_buffer(
        self,
        value: Any,
        object_id: ObjectID | None = None,
        metadata: bytes = b"",
        memcopy_threads: int = 6,
    ) -> ObjectID:
        """Stores the bytes of ``value`` (any buffer-protocol object) as a
        new sealed object and returns its id. ``memcopy_threads`` is
        accepted for pyarrow's sake; the copy is the Rust client's."""
        target = object_id if object_id is not None else ObjectID.from_random()
        size = memoryview(value).nbytes
        if size <= _INLINE_PUT:
            self._native.create_and_seal(target, value, metadata)
        else:
            buf = self._native.create(target, size, metadata)
            self._native.write_parts(buf, [(0, value)])
            del buf
            self._native.seal(target)
        return target

    def put(
        self,
        value: Any,
        object_id: ObjectID | None = None,
        memcopy_threads: int = 6,
        serialization_context: Any = None,
    ) -> ObjectID:
        """Stores a Python value as a new sealed object and returns its id.

        The value is pickled (protocol 5); buffers it exposes (numpy
        arrays, bytes, ...) are copied once, straight into shared memory
        (``docs/value-format.md``). ``memcopy_threads`` is accepted for
        pyarrow's sake; ``serialization_context`` (pyarrow's removed
        serialization) is not supported: use pickle's own hooks.
        """
        if serialization_context is not None:
            raise TypeError(
                "serialization_context belongs to pyarrow's removed serialization; "
                "plasma_store pickles values (customise with copyreg or __reduce__)"
            )
        target = object_id if object_id is not None else ObjectID.from_random()
        laid = _values.layout(value)
        if laid.size <= _INLINE_PUT:
            self._native.create_and_seal(target, laid.to_bytes(), _values.METADATA)
        else:
            buf = self._native.create(target, laid.size, _values.METADATA)
            self._native.write_parts(buf, laid.parts)
            del buf
            self._native.seal(target)
        return target

    def get(
        self,
        object_ids: ObjectID | Sequence[ObjectID],
        timeout_ms: int = -1,
        serialization_context: Any = None,
    ) -> Any:
        """The value of one object (given an :class:`ObjectID`) or a list
        of values (given a list), waiting up to ``timeout_ms`` (-1: as long
        as it takes); :class:`ObjectNotAvailable` for an object still
        missing. Arrays come back as read-only views of the store's memory
        and keep their object held while they live.

        Raises :class:`PlasmaFormatError` for an object not written by
        :meth:`put`.
        """
        if serialization_context is not None:
            raise TypeError(
                "serialization_context belongs to pyarrow's removed serialization; "
                "plasma_store pickles values"
            )
        if isinstance(object_ids, ObjectID):
            return self.get([object_ids], timeout_ms)[0]
        found = self._native.get_buffers(_ids(object_ids), timeout_ms)
        return [ObjectNotAvailable if f is None else _value_of(f) for f in found]

    def contains(self, object_id: ObjectID) -> bool:
        """Whether the store holds a sealed object with this id."""
        return self._native.contains(object_id)

    def hash(self, object_id: ObjectID) -> bytes:
        """The object's 8-byte digest (CRC-32 of data then metadata, as this
        client sends at seal time). Raises :class:`PlasmaObjectNotFound` if
        the object is not sealed in the store."""
        return self._native.hash(object_id)

    def evict(self, num_bytes: int) -> int:
        """Asks the store to evict released objects, least recently used
        first, until ``num_bytes`` are freed; returns the bytes freed."""
        return self._native.evict(num_bytes)

    def delete(self, object_ids: Sequence[ObjectID]) -> None:
        """Deletes objects; one held by someone, or not sealed yet, is
        deleted when that ends."""
        self._native.delete(_ids(object_ids))

    def list(self) -> dict[ObjectID, dict[str, Any]]:
        """Every object in the store: ``{id: {"data_size", "metadata_size",
        "ref_count", "create_time", "construct_duration", "state"}}``, with
        times in whole seconds and ``state`` ``"created"`` or ``"sealed"``."""
        return {
            oid: {
                "data_size": data_size,
                "metadata_size": metadata_size,
                "ref_count": ref_count,
                "create_time": create_time,
                "construct_duration": construct_duration,
                "state": "sealed" if sealed else "created",
            }
            for oid, data_size, metadata_size, ref_count, create_time, construct_duration, sealed in self._native.list()
        }

    def debug_string(self) -> str:
        """The store's description of its state, for people."""
        return self._native.debug_string()

    def set_client_options(self, client_name: str, limit_output_memory: int) -> None:
        """Names this client and asks for an output memory quota of
        ``limit_output_memory`` bytes (objects it creates are evicted from
        its quota first). Raises :class:`PlasmaStoreFull` if refused."""
        self._native.set_client_options(client_name, limit_output_memory)

    def subscribe(self) -> None:
        """Subscribes to notifications of every seal and deletion; read
        them with :meth:`get_next_notification` (or from
        :meth:`get_notification_socket`)."""
        self._native.subscribe()

    def get_notification_socket(self) -> socket.socket:
        """The notification socket (a duplicate descriptor): 8-byte
        little-endian lengths, each followed by that many bytes to pass to
        :meth:`decode_notifications`."""
        return socket.socket(fileno=os.dup(self._native.notification_fd()))

    @staticmethod
    def decode_notifications(buf: Any) -> tuple[list[ObjectID], list[int], list[int]]:
        """Decodes one notification message (without its length): ids,
        data sizes, metadata sizes (-1 and -1 for a deletion)."""
        return _decode_notifications(buf)

    def get_next_notification(self) -> tuple[ObjectID, int, int]:
        """Waits for the next notification: ``(id, data size, metadata
        size)``; the sizes are -1 for a deletion."""
        return self._native.get_next_notification()

    def disconnect(self) -> None:
        """Closes the connection. Buffers still alive keep their objects
        held (and their connection open) until they are gone; unsealed
        objects nobody refers to are aborted."""
        self._native.disconnect()

    def __repr__(self) -> str:
        return f"PlasmaClient({self.store_socket_name!r})"


def _value_of(data: PlasmaBuffer) -> Any:
    """The value in an object ``put`` wrote (given its data buffer)."""
    meta = memoryview(data.metadata())
    if not _values.is_value(meta):
        raise PlasmaFormatError(
            f"object {data.object_id.hex()} was not written by put() "
            f"(metadata {bytes(meta[:32])!r}); read it with get_buffers()"
        )
    return _values.deserialize(data)


def connect(store_socket_name: str, num_retries: int = -1, *, arrow_buffers: bool = False) -> PlasmaClient:
    """Connects to the store listening at ``store_socket_name``, retrying
    ``num_retries`` times (-1: the default, 50, 100 ms apart) while it is
    not there yet. Raises :class:`PlasmaConnectionError` (an ``OSError``)
    if it cannot.

    With ``arrow_buffers=True`` (needs pyarrow) buffers come back as
    ``pyarrow.Buffer`` objects wrapping ours, zero-copy, as pyarrow.plasma
    returned them: for pyarrow APIs that accept nothing else
    (``pyarrow.FixedSizeBufferWriter``, ``pyarrow.ipc`` readers).
    """
    return PlasmaClient(NativeClient(store_socket_name, num_retries), arrow_buffers)
