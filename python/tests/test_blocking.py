"""The blocking client: pyarrow.plasma's API over our store, zero-copy."""

from __future__ import annotations

import multiprocessing
import pickle
import struct
import threading
import time

import numpy as np
import pytest

import plasma_store
from plasma_store import ObjectID

import producers


def ref_count(client: plasma_store.PlasmaClient, oid: ObjectID) -> int:
    return client.list()[oid]["ref_count"]


def test_a_created_object_is_writable_until_sealed_then_read_only(client):
    oid = ObjectID.from_random()
    buf = client.create(oid, 5, b"meta")
    assert buf.is_mutable and len(buf) == 5
    memoryview(buf)[:] = b"hello"
    client.seal(oid)
    assert not buf.is_mutable
    assert memoryview(buf).readonly, "a view taken after the seal is read-only"
    with pytest.raises(TypeError):
        memoryview(buf)[0] = 1
    with pytest.raises(ValueError, match="read-only"):
        np.frombuffer(buf, dtype=np.uint8)[0] = 1
    [(meta, data)] = client.get_buffers([oid], with_meta=True)
    assert meta == b"meta" and data.to_pybytes() == b"hello"
    assert memoryview(data).readonly
    assert client.get_metadata([oid])[0].to_pybytes() == b"meta"
    assert data.metadata().to_pybytes() == b"meta" and data.metadata().object_id == oid


def test_values_round_trip_and_arrays_come_back_as_read_only_views(client):
    array = np.arange(1_000_000, dtype=np.float64)
    value = {"array": array, "text": "hello", "n": [1, 2.5, None]}
    oid = client.put(value)
    got = client.get(oid)
    assert got["text"] == "hello" and got["n"] == [1, 2.5, None]
    np.testing.assert_array_equal(got["array"], array)
    assert not got["array"].flags.writeable, "a view of shared memory, not a copy"
    # The object is exactly the pickle plus the array, 64-byte aligned.
    info = client.list()[oid]
    assert array.nbytes < info["data_size"] < array.nbytes + 1024
    assert ref_count(client, oid) == 1, "the array keeps the object held"
    del got
    assert ref_count(client, oid) == 0
    [missing] = client.get([ObjectID.from_random()], timeout_ms=0)
    assert missing is plasma_store.ObjectNotAvailable


def test_the_value_layout_is_the_documented_one(client):
    array = np.arange(10, dtype=np.int32)
    oid = client.put(array)
    [(meta, data)] = client.get_buffers([oid], with_meta=True)
    assert meta == b"plasma-store/pickle5"
    raw = data.to_pybytes()
    magic, version, pickle_len, count = struct.unpack_from("<4sIQQ", raw, 0)
    assert (magic, version, count) == (b"PKL5", 1, 1)
    offset, length = struct.unpack_from("<QQ", raw, 24)
    assert offset % 64 == 0 and length == array.nbytes
    pickled = raw[24 + 16 : 24 + 16 + pickle_len]
    again = pickle.loads(pickled, buffers=[raw[offset : offset + length]])
    np.testing.assert_array_equal(again, array)


def test_an_object_stays_held_until_the_last_view_is_gone(client):
    oid = ObjectID.from_random()
    client.create_and_seal(oid, b"x" * 100, b"")
    [buf] = client.get_buffers([oid])
    view = memoryview(buf)[10:20]
    array = np.frombuffer(buf, dtype=np.uint8)
    del buf
    assert ref_count(client, oid) == 1
    del view
    assert ref_count(client, oid) == 1
    del array
    assert ref_count(client, oid) == 0
    assert client.evict(100) == 100


def test_a_buffer_dropped_on_another_thread_releases_its_object(client):
    oid = ObjectID.from_random()
    client.create_and_seal(oid, b"payload", b"")
    holder = client.get_buffers([oid])
    assert ref_count(client, oid) == 1
    thread = threading.Thread(target=holder.clear)
    thread.start()
    thread.join()
    assert ref_count(client, oid) == 0


def test_a_waiting_get_in_one_thread_does_not_hold_up_other_threads(client):
    oid = ObjectID.from_random()
    got = []
    waiter = threading.Thread(target=lambda: got.append(client.get(oid)))
    waiter.start()
    time.sleep(0.05)
    # The waiting thread released the GIL and its connection is its own.
    other = ObjectID.from_random()
    client.put("other", other)
    assert client.get(other) == "other"
    assert waiter.is_alive()
    client.put("finally", oid)
    waiter.join(10)
    assert got == ["finally"]


def test_get_waits_up_to_its_timeout_and_returns_none_for_what_is_missing(client):
    present = ObjectID.from_random()
    client.create_and_seal(present, b"here", b"")
    started = time.monotonic()
    found = client.get_buffers([present, ObjectID.from_random()], timeout_ms=100)
    assert time.monotonic() - started >= 0.09
    assert found[0].to_pybytes() == b"here" and found[1] is None
    assert client.get_buffers([ObjectID.from_random()], timeout_ms=0, with_meta=True) == [(None, None)]


def test_errors_say_what_went_wrong_with_pyarrows_names(client):
    oid = ObjectID.from_random()
    buf = client.create(oid, 10)
    with pytest.raises(plasma_store.PlasmaObjectExists):
        client.create(oid, 10)
    client.seal(oid)
    with pytest.raises(plasma_store.PlasmaObjectAlreadySealed):
        client.seal(oid)  # while this client still refers to it, as pyarrow
    del buf
    with pytest.raises(plasma_store.PlasmaObjectNotFound):
        client.seal(ObjectID.from_random())
    with pytest.raises(plasma_store.PlasmaObjectNotFound):
        client.hash(ObjectID.from_random())
    with pytest.raises(plasma_store.PlasmaStoreFull):
        client.create(ObjectID.from_random(), client.store_capacity() + 1)
    with pytest.raises(plasma_store.PlasmaFormatError):
        client.get(client.put_raw_buffer(b"raw bytes"))
    for cls in (plasma_store.PlasmaObjectExists, plasma_store.PlasmaStoreFull, plasma_store.PlasmaConnectionError):
        assert issubclass(cls, plasma_store.PlasmaError)
    with pytest.raises(OSError):
        plasma_store.connect("/nonexistent/plasma.sock", num_retries=1)
    with pytest.raises(ValueError):
        ObjectID(b"too short")


def test_object_ids_are_values(client):
    a = ObjectID(b"a" * 20)
    assert a == ObjectID(b"a" * 20) and a != ObjectID(b"b" * 20) and a != "a" * 20
    assert {a: 1}[ObjectID(b"a" * 20)] == 1
    assert pickle.loads(pickle.dumps(a)) == a
    assert a.binary() == b"a" * 20 and repr(a) == f"ObjectID({'61' * 20})"
    assert ObjectID.from_random() != ObjectID.from_random()


def test_abort_refuses_while_views_of_the_buffer_live(client):
    oid = ObjectID.from_random()
    view = memoryview(client.create(oid, 8))
    with pytest.raises(plasma_store.PlasmaError, match="view"):
        client.abort(oid)
    view.release()
    client.abort(oid)
    client.create_and_seal(oid, b"again", b"")  # the id is free again
    assert client.contains(oid)


def test_zero_length_objects_and_large_raw_buffers(client):
    empty = client.put_raw_buffer(b"")
    assert client.get_buffers([empty])[0].to_pybytes() == b""
    big = np.random.default_rng(1).integers(0, 255, 10_000_000, dtype=np.uint8)
    oid = client.put_raw_buffer(big, metadata=b"RAW")
    [(meta, data)] = client.get_buffers([oid], with_meta=True)
    assert meta == b"RAW"
    np.testing.assert_array_equal(np.frombuffer(data, dtype=np.uint8), big)


def test_notifications_report_seals_and_deletions(store, client):
    client.subscribe()
    raw_reader = plasma_store.connect(store)
    raw_reader.subscribe()
    sock = raw_reader.get_notification_socket()
    oid = ObjectID.from_random()
    client.create_and_seal(oid, b"abc", b"de")
    assert client.get_next_notification() == (oid, 3, 2)
    (length,) = struct.unpack("<Q", sock.recv(8))
    assert raw_reader.decode_notifications(sock.recv(length)) == ([oid], [3], [2])
    assert client.evict(5) == 5
    assert client.get_next_notification() == (oid, -1, -1)


def test_list_debug_string_and_client_options(client):
    oid = ObjectID.from_random()
    client.create(oid, 11, b"1234567")
    info = client.list()[oid]
    assert (info["data_size"], info["metadata_size"], info["state"]) == (11, 7, "created")
    assert abs(info["create_time"] - time.time()) < 5
    assert "plasma-store extensions: await" in client.debug_string()
    client.set_client_options("tests", 1_000_000)
    with pytest.raises(plasma_store.PlasmaStoreFull):
        client.set_client_options("tests", 1_000_000)  # granted once per client


def _child(client, buffers, out):
    out.put(producers.use_inherited(client, buffers))


def test_a_forked_child_cannot_touch_its_parents_connection(client):
    oid = ObjectID.from_random()
    client.create_and_seal(oid, b"held", b"")
    buffers = client.get_buffers([oid])
    ctx = multiprocessing.get_context("fork")
    out = ctx.SimpleQueue()
    child = ctx.Process(target=_child, args=(client, buffers, out))
    child.start()
    said = out.get()
    child.join(10)
    assert said.startswith("refused"), said
    assert ref_count(client, oid) == 1, "the child's drop did not release our hold"
    del buffers
    assert ref_count(client, oid) == 0
