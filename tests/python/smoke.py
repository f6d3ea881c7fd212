"""Smoke test: pyarrow 11's own Plasma client against a running store.

Usage: python smoke.py SOCKET [CAPACITY]

Connects two clients, subscribes, stores one raw buffer with metadata
through one client, reads it back through the other, and checks contains,
list, store_capacity and the seal notification. Prints "smoke ok" and
exits 0 on success; any failed check raises (non-zero exit, traceback).
"""

import os
import sys
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)

import pyarrow.plasma as plasma  # noqa: E402


def main():
    socket_path = sys.argv[1]
    capacity = int(sys.argv[2]) if len(sys.argv) > 2 else None

    writer = plasma.connect(socket_path)
    reader = plasma.connect(socket_path)
    if capacity is not None:
        got = writer.store_capacity()
        assert got == capacity, "store_capacity() = %d, want %d" % (got, capacity)

    reader.subscribe()

    data = bytes((i * 7 + 3) % 251 for i in range(100_000))
    meta = b"smoke-meta"
    object_id = plasma.ObjectID(os.urandom(20))
    assert not reader.contains(object_id)

    returned = writer.put_raw_buffer(data, object_id=object_id, metadata=meta)
    assert returned == object_id

    got_id, data_size, meta_size = reader.get_next_notification()
    assert got_id == object_id, (got_id, object_id)
    assert (data_size, meta_size) == (len(data), len(meta)), (data_size, meta_size)

    assert reader.contains(object_id)
    [(got_meta, buf)] = reader.get_buffers([object_id], timeout_ms=1000, with_meta=True)
    assert buf is not None, "get_buffers returned None for a sealed object"
    assert got_meta == meta, got_meta
    assert buf.to_pybytes() == data, "data read back differs"

    missing = plasma.ObjectID(os.urandom(20))
    assert reader.get_buffers([missing], timeout_ms=0) == [None]
    assert not reader.contains(missing)

    listing = writer.list()
    assert object_id in listing, listing
    entry = listing[object_id]
    assert entry["data_size"] == len(data), entry
    assert entry["metadata_size"] == len(meta), entry
    assert entry["state"] == "sealed", entry
    assert entry["ref_count"] == 1, entry  # the reader still holds it

    del buf
    writer.disconnect()
    reader.disconnect()
    print("smoke ok")


if __name__ == "__main__":
    main()
