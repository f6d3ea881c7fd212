"""asyncio: an object id as a future, on asyncio's loop and on uvloop
(the ``run`` fixture), against our store and Arrow Plasma 11's."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import plasma_store
from plasma_store import ObjectID, async_api

import producers


def test_future_resolves_when_another_process_seals(any_store, run):
    async def main():
        async_api.init(any_store)
        ids = [ObjectID.from_random() for _ in range(4)]
        futures = [async_api.as_future(oid) for oid in ids]
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(4) as pool:
            puts = [
                loop.run_in_executor(pool, producers.put_after, any_store, oid, {"key1": [i]}, 0.2)
                for i, oid in enumerate(ids)
            ]
            values = await asyncio.wait_for(asyncio.gather(*futures), 30)
            await asyncio.gather(*puts)
        assert values == [{"key1": [i]} for i in range(4)]

    run(main())


def test_futures_resolve_once_each_for_sealed_many_waiters_and_empty_objects(any_store, run):
    client = plasma_store.connect(any_store)
    before = client.put("sealed before the call")
    empty = ObjectID.from_random()
    later = ObjectID.from_random()

    async def main():
        async_api.init(any_store)
        early = async_api.as_future(before)
        many = [async_api.as_future(later) for _ in range(50)]
        nothing = async_api.as_future(empty, raw=True)
        assert await asyncio.wait_for(early, 10) == "sealed before the call"
        client.put(np.arange(5), later)
        client.create_and_seal(empty, b"", b"")
        got = await asyncio.wait_for(asyncio.gather(*many), 10)
        assert all((g == np.arange(5)).all() for g in got)
        assert got[0] is got[1], "one value decoded for every future of the id"
        assert len(await nothing) == 0
        # Nothing is delivered twice: a new future of a sealed id resolves
        # by itself, and the old ones stay as they were.
        again = await asyncio.wait_for(async_api.as_future(later), 10)
        assert (again == np.arange(5)).all()

    run(main())


def test_a_raw_future_resolves_to_the_zero_copy_buffer(store, run):
    client = plasma_store.connect(store)
    oid = ObjectID.from_random()

    async def main():
        async_api.init(store)
        future = async_api.as_future(oid, raw=True)
        client.create_and_seal(oid, b"written by anyone", b"other language")
        buf = await asyncio.wait_for(future, 10)
        assert isinstance(buf, plasma_store.PlasmaBuffer)
        assert bytes(memoryview(buf)) == b"written by anyone"
        assert client.list()[oid]["ref_count"] == 1, "held while the buffer lives"
        del buf, future
        for _ in range(100):
            if client.list()[oid]["ref_count"] == 0:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the buffer's release never reached the store")

    run(main())


def test_cancelling_a_future_forgets_its_waiter(any_store, run):
    client = plasma_store.connect(any_store)
    oid = ObjectID.from_random()
    probe = client.put("probe")

    async def main():
        async_api.init(any_store)
        future = async_api.as_future(oid)
        kept = async_api.as_future(ObjectID.from_random())
        await asyncio.sleep(0)
        future.cancel()
        for _ in range(3):  # the done callback, then the poll it schedules
            await asyncio.sleep(0)
        # A later future on the same connection: once it resolves, the
        # store has handled everything the cancellation sent before it.
        assert await asyncio.wait_for(async_api.as_future(probe), 10) == "probe"
        watch = async_api._watches[asyncio.get_running_loop()]
        assert len(watch.native) == 1, "only the kept future's id is still awaited"
        client.put("unwanted", oid)
        client.put("probe 2", probe2 := ObjectID.from_random())
        assert await asyncio.wait_for(async_api.as_future(probe2), 10) == "probe 2"
        assert client.list()[oid]["ref_count"] == 0, "nobody took a hold for the cancelled future"
        assert not kept.done()

    run(main())


def test_wait_returns_the_ready_and_the_not_ready_ids(store, run):
    client = plasma_store.connect(store)
    ids = [ObjectID.from_random() for _ in range(4)]
    client.put(1, ids[1])
    client.put(3, ids[3])

    async def main():
        ready, not_ready = await async_api.wait(ids, num_returns=1)
        assert (ready, not_ready) == ([ids[1]], [ids[0], ids[2], ids[3]])
        ready, not_ready = await async_api.wait(ids, num_returns=3, timeout=0.1)
        assert (ready, not_ready) == ([ids[1], ids[3]], [ids[0], ids[2]])
        with pytest.raises(ValueError):
            await async_api.wait(ids, num_returns=5)

    async_api.init(store)
    run(main())


def test_shutdown_cancels_every_pending_future_and_a_later_call_reconnects(store, run):
    client = plasma_store.connect(store)

    async def main():
        async_api.init(store)
        futures = [async_api.as_future(ObjectID.from_random()) for _ in range(10)]
        await asyncio.sleep(0.01)
        async_api.shutdown()
        await asyncio.sleep(0)
        assert all(f.cancelled() for f in futures)
        oid = client.put("after shutdown")
        assert await asyncio.wait_for(async_api.as_future(oid), 10) == "after shutdown"

    run(main())


def test_store_death_fails_every_pending_future_at_once(run):
    async def main():
        with plasma_store.start_plasma_store(50_000_000) as (sock, proc):
            async_api.init(sock)
            futures = [async_api.as_future(ObjectID.from_random()) for _ in range(1000)]
            await asyncio.sleep(0.05)
            proc.kill()
            done, pending = await asyncio.wait(futures, timeout=10)
            assert not pending
            for f in done:
                with pytest.raises(plasma_store.PlasmaConnectionError):
                    f.result()

    run(main())


def test_loops_in_several_threads_each_resolve_their_own_futures(store):
    client = plasma_store.connect(store)
    async_api.init(store)
    ids = [ObjectID.from_random() for _ in range(3)]
    results: dict[int, object] = {}

    def thread(i: int) -> None:
        async def main():
            return await asyncio.wait_for(async_api.as_future(ids[i]), 20)

        results[i] = asyncio.run(main())

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    for i, oid in enumerate(ids):
        client.put(f"value {i}", oid)
    for t in threads:
        t.join(30)
    assert results == {i: f"value {i}" for i in range(3)}
    async_api.shutdown()


def test_a_hundred_thousand_futures_can_wait_at_once(store, run):
    client = plasma_store.connect(store)
    ids = [ObjectID.from_random() for _ in range(100_000)]

    async def main():
        async_api.init(store)
        futures = [async_api.as_future(oid, raw=True) for oid in ids]
        await asyncio.sleep(0.1)
        for oid in ids[::1000]:
            client.create_and_seal(oid, b"x", b"")
        sealed = futures[::1000]
        got = await asyncio.wait_for(asyncio.gather(*sealed), 30)
        assert len(got) == 100
        assert sum(not f.done() for f in futures) == 100_000 - 100
        async_api.shutdown()
        await asyncio.sleep(0)
        assert all(f.done() for f in futures)

    run(main())
