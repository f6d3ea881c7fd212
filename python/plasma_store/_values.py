"""The value format of ``put`` and ``get``: pickle protocol 5 with
out-of-band buffers laid out in the object, so large buffers (numpy
arrays, bytes) are copied once, straight into shared memory, and come back
as read-only views of it.

The layout is documented for other languages in ``docs/value-format.md``;
this module is its one implementation in the package.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any, Callable

__all__ = ["METADATA", "Layout", "layout", "deserialize", "is_value"]

#: The metadata of every object ``put`` writes.
METADATA = b"plasma-store/pickle5"

_MAGIC = b"PKL5"
_VERSION = 1
# magic, version, pickle length, buffer count
_HEADER = struct.Struct("<4sIQQ")
# offset, length of one out-of-band buffer (from the start of the data)
_ENTRY = struct.Struct("<QQ")
# Out-of-band buffers start at multiples of this (the store aligns the
# data itself to 64 bytes), so arrays come back aligned.
ALIGN = 64


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class Layout:
    """A value serialized, not yet written: its total size and the
    ``(offset, bytes-like)`` parts that make up the object's data."""

    __slots__ = ("size", "parts")

    def __init__(self, size: int, parts: list[tuple[int, Any]]) -> None:
        self.size = size
        self.parts = parts

    def to_bytes(self) -> bytes:
        """The whole data as one bytes object (for small values)."""
        out = bytearray(self.size)
        for offset, part in self.parts:
            view = memoryview(part).cast("B")
            out[offset : offset + view.nbytes] = view
        return bytes(out)


def layout(value: Any) -> Layout:
    """Serializes ``value`` with pickle protocol 5; every contiguous buffer
    it exposes (PEP 574) goes out of band, at a 64-byte aligned offset."""
    raws: list[memoryview] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            raws.append(buffer.raw())
        except BufferError:  # not contiguous: keep it in the pickle stream
            return True
        return False

    pickled = pickle.dumps(value, protocol=5, buffer_callback=out_of_band)
    table_end = _HEADER.size + _ENTRY.size * len(raws)
    end = table_end + len(pickled)
    entries = []
    parts: list[tuple[int, Any]] = []
    for raw in raws:
        offset = _align(end)
        entries.append((offset, raw.nbytes))
        parts.append((offset, raw))
        end = offset + raw.nbytes
    header = bytearray(_HEADER.pack(_MAGIC, _VERSION, len(pickled), len(raws)))
    for entry in entries:
        header += _ENTRY.pack(*entry)
    return Layout(end, [(0, header), (table_end, pickled), *parts])


def is_value(metadata: bytes | memoryview) -> bool:
    """Whether an object with this metadata was written by ``put``."""
    return bytes(metadata) == METADATA


def deserialize(data: Any, loads: Callable[..., Any] = pickle.loads) -> Any:
    """The value in ``data`` (an object's data buffer, written by ``put``).
    Out-of-band buffers are handed to pickle as read-only memoryviews of
    ``data``: arrays built on them share the store's memory, and keep the
    object held while they live."""
    view = memoryview(data)
    if view.nbytes < _HEADER.size:
        raise ValueError("object too short for the value header")
    magic, version, pickle_len, count = _HEADER.unpack_from(view, 0)
    if magic != _MAGIC or version != _VERSION:
        raise ValueError(f"unknown value header {magic!r} version {version}")
    table_end = _HEADER.size + _ENTRY.size * count
    if table_end + pickle_len > view.nbytes:
        raise ValueError("value header points past the object's end")
    buffers = []
    for i in range(count):
        offset, length = _ENTRY.unpack_from(view, _HEADER.size + _ENTRY.size * i)
        if offset + length > view.nbytes:
            raise ValueError("out-of-band buffer points past the object's end")
        buffers.append(view[offset : offset + length])
    return loads(view[table_end : table_end + pickle_len], buffers=buffers)
