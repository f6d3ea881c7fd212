"""Work done in other processes by the tests (importable by name, so it
runs under any multiprocessing start method)."""

from __future__ import annotations

import time

import plasma_store


def put_after(socket_path: str, object_id: plasma_store.ObjectID, value: object, delay_s: float) -> None:
    """Connects, waits ``delay_s``, puts ``value`` as ``object_id``."""
    client = plasma_store.connect(socket_path)
    time.sleep(delay_s)
    client.put(value, object_id)


def seal_raw(socket_path: str, object_ids: list[plasma_store.ObjectID], data: bytes) -> None:
    """Creates and seals each id with ``data``, in order."""
    client = plasma_store.connect(socket_path)
    for oid in object_ids:
        client.create_and_seal(oid, data, b"")


def use_inherited(client: plasma_store.PlasmaClient, buffers: list[object]) -> str:
    """In a forked child: drops the inherited buffers (must not release the
    parent's holds) and tries the inherited client (must refuse)."""
    buffers.clear()
    import gc

    gc.collect()
    try:
        client.contains(plasma_store.ObjectID.from_random())
    except plasma_store.PlasmaError as e:
        return f"refused: {e}"
    return "used the parent's connection"
